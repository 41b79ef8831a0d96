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
  /**
   * The ALT stream and its last sequence when the cancel was written: the request cancels the
   * messages of the job stored up to it (a job waiting in the stream, or running), never one
   * published after it (`publish --rerun`, a job published after a cancel of its id).
   */
  alt_stream: string;
  alt_stream_seq: number;
}

/** Where a message of a job sits in the ALT stream, as a cancel is bound to it: a resume's is the parked message's. */
export interface MessageOrigin {
  stream: string;
  seq: number;
}

/** A value of a `cancel.*` key as `altlas cancel` writes it, or null (no sequence: not bound to any message, so it cancels none). */
export function cancelRequestOf(v: unknown): CancelRequest | null {
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  const ok = typeof r.alt_id === 'string' && typeof r.alt_stream === 'string' && Number.isSafeInteger(r.alt_stream_seq) && (r.alt_stream_seq as number) >= 0;
  return ok ? (r as unknown as CancelRequest) : null;
}

/** True when the request was written after the message was stored: it is the job's message the cancel was meant for. */
export const cancelCovers = (req: CancelRequest, origin: MessageOrigin): boolean => origin.stream === req.alt_stream && origin.seq <= req.alt_stream_seq;

export interface CancelWatchOptions {
  /** The status bucket (a cancel request done is removed there). */
  kv: KV;
  bucket: string;
  nc: NatsConnection;
  jsm: JetStreamManager;
  onCancel: (req: CancelRequest) => void;
}

/**
 * Every worker's view of the cancel requests: an in-memory map kept by a watch (no read per job).
 * The watch creates no consumer (the requests, then each one as it is written, by a core
 * subscription; see store-access.ts): nothing of it stays on the server after the worker. A
 * request removed (its job cancelled, on any worker) leaves the map.
 */
export class CancelWatch {
  readonly #o: CancelWatchOptions;
  readonly #requests = new Map<string, CancelRequest>();
  #stop: (() => void) | null = null;

  constructor(options: CancelWatchOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const w = await watchBucket(this.#o.nc, this.#o.jsm, this.#o.bucket, 'cancel.>', (e) => {
      if (e.operation !== 'PUT' || e.value.length === 0) {
        this.#requests.delete(e.key);
        return;
      }
      let req: CancelRequest | null = null;
      try {
        req = cancelRequestOf(e.json<unknown>());
      } catch {
        // not JSON
      }
      if (!req || e.key !== cancelKey(req.alt_id)) return;
      this.#requests.set(e.key, req);
      this.#o.onCancel(req);
    });
    this.#stop = () => w.stop();
  }

  /** True when a cancel request of this job was written after its message `origin` was stored. */
  covers(altId: string, origin: MessageOrigin): boolean {
    const req = this.#requests.get(cancelKey(altId));
    return req !== undefined && req.alt_id === altId && cancelCovers(req, origin);
  }

  /** The job was cancelled: its request is removed (a later job with the same id runs). */
  async done(altId: string): Promise<void> {
    this.#requests.delete(cancelKey(altId));
    // A delete marker, not a purge: the buckets the runner creates refuse purges and roll-ups (see openStores).
    await this.#o.kv.delete(cancelKey(altId)).catch(() => {});
  }

  stop(): void {
    this.#stop?.();
  }
}
