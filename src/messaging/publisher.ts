/**
 * Writes what the runner produces: the `.last` (in a PRODUCER span whose context goes into its
 * headers) and the DLQ copy of a message (the original bytes). Both carry message ids derived
 * from the ALT stream sequence, so a repeat is de-duplicated by JetStream.
 */
import { SpanKind, context } from '@opentelemetry/api';
import type { JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import { AltlasError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import type { Last } from '../last/index.ts';
import { ATTR, SPAN } from '../telemetry/names.ts';
import { inSpan, injectContext } from '../telemetry/tracing.ts';
import type { DeliveryInfo } from './delivery.ts';
import { HEADERS, TRACE_HEADERS, dlqMsgId, headerValue, lastMsgId, subjectToken } from './subjects.ts';

export type PublisherConfig = Pick<Config, 'LAST_STREAM' | 'LAST_SUBJECT_PREFIX' | 'DLQ_SUBJECT_PREFIX'>;

/** Copies the named headers of the original message (the producer's trace context and content type). */
function copy(from: MsgHdrs | undefined, to: MsgHdrs, names: readonly string[]): void {
  for (const k of names) {
    const v = from?.get(k);
    if (v) to.set(k, v);
  }
}

const encoder = new TextEncoder();

/** Bytes kept free for the headers when a `.last` is checked against the max payload. */
const HEADER_ROOM = 4_096;

export class Publisher {
  readonly #js: JetStreamClient;
  readonly #c: PublisherConfig;
  readonly #maxPayload: () => number;

  /** `maxPayload`: the server's max payload in bytes (it can change on reconnect). */
  constructor(js: JetStreamClient, config: PublisherConfig, maxPayload: () => number = () => 1_048_576) {
    this.#js = js;
    this.#c = config;
    this.#maxPayload = maxPayload;
  }

  /** Publishes a `.last` and waits for JetStream's acknowledgement. */
  async last(last: Last, d: Pick<DeliveryInfo, 'stream' | 'seq'>, original: MsgHdrs | undefined): Promise<void> {
    const h = natsHeaders();
    h.set(HEADERS.altId, headerValue(last.alt_file_id));
    h.set(HEADERS.altStreamSeq, String(d.seq));
    h.set(HEADERS.lastStatus, last.status);
    h.set(HEADERS.contentType, 'application/json');
    // Without tracing the producer's headers travel on; with it, the PRODUCER span's context replaces them.
    copy(original, h, TRACE_HEADERS);
    const subject = `${this.#c.LAST_SUBJECT_PREFIX}.${subjectToken(last.alt_file_id)}`;
    const msgID = lastMsgId(d.stream, d.seq);
    // Encoded once: the size check and the publish use the same bytes.
    const body = encoder.encode(JSON.stringify(last));
    const bytes = body.length;
    if (bytes > this.#maxPayload() - HEADER_ROOM) {
      throw new AltlasError('LAST_TOO_LARGE', `the .last is ${bytes} bytes; the server's max payload is ${this.#maxPayload()}`, {
        context: { altId: last.alt_file_id, bytes, maxPayload: this.#maxPayload() },
      });
    }
    await inSpan(SPAN.send(this.#c.LAST_STREAM), {
      kind: SpanKind.PRODUCER,
      attributes: {
        [ATTR.messagingSystem]: 'nats', [ATTR.messagingOperationType]: 'send', [ATTR.messagingOperationName]: 'publish',
        [ATTR.messagingDestination]: subject, [ATTR.messagingMessageId]: msgID, [ATTR.messagingBodySize]: body.length,
        [ATTR.altId]: last.alt_file_id, [ATTR.lastStatus]: last.status,
      },
    }, context.active(), async () => {
      injectContext(h);
      await this.#js.publish(subject, body, { msgID, headers: h, timeout: 10_000 });
    });
  }

  /** Stores the original bytes on `{DLQ_SUBJECT_PREFIX}.{code}` with the Dlq-* headers; throws when it cannot. */
  async deadLetter(data: Uint8Array, original: MsgHdrs | undefined, d: DeliveryInfo, error: AltlasError, altId: string | null): Promise<void> {
    const h = natsHeaders();
    h.set(HEADERS.dlqCode, error.code);
    h.set(HEADERS.dlqError, headerValue(error.message));
    h.set(HEADERS.dlqStream, d.stream);
    h.set(HEADERS.dlqSeq, String(d.seq));
    h.set(HEADERS.dlqSubject, d.subject);
    h.set(HEADERS.dlqDeliveries, String(d.deliveries));
    if (altId) h.set(HEADERS.altId, headerValue(altId));
    copy(original, h, [HEADERS.contentType, ...TRACE_HEADERS]);
    injectContext(h);
    await this.#js.publish(`${this.#c.DLQ_SUBJECT_PREFIX}.${error.code}`, data, { msgID: dlqMsgId(d.stream, d.seq), headers: h, timeout: 10_000 });
  }
}
