/**
 * Writes what the runner produces: the `.last` (in a PRODUCER span whose context goes into its
 * headers) and the DLQ copy of a message. Both carry message ids derived from the ALT stream
 * sequence, so a repeat is de-duplicated by JetStream, and the `.last`'s PubAck tells whether it
 * was one. Headers copied from a message are bounded (W3C trace context only, each within its
 * size), so a result always fits JetStream's header limit, and redacted (`baggage` and
 * `tracestate` members holding secrets; neither under PAYLOAD_KEYS, and `Dlq-Error` sealed); an
 * original too large to travel in a DLQ message is kept in the object store and the DLQ record
 * points at it.
 */
import { tenantOf } from '../flow/lanes.ts';
import { trace } from '@opentelemetry/api';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { StreamPublisher } from './stream-publish.ts';
import type { ObjectStore } from '@nats-io/obj';
import { MsgHdrsImpl, headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import { AltlasError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import { lastUrl, objectUrl, type Last } from '../last/index.ts';
import { recoverAltId } from '../alt/recover-id.ts';
import { IDENTITY_CODEC, isSealed, type Codec } from '../security/codec.ts';
import { redactText } from '../security/redact.ts';
import { sanitizeTraceHeaders } from '../security/trace-headers.ts';
import { ATTR, SPAN } from '../telemetry/names.ts';
import { injectContext } from '../telemetry/tracing.ts';
import type { DeliveryInfo } from '../contract/delivery.ts';
import { DLQ_ERROR_AAD, HEADERS, dlqMsgId, headerValue, lastMsgId, subjectToken } from '../contract/subjects.ts';

export type PublisherConfig = Pick<Config, 'LAST_STREAM' | 'LAST_SUBJECT_PREFIX' | 'DLQ_SUBJECT_PREFIX' | 'RUNNER_BODY_BUCKET'>;

/** Headers copied from an `.alt` to its results, each with the longest value kept (longer ones are dropped). */
const COPIED: Record<string, number> = { traceparent: 55, tracestate: 512, baggage: 8_192 };
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * Copies the W3C trace context of the original message, within bounds: the first value of each
 * header named exactly so (as `get` reads it), in one pass over the original's headers (each
 * `get` lists them all again).
 */
export function copyTraceHeaders(from: MsgHdrs | undefined, to: MsgHdrs): void {
  if (!from) return;
  for (const [name, values] of from) {
    const max = Object.hasOwn(COPIED, name) ? COPIED[name] : 0;
    const v = values[0];
    if (!max || !v || v.length > max || /[\r\n]/.test(v)) continue;
    if (name === 'traceparent' && !TRACEPARENT.test(v)) continue;
    to.set(name, v);
  }
}

/**
 * A new header set holding these single values, as `set` on each would make it (the value
 * checked for line breaks and trimmed) without its search of the names set before.
 */
function headersOf(values: Record<string, string>): MsgHdrs {
  const record: Record<string, string[]> = {};
  for (const name of Object.keys(values)) record[name] = [MsgHdrsImpl.validHeaderValue(values[name])];
  return MsgHdrsImpl.fromRecord(record);
}

const CONTENT_TYPE = /^[\w.+-]+\/[\w.+-]+(;\s*[\w-]+=[\w.-]+)*$/;

/** Bytes kept free for headers when a body is checked against the max payload. */
export const HEADER_ROOM = 16_384;

export interface PublisherOptions {
  /** Publishes to a stream and waits for the PubAck. */
  out: StreamPublisher;
  jsm: JetStreamManager;
  config: PublisherConfig;
  /** The server's max payload in bytes (it can change on reconnect). */
  maxPayload: () => number;
  /** Where DLQ originals too large for a message go; absent: they cannot be dead-lettered whole. */
  objects?: () => Promise<ObjectStore>;
  codec?: Codec;
}

export class Publisher {
  readonly #o: PublisherOptions;
  readonly #codec: Codec;

  constructor(options: PublisherOptions) {
    this.#o = options;
    this.#codec = options.codec ?? IDENTITY_CODEC;
  }

  /** The subject of a job's `.last`. */
  lastSubject(altId: string): string {
    return `${this.#o.config.LAST_SUBJECT_PREFIX}.${subjectToken(altId)}`;
  }

  /** The URL of a `.last` (`altlas artifact get` reads it). */
  lastUrl(altId: string, executionId: string): string {
    return lastUrl(this.#o.config.LAST_STREAM, this.lastSubject(altId), executionId);
  }

  /** Publishes a `.last` and waits for JetStream's acknowledgement; `duplicate` when the stream held it already. */
  async last(last: Last, d: Pick<DeliveryInfo, 'stream' | 'seq'> & { subject?: string }, original: MsgHdrs | undefined): Promise<{ duplicate: boolean; seq: number }> {
    const tenant = d.subject ? tenantOf(d.subject) : null;
    const h = headersOf({
      [HEADERS.altId]: headerValue(last.alt_file_id), [HEADERS.altStreamSeq]: String(d.seq), [HEADERS.lastStatus]: last.status,
      [HEADERS.contentType]: 'application/json', [HEADERS.executionId]: last.execution_id, ...(tenant ? { [HEADERS.lastTenant]: tenant } : {}),
    });
    // Without tracing (or a job the sampler left out) the producer's headers travel on; a recording job span's context replaces them.
    copyTraceHeaders(original, h);
    const subject = this.lastSubject(last.alt_file_id);
    const msgID = lastMsgId(d.stream, d.seq);
    // Buffer.from: a pooled slice, several times cheaper than TextEncoder for a few kilobytes.
    let body: Uint8Array = Buffer.from(JSON.stringify(last));
    if (this.#codec.encrypts) {
      body = this.#codec.seal(body, 'last');
      h.set(HEADERS.keyId, this.#codec.keyId!);
    }
    const max = this.#o.maxPayload();
    if (body.length > max - HEADER_ROOM) {
      throw new AltlasError('LAST_TOO_LARGE', `the .last is ${body.length} bytes; the server's max payload is ${max}`, {
        context: { altId: last.alt_file_id, bytes: body.length, maxPayload: max },
      });
    }
    // The job's span (when it records) gets the publish as an event, and the .last carries its
    // context on. A job the sampler left out passes on the producer's trace headers as they came
    // (its own span is in no trace store, and its context would cost every .last a header).
    const span = trace.getActiveSpan();
    if (span?.isRecording()) {
      span.setAttribute(ATTR.lastStatus, last.status);
      span.addEvent(SPAN.send(this.#o.config.LAST_STREAM), { [ATTR.messagingDestination]: subject, [ATTR.messagingMessageId]: msgID, [ATTR.messagingBodySize]: body.length });
      injectContext(h);
    }
    sanitizeTraceHeaders(h, this.#codec.encrypts);
    const ack = await this.#o.out.publish(subject, body, { msgID, headers: h, timeoutMs: 10_000 });
    return { duplicate: ack.duplicate, seq: ack.seq };
  }

  /** The job id in a payload, read through the encryption when it is sealed with a key of ours (null where none can be read). */
  altIdOf(data: Uint8Array, contentType?: string): string | null {
    if (!isSealed(data)) return recoverAltId(data, contentType);
    try {
      return recoverAltId(this.#codec.open(data, 'alt'), contentType);
    } catch {
      return null;
    }
  }

  /**
   * True when the LAST stream holds the `.last` of ALT message `seq` (checked on redeliveries
   * only); throws when the stream cannot be read (an unknown answer is not a "no").
   */
  async lastStored(altId: string, seq: number): Promise<boolean> {
    const stored = await this.#o.jsm.streams.getMessage(this.#o.config.LAST_STREAM, { last_by_subj: this.lastSubject(altId) }).catch((e: Error) => {
      if (/no message found|not found/i.test(e.message)) return null;
      throw e;
    });
    return stored?.header?.get(HEADERS.altStreamSeq) === String(seq);
  }

  /**
   * Stores the original bytes on `{DLQ_SUBJECT_PREFIX}.{code}` with the Dlq-* headers; an original
   * too large to travel with them goes to its own object store (RUNNER_BODY_BUCKET, apart from the
   * artifacts: the operator reads it, the reader does not), referenced by `Dlq-Payload`. Throws
   * when it cannot.
   */
  async deadLetter(data: Uint8Array, original: MsgHdrs | undefined, d: Pick<DeliveryInfo, 'stream' | 'seq' | 'subject' | 'deliveries'>, error: AltlasError, altId: string | null): Promise<void> {
    const h = natsHeaders();
    h.set(HEADERS.dlqCode, error.code);
    // Under PAYLOAD_KEYS an error text can quote the job (`Dependency 'X' not found`): it travels sealed.
    if (this.#codec.encrypts) {
      h.set(HEADERS.dlqError, `${error.code} (the error text is encrypted: ${HEADERS.dlqErrorSealed})`);
      h.set(HEADERS.dlqErrorSealed, Buffer.from(this.#codec.seal(Buffer.from(redactText(error.message).slice(0, 2_000)), DLQ_ERROR_AAD)).toString('base64'));
    } else h.set(HEADERS.dlqError, headerValue(redactText(error.message)));
    h.set(HEADERS.dlqStream, d.stream);
    h.set(HEADERS.dlqSeq, String(d.seq));
    h.set(HEADERS.dlqSubject, headerValue(d.subject, 1_024));
    h.set(HEADERS.dlqDeliveries, String(d.deliveries));
    if (altId) h.set(HEADERS.altId, headerValue(altId));
    const type = original?.get(HEADERS.contentType);
    if (type && type.length <= 100 && CONTENT_TYPE.test(type)) h.set(HEADERS.contentType, type);
    const keyId = original?.get(HEADERS.keyId);
    if (keyId && /^[A-Za-z0-9_.-]{1,64}$/.test(keyId)) h.set(HEADERS.keyId, keyId);
    copyTraceHeaders(original, h);
    injectContext(h);
    sanitizeTraceHeaders(h, this.#codec.encrypts);
    let body = data;
    if (data.length > this.#o.maxPayload() - HEADER_ROOM) {
      if (!this.#o.objects) throw new AltlasError('PAYLOAD_TOO_LARGE', `the original (${data.length} bytes) is too large for a DLQ message and no object store is configured`);
      const name = `dlq/${subjectToken(d.stream)}/${d.seq}`;
      const objects = await this.#o.objects();
      await objects.putBlob({ name }, data);
      h.set(HEADERS.dlqPayload, objectUrl(this.#o.config.RUNNER_BODY_BUCKET, name));
      h.set(HEADERS.dlqPayloadBytes, String(data.length));
      body = new Uint8Array(0);
    }
    await this.#o.out.publish(`${this.#o.config.DLQ_SUBJECT_PREFIX}.${error.code}`, body, { msgID: dlqMsgId(d.stream, d.seq), headers: h, timeoutMs: 10_000 });
  }
}
