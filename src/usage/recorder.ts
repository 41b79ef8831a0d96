/**
 * Publishes a usage record for every AI call as it settles: a settle step of the call path,
 * composed with the others (`combineSteps`). The call does not wait for the stream's PubAck: a
 * record is published in the background, retried with the same message id (JetStream keeps one)
 * and, if the stream stays unreachable, given up with a warning. A crash loses at most the
 * records whose PubAck had not come.
 */
import { randomUUID } from 'node:crypto';
import type { AiCall } from '../ai/call.ts';
import type { CallOutcome, Reservation, SettleStep } from '../ai/steps.ts';
import type { PriceTable } from './prices.ts';
import { usageRecord, usageSubject, type UsageRecord } from './record.ts';

/** Publishes bytes to the usage stream with a message id, resolving on the PubAck. */
export type UsagePublish = (subject: string, data: Uint8Array, msgId: string) => Promise<unknown>;

export interface UsageRecorderOptions {
  prices: PriceTable | null;
  /** Worker id written in each record. */
  worker: string;
  /** USAGE_SUBJECT_PREFIX. */
  subjectPrefix: string;
  /** Sees every record (metrics), synchronously; it must not throw. */
  onRecord?: (r: UsageRecord) => void;
  /** Where a lost record is reported (the worker's logger). */
  logger?: { warn(message: string, fields?: Record<string, unknown>): unknown };
  /** Publish attempts per record. Default 4. */
  attempts?: number;
  /** Milliseconds before a failed publish is tried again (doubling). Default 500. */
  retryMs?: number;
}

export class UsageRecorder implements SettleStep {
  readonly #o: UsageRecorderOptions;
  #publish: UsagePublish | null = null;
  readonly #pending = new Set<Promise<void>>();
  /** Records given up (the stream unreachable) or dropped (no publisher yet). */
  lost = 0;

  constructor(options: UsageRecorderOptions) {
    this.#o = options;
  }

  /** Where records go, once the worker is connected. */
  attach(publish: UsagePublish): void {
    this.#publish = publish;
  }

  /** Records still being published. */
  get pending(): number {
    return this.#pending.size;
  }

  settle(call: AiCall, _reservation: Reservation, outcome: CallOutcome): void {
    const record = usageRecord(call, outcome, { prices: this.#o.prices, worker: this.#o.worker, id: randomUUID(), now: Date.now() });
    if (!record) return;
    this.#o.onRecord?.(record);
    const publish = this.#publish;
    if (!publish) {
      this.lost++;
      return;
    }
    const p = this.#send(publish, record).finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  async #send(publish: UsagePublish, record: UsageRecord): Promise<void> {
    const data = Buffer.from(JSON.stringify(record));
    const subject = usageSubject(this.#o.subjectPrefix, record);
    const attempts = this.#o.attempts ?? 4;
    let delay = this.#o.retryMs ?? 500;
    for (let n = 1; ; n++) {
      try {
        await publish(subject, data, `usage:${record.id}`);
        return;
      } catch (e) {
        if (n >= attempts) {
          this.lost++;
          this.#o.logger?.warn('a usage record could not be stored; altlas usage will miss this call', { error: (e as Error).message, job: record.job ?? undefined, model: record.model, code: 'USAGE_RECORD_LOST' });
          return;
        }
        await new Promise((r) => setTimeout(r, delay).unref());
        delay *= 2;
      }
    }
  }

  /** Waits for the records being published (shutdown). */
  async close(): Promise<void> {
    while (this.#pending.size) await Promise.allSettled([...this.#pending]);
  }
}
