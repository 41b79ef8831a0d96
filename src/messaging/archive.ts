/**
 * The ALT_LAS archive hand-off, durable: every `.last` stored in the LAST stream is announced on
 * ARCHIVE_NOTIFY_SUBJECT (core NATS, the archive service's queue group `archive-service`) at
 * least once, as `{id, file_path, success_rate, timestamp, metadata}` with the `.last`'s id for
 * de-duplication (also in `Nats-Msg-Id`).
 *
 * It does not ride on the worker's settlement: a durable consumer on the LAST stream
 * (ARCHIVE_NOTIFY_DURABLE) feeds a forwarder in every worker, which sends each notification as a
 * request and acks its own message only once a subscriber was there: "no responders" means nobody
 * listens yet, so the message is handed back and tried again (backing off to 30 s); an answer, or
 * silence for ARCHIVE_NOTIFY_WAIT_MS from a subscriber that got it, means delivered. A worker
 * killed between storing a `.last` and notifying, or an archive service that subscribes late,
 * loses nothing: the message waits in the consumer.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type Consumer, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { errors, headers as natsHeaders, nanos, type NatsConnection } from '@nats-io/nats-core';
import { AltlasError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import { lastUrl, type Last } from '../last/index.ts';
import { IDENTITY_CODEC, type Codec } from '../security/codec.ts';
import type { Logger } from '../telemetry/logger.ts';
import { HEADERS } from '../contract/subjects.ts';

export type ArchiveConfig = Pick<Config, 'LAST_STREAM' | 'LAST_SUBJECT_PREFIX' | 'ARCHIVE_NOTIFY_SUBJECT' | 'ARCHIVE_NOTIFY_DURABLE' | 'ARCHIVE_NOTIFY_WAIT_MS' | 'RUNNER_PROVISION'>;

export interface ArchiveNotification {
  id: string;
  file_path: string;
  success_rate: number;
  timestamp: string;
  metadata: {
    tags: string[];
    status: string;
    alt_file_id: string;
    execution_id: string;
    command_type?: string;
    success_rate: number;
  };
}

/** The notification of a stored `.last`. */
export function archiveNotification(last: Last, filePath: string): ArchiveNotification {
  const commandType = typeof last.metadata.alt_command_type === 'string' ? last.metadata.alt_command_type : undefined;
  return {
    id: last.id,
    file_path: filePath,
    success_rate: last.success_rate,
    timestamp: last.end_time,
    metadata: {
      tags: last.tags, status: last.status, alt_file_id: last.alt_file_id, execution_id: last.execution_id,
      ...(commandType ? { command_type: commandType } : {}), success_rate: last.success_rate,
    },
  };
}

/** Delay before a notification nobody listened to is tried again: 1, 2, 4, ... s, at most 30 s. */
export const retryDelayMs = (deliveries: number) => Math.min(30_000, 1_000 * 2 ** Math.min(5, Math.max(0, deliveries - 1)));

/**
 * Creates the forwarder's durable consumer when it is missing (and provisioning is on): every
 * `.last` stored from then on, explicit acks, redelivered without end (a notification waits for
 * its subscriber as long as the `.last` is kept).
 */
export async function ensureArchiveConsumer(jsm: JetStreamManager, c: ArchiveConfig, logger: Logger): Promise<void> {
  try {
    await jsm.consumers.info(c.LAST_STREAM, c.ARCHIVE_NOTIFY_DURABLE);
    return;
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.ConsumerNotFound)) throw e;
  }
  if (!c.RUNNER_PROVISION) {
    throw new AltlasError('TOPOLOGY_MISMATCH', `consumer ${c.ARCHIVE_NOTIFY_DURABLE} on stream ${c.LAST_STREAM} (the archive hand-off, ARCHIVE_NOTIFY_SUBJECT) does not exist (RUNNER_PROVISION=false); "altlas init" creates what is missing`);
  }
  await jsm.consumers.add(c.LAST_STREAM, {
    durable_name: c.ARCHIVE_NOTIFY_DURABLE, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New,
    filter_subject: `${c.LAST_SUBJECT_PREFIX}.>`, ack_wait: nanos(Math.max(10_000, c.ARCHIVE_NOTIFY_WAIT_MS * 4)), max_deliver: -1, max_ack_pending: 1_000,
  });
  logger.info('created consumer', { stream: c.LAST_STREAM, consumer: c.ARCHIVE_NOTIFY_DURABLE, for: 'archive hand-off' });
}

export interface ForwarderOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  config: ArchiveConfig;
  logger: Logger;
  codec?: Codec;
  /** Notifications sent at once. Default 64. */
  batch?: number;
}

/** Forwards the LAST stream's `.last`s to the archive subject, each until a subscriber got it. */
export class ArchiveForwarder {
  readonly #o: ForwarderOptions;
  readonly #codec: Codec;
  #stopped = false;
  #loop: Promise<void> | null = null;
  #consumer: Consumer | null = null;

  constructor(options: ForwarderOptions) {
    this.#o = options;
    this.#codec = options.codec ?? IDENTITY_CODEC;
  }

  async start(): Promise<void> {
    this.#consumer = await this.#o.js.consumers.get(this.#o.config.LAST_STREAM, this.#o.config.ARCHIVE_NOTIFY_DURABLE);
    this.#loop = this.#run();
  }

  /** Stops fetching; notifications in progress finish (their messages are acked or handed back). */
  async close(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  async #run(): Promise<void> {
    const batch = this.#o.batch ?? 64;
    while (!this.#stopped) {
      try {
        const messages = await this.#consumer!.fetch({ max_messages: batch, expires: 2_000 });
        const work: Promise<void>[] = [];
        for await (const m of messages) work.push(this.#forward(m));
        await Promise.all(work);
      } catch (e) {
        if (this.#stopped) break;
        this.#o.logger.warn('archive hand-off: fetching .last results failed; trying again', { error: (e as Error).message });
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  /** Sends one `.last`'s notification; acks it once a subscriber got it, else hands it back. */
  async #forward(m: JsMsg): Promise<void> {
    let last: Last;
    try {
      last = JSON.parse(new TextDecoder().decode(this.#codec.open(m.data, 'last'))) as Last;
    } catch (e) {
      // Not a .last this worker can read (another writer, a key it lacks): nothing to announce.
      this.#o.logger.warn('archive hand-off: a message of the LAST stream is not a readable .last; skipped', { stream_seq: m.seq, subject: m.subject, error: (e as Error).message });
      m.term();
      return;
    }
    const { config } = this.#o;
    const body = JSON.stringify(archiveNotification(last, lastUrl(config.LAST_STREAM, m.subject, last.execution_id)));
    const h = natsHeaders();
    h.set(HEADERS.msgId, last.id);
    try {
      await this.#o.nc.request(config.ARCHIVE_NOTIFY_SUBJECT, body, { timeout: config.ARCHIVE_NOTIFY_WAIT_MS, headers: h });
    } catch (e) {
      // No responders: nobody subscribes to the subject yet. A timeout means a subscriber got it and kept silent.
      if (!(e instanceof errors.TimeoutError || (e as { cause?: unknown }).cause instanceof errors.TimeoutError)) {
        const nobody = e instanceof errors.NoRespondersError || (e as { cause?: unknown }).cause instanceof errors.NoRespondersError;
        const delay = retryDelayMs(m.info.deliveryCount);
        if (m.info.deliveryCount === 1 || m.info.deliveryCount % 10 === 0) {
          this.#o.logger.warn(nobody ? 'archive hand-off: nobody subscribes to the subject yet; the notification waits' : 'archive hand-off: could not send a notification; it waits', {
            subject: config.ARCHIVE_NOTIFY_SUBJECT, alt_id: last.alt_file_id, id: last.id, deliveries: m.info.deliveryCount, retry_ms: delay, ...(nobody ? {} : { error: (e as Error).message }),
          });
        }
        m.nak(delay);
        return;
      }
    }
    m.ack();
  }
}
