/**
 * The fleet: each worker's heartbeat in the RUNNER_WORKERS_BUCKET (an entry per worker that
 * expires after three missed beats; `altlas workers` and the dashboard list them), and the cancel
 * requests operators write into the status bucket (`altlas cancel`), which every worker watches.
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { subjectToken } from '../messaging/subjects.ts';
import { cancelKey } from './status.ts';

export interface WorkerBeat {
  worker_id: string;
  host: string;
  pid: number;
  version: string;
  started_at: string;
  seen_at: string;
  concurrency: number;
  in_flight: number;
  processed: number;
  waiting_for_ai: number;
  breaker: string;
  stream: string;
  consumer: string;
}

export const workerKey = (id: string) => subjectToken(id);

export class Heartbeat {
  readonly #kv: KV;
  readonly #key: string;
  readonly #everyMs: number;
  readonly #snapshot: () => WorkerBeat;
  #timer: NodeJS.Timeout | null = null;

  constructor(kv: KV, workerId: string, everyMs: number, snapshot: () => WorkerBeat) {
    this.#kv = kv;
    this.#key = workerKey(workerId);
    this.#everyMs = everyMs;
    this.#snapshot = snapshot;
  }

  start(): void {
    const beat = () => void this.#kv.put(this.#key, JSON.stringify(this.#snapshot())).catch(() => {});
    beat();
    this.#timer = setInterval(beat, this.#everyMs);
    this.#timer.unref?.();
  }

  /** Stops beating and removes the entry (the worker is gone). */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#kv.delete(this.#key).catch(() => {});
  }
}

export interface CancelRequest {
  alt_id: string;
  requested_at: string;
  by?: string;
}

/** Every worker's view of the cancel requests: an in-memory set kept by a watch (no read per job). */
export class CancelWatch {
  readonly #kv: KV;
  readonly #onCancel: (altId: string) => void;
  readonly #ids = new Set<string>();
  #stop: (() => void) | null = null;

  constructor(kv: KV, onCancel: (altId: string) => void) {
    this.#kv = kv;
    this.#onCancel = onCancel;
  }

  async start(): Promise<void> {
    const w = await this.#kv.watch({ key: 'cancel.>' });
    this.#stop = () => w.stop();
    void (async () => {
      for await (const e of w as AsyncIterable<KvWatchEntry>) {
        if (e.operation !== 'PUT' || e.value.length === 0) continue;
        try {
          const req = e.json<CancelRequest>();
          this.#ids.add(req.alt_id);
          this.#onCancel(req.alt_id);
        } catch {
          // not a cancel request
        }
      }
    })().catch(() => {});
  }

  has(altId: string): boolean {
    return this.#ids.has(altId);
  }

  /** The job was cancelled: its request is removed (a later job with the same id runs). */
  async done(altId: string): Promise<void> {
    this.#ids.delete(altId);
    // A delete marker, not a purge: the buckets the runner creates refuse purges and roll-ups (see openStores).
    await this.#kv.delete(cancelKey(altId)).catch(() => {});
  }

  stop(): void {
    this.#stop?.();
  }
}
