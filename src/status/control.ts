/**
 * The fleet's controls, in the RUNNER_CONTROL_BUCKET every worker watches (a core subscription,
 * no consumer): `pause` (altlas pause / resume: no worker takes new work while it says paused),
 * `drain.<worker>` (altlas drain: that worker finishes what it holds and exits) and
 * `concurrency.<worker>` (altlas workers set --concurrency: that worker's slots, live).
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { KV } from '@nats-io/kv';
import { workerKey } from './fleet.ts';
import { watchBucket, type BucketWatch } from './store-access.ts';

export interface ControlRecord {
  /** Who asked: the NATS user, or the dashboard's token name. */
  by: string;
  at: string;
}
export interface PauseControl extends ControlRecord {
  paused: boolean;
}
export interface DrainControl extends ControlRecord {
  worker_id: string;
}
export interface ConcurrencyControl extends ControlRecord {
  worker_id: string;
  concurrency: number;
}

export const PAUSE_KEY = 'pause';
export const drainKey = (workerId: string) => `drain.${workerKey(workerId)}`;
export const concurrencyKey = (workerId: string) => `concurrency.${workerKey(workerId)}`;

export interface ControlWatchOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  bucket: string;
  workerId: string;
  /** The fleet was paused or resumed (also the state found at start). */
  onPause: (paused: boolean, by: string | null) => void;
  /** An operator asked this worker to drain. */
  onDrain: (by: string) => void;
  /** An operator set this worker's concurrency. */
  onConcurrency: (n: number, by: string) => void;
}

/** One worker's watch of the controls. */
export class ControlWatch {
  readonly #o: ControlWatchOptions;
  #watch: BucketWatch | null = null;

  constructor(options: ControlWatchOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const drain = drainKey(this.#o.workerId);
    const concurrency = concurrencyKey(this.#o.workerId);
    this.#watch = await watchBucket(this.#o.nc, this.#o.jsm, this.#o.bucket, '>', (e) => {
      const gone = e.operation !== 'PUT' || e.value.length === 0;
      try {
        if (e.key === PAUSE_KEY) {
          const p = gone ? null : e.json<PauseControl>();
          this.#o.onPause(p?.paused === true, p?.by ?? null);
        } else if (e.key === drain && !gone) {
          this.#o.onDrain(e.json<DrainControl>().by);
        } else if (e.key === concurrency && !gone) {
          const c = e.json<ConcurrencyControl>();
          if (Number.isInteger(c.concurrency) && c.concurrency >= 1) this.#o.onConcurrency(c.concurrency, c.by);
        }
      } catch {
        // not a control record
      }
    });
  }

  stop(): void {
    this.#watch?.stop();
  }
}

/** Writes a control record (the operator's side). */
export async function writeControl(kv: KV, key: string, record: ControlRecord & Record<string, unknown>): Promise<void> {
  await kv.put(key, JSON.stringify(record));
}
