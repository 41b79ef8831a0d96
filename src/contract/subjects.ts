/** Subject tokens, message ids and header names of the message contract (the README lists them). */
import { createHash } from 'node:crypto';

/** Headers the runner reads and writes. */
export const HEADERS = {
  msgId: 'Nats-Msg-Id',
  contentType: 'Content-Type',
  altId: 'Alt-Id',
  altStreamSeq: 'Alt-Stream-Seq',
  lastStatus: 'Last-Status',
  dlqCode: 'Dlq-Code',
  dlqError: 'Dlq-Error',
  /** PAYLOAD_KEYS: the error text of a dead letter, encrypted (base64 of the envelope). */
  dlqErrorSealed: 'Dlq-Error-Sealed',
  dlqStream: 'Dlq-Stream',
  dlqSeq: 'Dlq-Seq',
  dlqSubject: 'Dlq-Subject',
  dlqDeliveries: 'Dlq-Deliveries',
  /** A DLQ record whose original was too large to travel with it: where the original is. */
  dlqPayload: 'Dlq-Payload',
  dlqPayloadBytes: 'Dlq-Payload-Bytes',
  /** The execution id of a `.last`. */
  executionId: 'Execution-Id',
  /** The tenant token of the subject a job came on (`alt.<lane>.<tenant>`), on its `.last`. */
  lastTenant: 'Altlas-Tenant',
  /** PAYLOAD_KEYS: the key an encrypted body was sealed with. */
  keyId: 'Altlas-Key-Id',
  /** The tenant a job was published for, as given (its subject carries the token). */
  tenant: 'Alt-Tenant',
} as const;

/** What a sealed `Dlq-Error-Sealed` value is bound to (the codec's additional data). */
export const DLQ_ERROR_AAD = 'dlq-error';

const MAX_TOKEN = 128;

/**
 * A job id made safe as one subject token: every character outside A–Z, a–z, 0–9, `-` and `_`
 * becomes `_`; an id that had to change, or is longer than 128 characters, gets `-` and 8 hex
 * digits of its SHA-256 appended (so distinct ids stay distinct). An empty id is `_unknown`.
 */
export function subjectToken(id: string): string {
  if (!id) return '_unknown';
  const safe = id.replace(/[^A-Za-z0-9_-]/g, '_');
  if (safe === id && id.length <= MAX_TOKEN) return id;
  const digest = createHash('sha256').update(id).digest('hex').slice(0, 8);
  return `${safe.slice(0, MAX_TOKEN - 9)}-${digest}`;
}

/** The `.last` message id: derived from the ALT stream and sequence, so a redelivery's result is de-duplicated. */
export function lastMsgId(altStream: string, seq: number): string {
  return `last:${altStream}:${seq}`;
}

export function dlqMsgId(altStream: string, seq: number): string {
  return `dlq:${altStream}:${seq}`;
}

/** Header values are single lines: control characters become spaces and the text is cut. */
export function headerValue(text: string, max = 512): string {
  const clean = text.replace(/[\r\n\t\u0000-\u001f]+/g, ' ');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
