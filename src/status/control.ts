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
  /** The request's id: the worker's heartbeat names the last one it applied. */
  request?: string;
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
  /** An operator set this worker's concurrency (`request`: the record's id, empty when it has none). */
  onConcurrency: (n: number, by: string, request: string) => void;
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
    const me = this.#o.workerId;
    this.#watch = await watchBucket(this.#o.nc, this.#o.jsm, this.#o.bucket, '>', (e) => {
      const gone = e.operation !== 'PUT' || e.value.length === 0;
      // Only a record of the exact shape counts, naming this worker where it is one worker's: a value
      // that got there another way (the JetStream API's answer to a request whose reply subject named
      // this key, a record copied from another key) is ignored.
      const value = (): Record<string, unknown> | null => {
        const v = e.json<unknown>();
        return isControlRecord(v) ? v : null;
      };
      try {
        if (e.key === PAUSE_KEY) {
          if (gone) return this.#o.onPause(false, null);
          const p = value();
          if (p && typeof p.paused === 'boolean') this.#o.onPause(p.paused, p.by as string);
        } else if (e.key === drain && !gone) {
          const d = value();
          if (d && d.worker_id === me) this.#o.onDrain(d.by as string);
        } else if (e.key === concurrency && !gone) {
          const c = value();
          if (c && c.worker_id === me && Number.isInteger(c.concurrency) && (c.concurrency as number) >= 1) this.#o.onConcurrency(c.concurrency as number, c.by as string, typeof c.request === 'string' ? c.request : '');
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

/** A control record as `altlas pause`, `drain` and `workers set` write it: `by` and `at` (RFC 3339) at least. */
export function isControlRecord(v: unknown): v is Record<string, unknown> & ControlRecord {
  // Stryker disable next-line ConditionalExpression: a primitive or an array has no by, so the checks below refuse it too (only null needs this line: null.by throws).
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const r = v as Record<string, unknown>;
  return typeof r.by === 'string' && r.by.length > 0 && r.by.length <= 256 && typeof r.at === 'string' && !Number.isNaN(Date.parse(r.at)) && r.type === undefined;
}

/** Writes a control record (the operator's side). */
export async function writeControl(kv: KV, key: string, record: ControlRecord & Record<string, unknown>): Promise<void> {
  await kv.put(key, JSON.stringify(record));
}
