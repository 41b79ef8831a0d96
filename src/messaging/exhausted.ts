/**
 * Messages no worker settles: (1) JetStream gives up on a message after RUNNER_MAX_DELIVER
 * deliveries that all ended without an ack and sends a max-deliveries advisory, which every
 * running worker answers; (2) the janitor finds what is left in a work-queue ALT stream below the
 * consumer's ack floor (nats-server 2.9 can keep acked messages there after a crash, and an
 * advisory sent while no worker ran is missed). Each is removed from ALT: a message whose `.last`
 * is stored goes as it is; any other gets a failure `.last` (id known) and a DLQ copy first.
 * Message ids make repeated copies idempotent.
 */
import { covers } from './topology.ts';
import { RetentionPolicy, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { AltlasError, type ErrorCode } from '../errors.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Publisher } from './publisher.ts';
import { failureLast } from './settle.ts';
import { HEADERS } from '../contract/subjects.ts';
import type { Recorder } from '../status/recorder.ts';

export interface SweepOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  publisher: Publisher;
  stream: string;
  durable: string;
  logger: Logger;
  recorder?: Recorder;
  /** True while this process runs message `seq` (it settles it itself). */
  holds?: (seq: number) => boolean;
  /** Milliseconds the guard waits before acting on an advisory (the lease timing's graceMs, one ack wait): a live owner settles first. */
  graceMs?: number;
  /** Waits `ms` (the grace); default a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** The advisory subject of a consumer's exhausted messages. */
export const maxDeliveriesSubject = (stream: string, durable: string) => `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${durable}`;

/** Dead-letters (or, when its `.last` is stored, just removes) message `seq` of the ALT stream. */
async function settleStored(o: SweepOptions, stored: StoredMsg, code: ErrorCode, message: string, deliveries: number): Promise<'removed' | 'dead-lettered'> {
  const contentType = stored.header?.get(HEADERS.contentType) || undefined;
  const d = { data: stored.data, subject: stored.subject, contentType, stream: o.stream, seq: stored.seq, deliveries };
  const altId = o.publisher.altIdOf(stored.data, contentType);
  if (altId && (await o.publisher.lastStored(altId, stored.seq))) {
    await o.jsm.streams.deleteMessage(o.stream, stored.seq, false);
    return 'removed';
  }
  const error = new AltlasError(code, message, { context: { deliveries } });
  // The DLQ copy is the record that must exist; the failure .last follows it, best effort.
  await o.publisher.deadLetter(stored.data, stored.header, d, error, altId);
  let lastStored = false;
  if (altId) {
    lastStored = await o.publisher.last(failureLast(d, altId, error, stored.time.getTime()), d, stored.header).then(() => true, (e: Error) => {
      o.logger.warn('could not store the failure .last of a dead-lettered message', { alt_stream_seq: stored.seq, error: e.message });
      return false;
    });
  }
  await o.jsm.streams.deleteMessage(o.stream, stored.seq, false).catch(() => false);
  const record = o.recorder?.begin(d);
  if (altId) record?.deadLettered(altId, code, message, lastStored);
  await record?.settled({ state: 'failed', lastStatus: altId ? 'failure' : null, code, message, altId });
  await record?.release();
  await record?.close();
  return 'dead-lettered';
}

/** Answers max-deliveries advisories while the worker runs. */
export class ExhaustedGuard {
  readonly #o: SweepOptions;
  #sub: Subscription | null = null;
  readonly #pending = new Set<Promise<void>>();

  constructor(options: SweepOptions) {
    this.#o = options;
  }

  /** Subscribes; resolves once the server accepted the subscription (a denied one throws PERMISSION_DENIED). */
  async start(): Promise<void> {
    const subject = maxDeliveriesSubject(this.#o.stream, this.#o.durable);
    let denied: Error | null = null;
    this.#sub = this.#o.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) {
          denied = err;
          return;
        }
        let advisory: { stream_seq?: number; deliveries?: number };
        try {
          advisory = msg.json();
        } catch {
          return;
        }
        if (typeof advisory.stream_seq !== 'number') return;
        const work = this.handle(advisory.stream_seq, advisory.deliveries ?? 0).catch((e: Error) => {
          this.#o.logger.error('could not dead-letter an exhausted message; the janitor will retry', { alt_stream_seq: advisory.stream_seq, error: e.message });
        });
        this.#pending.add(work);
        void work.finally(() => this.#pending.delete(work));
      },
    });
    await this.#o.nc.flush();
    if (denied || this.#sub.isClosed()) throw new AltlasError('PERMISSION_DENIED', `the NATS user may not subscribe to ${subject} (max-deliveries dead-lettering needs it)`, { context: { subject } });
  }

  async handle(seq: number, deliveries: number): Promise<void> {
    // A worker still running the message settles it (its last delivery may yet be acked); the others
    // wait one ack wait and act only on what is then still stored and not running here.
    if (this.#o.holds?.(seq)) return;
    if (this.#o.graceMs) await (this.#o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.())))(this.#o.graceMs);
    if (this.#o.holds?.(seq)) return;
    const stored = await this.#o.jsm.streams.getMessage(this.#o.stream, { seq }).catch((e: Error) => {
      if (/no message found|not found/i.test(e.message)) return null;
      throw e;
    });
    if (!stored) return; // settled or removed meanwhile
    const what = await settleStored(this.#o, stored, 'MAX_DELIVER_EXCEEDED', `no worker settled the message in ${deliveries} deliveries (crashes or ack timeouts)`, deliveries);
    this.#o.logger.error('job dead-lettered after its last delivery', { code: 'MAX_DELIVER_EXCEEDED', alt_stream_seq: seq, deliveries, outcome: what });
  }

  async close(): Promise<void> {
    this.#sub?.unsubscribe();
    await Promise.allSettled([...this.#pending]);
  }
}

/** Result of one janitor pass. */
export interface SweepReport {
  scanned: number;
  removed: number;
  deadLettered: number;
}

/**
 * The janitor: every message of a work-queue ALT stream at or below the consumer's ack floor is
 * settled already as far as JetStream's consumer is concerned, yet still stored. Each is removed
 * (its `.last` exists) or dead-lettered as STRANDED, so stream counts return to zero and nothing
 * stays stuck without a record. At most `batch` messages per pass.
 */
export async function sweepAltStream(o: SweepOptions, batch = 1_000): Promise<SweepReport> {
  const report: SweepReport = { scanned: 0, removed: 0, deadLettered: 0 };
  const info = await o.jsm.streams.info(o.stream);
  if (info.config.retention !== RetentionPolicy.Workqueue || info.state.messages === 0) return report;
  const consumer = await o.jsm.consumers.info(o.stream, o.durable);
  const floor = consumer.ack_floor.stream_seq;
  // A filtered consumer (RUNNER_LANES) has a floor for its own subjects only; the lanes' consumers keep theirs.
  const filter = consumer.config.filter_subject;
  for (let seq = info.state.first_seq; seq <= floor && report.scanned < batch; seq++) {
    if (o.holds?.(seq)) continue;
    const stored = await o.jsm.streams.getMessage(o.stream, { seq }).catch(() => null);
    if (!stored || (filter && !covers([filter], stored.subject))) continue;
    report.scanned++;
    const what = await settleStored(o, stored, 'STRANDED', `the message stayed in ${o.stream} below the consumer's ack floor (${floor}) with no .last`, 0);
    if (what === 'removed') report.removed++;
    else report.deadLettered++;
  }
  if (report.scanned) o.logger.warn('janitor: settled messages left below the ack floor', { stream: o.stream, ack_floor: floor, ...report });
  return report;
}
