/**
 * The fleet: each worker's heartbeat in the RUNNER_WORKERS_BUCKET (an entry per worker that
 * expires after three missed beats; `altlas workers` and the dashboard list them), and the cancel
 * requests operators write into the status bucket (`altlas cancel`), which every worker watches.
 */
import type { KV } from '@nats-io/kv';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { subjectToken } from '../contract/subjects.ts';
import { cancelKey } from './status.ts';
import { watchBucket } from './store-access.ts';

export interface WorkerBeat {
  worker_id: string;
  host: string;
  pid: number;
  version: string;
  started_at: string;
  seen_at: string;
  concurrency: number;
  /** True while an operator's pause or drain keeps the worker from taking new work. */
  paused?: boolean;
  in_flight: number;
  processed: number;
  waiting_for_ai: number;
  breaker: string;
  stream: string;
  consumer: string;
  /** Milliseconds between this worker's heartbeats (RUNNER_HEARTBEAT_MS): its heartbeat is live while younger than two of them. */
  heartbeat_ms?: number;
  /** The last concurrency request (`altlas workers set`) the worker applied: the request's id, and its concurrency before it. */
  concurrency_applied?: { request: string; was: number };
}

/** Heartbeat intervals a worker may miss before the commands stop counting it as live (the bucket forgets it after three). */
export const LIVE_BEATS = 2;

/** True while a heartbeat is younger than {@link LIVE_BEATS} of its intervals (`fallbackMs` for a heartbeat that does not give its own). */
export const isLive = (w: WorkerBeat, fallbackMs: number, now = Date.now()): boolean => now - Date.parse(w.seen_at) <= LIVE_BEATS * (w.heartbeat_ms ?? fallbackMs);

/** A heartbeat as readers use it (a value of another shape in the bucket is skipped). */
export const isHeartbeat = (w: unknown): w is WorkerBeat => typeof w === 'object' && w !== null && typeof (w as WorkerBeat).worker_id === 'string' && typeof (w as WorkerBeat).seen_at === 'string';

export const workerKey = (id: string) => subjectToken(id);

export class Heartbeat {
  readonly #kv: KV;
  readonly #key: string;
  readonly #everyMs: number;
  readonly #snapshot: () => WorkerBeat;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(kv: KV, workerId: string, everyMs: number, snapshot: () => WorkerBeat) {
    this.#kv = kv;
    this.#key = workerKey(workerId);
    this.#everyMs = everyMs;
    this.#snapshot = snapshot;
  }

  start(): void {
    this.beat();
    this.#timer = setInterval(() => this.beat(), this.#everyMs);
    this.#timer.unref?.();
  }

  /** Writes the heartbeat now (also between beats: a change an operator waits to see); nothing once stopped. */
  beat(): void {
    if (this.#stopped) return;
    void this.#kv.put(this.#key, JSON.stringify(this.#snapshot())).catch(() => {});
  }

  /** Stops beating and removes the entry (the worker is gone). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#kv.delete(this.#key).catch(() => {});
  }
}

export interface CancelRequest {
  alt_id: string;
  requested_at: string;
  by?: string;
}

export interface CancelWatchOptions {
  /** The status bucket (a cancel request done is removed there). */
  kv: KV;
  bucket: string;
  nc: NatsConnection;
  jsm: JetStreamManager;
  onCancel: (altId: string) => void;
}

/**
 * Every worker's view of the cancel requests: an in-memory set kept by a watch (no read per job).
 * The watch creates no consumer (the requests, then each one as it is written, by a core
 * subscription; see store-access.ts): nothing of it stays on the server after the worker.
 */
export class CancelWatch {
  readonly #o: CancelWatchOptions;
  readonly #ids = new Set<string>();
  #stop: (() => void) | null = null;

  constructor(options: CancelWatchOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const w = await watchBucket(this.#o.nc, this.#o.jsm, this.#o.bucket, 'cancel.>', (e) => {
      if (e.operation !== 'PUT' || e.value.length === 0) return;
      try {
        const req = e.json<CancelRequest>();
        this.#ids.add(req.alt_id);
        this.#o.onCancel(req.alt_id);
      } catch {
        // not a cancel request
      }
    });
    this.#stop = () => w.stop();
  }

  has(altId: string): boolean {
    return this.#ids.has(altId);
  }

  /** The job was cancelled: its request is removed (a later job with the same id runs). */
  async done(altId: string): Promise<void> {
    this.#ids.delete(altId);
    // A delete marker, not a purge: the buckets the runner creates refuse purges and roll-ups (see openStores).
    await this.#o.kv.delete(cancelKey(altId)).catch(() => {});
  }

  stop(): void {
    this.#stop?.();
  }
}
