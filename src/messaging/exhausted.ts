/**
 * Messages no worker could settle: when JetStream gives up on a message after RUNNER_MAX_DELIVER
 * deliveries that all ended without an ack (workers crashed or ran past the ack wait), it sends
 * a max-deliveries advisory. The guard answers it: failure `.last` where the job id is
 * recoverable, DLQ copy with code MAX_DELIVER_EXCEEDED, and the message removed from the ALT
 * stream, so that nothing stays stuck there unseen. Every worker hears the advisory; the message
 * ids make the copies idempotent.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { recoverAltId } from '../alt/index.ts';
import { AltlasError } from '../errors.ts';
import { deliveryFailureLast } from './delivery.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Publisher } from './publisher.ts';
import { HEADERS } from './subjects.ts';
import type { Recorder } from '../status/recorder.ts';

export interface ExhaustedOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  publisher: Publisher;
  stream: string;
  durable: string;
  logger: Logger;
  /** Records the job as failed in the status bucket and removes its checkpoints. */
  recorder?: Recorder;
}

/** The advisory subject of a consumer's exhausted messages. */
export const maxDeliveriesSubject = (stream: string, durable: string) => `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${durable}`;

export class ExhaustedGuard {
  readonly #o: ExhaustedOptions;
  #sub: Subscription | null = null;
  #pending = new Set<Promise<void>>();

  constructor(options: ExhaustedOptions) {
    this.#o = options;
  }

  start(): void {
    this.#sub = this.#o.nc.subscribe(maxDeliveriesSubject(this.#o.stream, this.#o.durable), {
      callback: (_err, msg) => {
        let advisory: { stream_seq?: number; deliveries?: number };
        try {
          advisory = msg.json();
        } catch {
          return;
        }
        if (typeof advisory.stream_seq !== 'number') return;
        const work = this.handle(advisory.stream_seq, advisory.deliveries ?? 0).catch((e: Error) => {
          this.#o.logger.error('could not dead-letter an exhausted message; it stays in the stream', { alt_stream_seq: advisory.stream_seq, error: e.message });
        });
        this.#pending.add(work);
        void work.finally(() => this.#pending.delete(work));
      },
    });
  }

  /** Copies message `seq` to the DLQ (with a failure `.last` where possible) and removes it from the stream. */
  async handle(seq: number, deliveries: number): Promise<void> {
    const { jsm, stream, publisher, logger } = this.#o;
    const stored = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!stored) return; // settled or removed meanwhile
    const contentType = stored.header?.get(HEADERS.contentType) || undefined;
    const d = { data: stored.data, subject: stored.subject, contentType, stream, seq, deliveries };
    const error = new AltlasError('MAX_DELIVER_EXCEEDED', `no worker settled the message in ${deliveries} deliveries (crashes or ack timeouts)`, { context: { deliveries } });
    const altId = recoverAltId(stored.data, contentType);
    if (altId) await publisher.last(deliveryFailureLast(d, altId, error, stored.time.getTime()), d, stored.header);
    await publisher.deadLetter(stored.data, stored.header, d, error, altId);
    await jsm.streams.deleteMessage(stream, seq, false).catch(() => false);
    const record = this.#o.recorder?.begin(d);
    await record?.settled({ verb: 'reject', code: error.code, message: error.message, altId, clearAll: true });
    await record?.close();
    logger.error('job dead-lettered after its last delivery', { code: error.code, alt_stream_seq: seq, alt_id: altId ?? undefined, deliveries });
  }

  async close(): Promise<void> {
    this.#sub?.unsubscribe();
    await Promise.allSettled([...this.#pending]);
  }
}
