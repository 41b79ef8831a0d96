/** The dead-letter stream, for the `altlas dlq` command and the dashboard: list, originals, replay, purge. */
import { headers as natsHeaders, PermissionViolationError, type NatsConnection } from '@nats-io/nats-core';
import type { JetStreamClient, JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import { AltlasError } from '../errors.ts';
import { DLQ_ERROR_AAD, HEADERS } from '../contract/subjects.ts';
import { parseArtifactUrl } from '../last/index.ts';
import { readObject, removeObject } from '../status/store-access.ts';
import type { Config } from '../config/schema.ts';
import { IDENTITY_CODEC, type Codec } from '../security/codec.ts';

export interface DlqSession {
  config: Pick<Config, 'DLQ_STREAM'>;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export interface DlqFilter {
  code?: string;
  /** Records stored before this time. */
  before?: Date;
}

/** The dead letters, oldest first, optionally of one code and older than a time. */
export async function dlqRecords(s: DlqSession, filter: DlqFilter = {}): Promise<StoredMsg[]> {
  const info = await s.jsm.streams.info(s.config.DLQ_STREAM);
  const out: StoredMsg[] = [];
  if (info.state.messages === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await s.jsm.streams.getMessage(s.config.DLQ_STREAM, { seq }).catch(() => null);
    if (!m) continue;
    if (filter.code && m.header.get(HEADERS.dlqCode) !== filter.code) continue;
    if (filter.before && m.time.getTime() >= filter.before.getTime()) continue;
    out.push(m);
  }
  return out;
}

/** One dead letter by sequence, or null. */
export function dlqRecord(s: DlqSession, seq: number): Promise<StoredMsg | null> {
  return s.jsm.streams.getMessage(s.config.DLQ_STREAM, { seq }).catch(() => null);
}

/** The error text of a dead letter: `Dlq-Error`, or under PAYLOAD_KEYS the sealed one opened with `codec` (left as it is without the key). */
function errorOf(m: StoredMsg, codec: Codec): string | null {
  const sealed = m.header.get(HEADERS.dlqErrorSealed);
  if (sealed && codec.encrypts) {
    try {
      return Buffer.from(codec.open(Buffer.from(sealed, 'base64'), DLQ_ERROR_AAD)).toString('utf8');
    } catch {
      // not our key: the placeholder says where the text is
    }
  }
  return m.header.get(HEADERS.dlqError) || null;
}

/** What a dead letter says, as the command and the dashboard show it, the error text opened with `codec` when it is sealed. */
export const recordDescriber = (codec: Codec) => function describe(m: StoredMsg) {
  const h = (k: string) => m.header.get(k) || null;
  return {
    seq: m.seq, code: h(HEADERS.dlqCode), error: errorOf(m, codec), alt_id: h(HEADERS.altId), subject: h(HEADERS.dlqSubject),
    stream: h(HEADERS.dlqStream), stream_seq: Number(h(HEADERS.dlqSeq)), deliveries: Number(h(HEADERS.dlqDeliveries)), time: m.time.toISOString(),
    bytes: Number(h(HEADERS.dlqPayloadBytes) ?? m.data.length), payload: h(HEADERS.dlqPayload),
  };
};

/** What a dead letter says (a sealed error text left sealed). */
export const describeRecord = recordDescriber(IDENTITY_CODEC);

/** The original bytes of a dead letter: in the record, or in the object store it points at (Dlq-Payload). */
export async function originalOf(s: DlqSession, m: StoredMsg): Promise<Uint8Array> {
  const ref = m.header.get(HEADERS.dlqPayload);
  if (!ref) return m.data;
  const loc = parseArtifactUrl(ref);
  if (!loc || loc.kind !== 'obj') throw new AltlasError('INTERNAL', `DLQ record ${m.seq} points at ${ref}, which is not an object store URL`);
  const blob = await readObject(s.jsm, loc.bucket, loc.name);
  if (!blob) throw new AltlasError('INTERNAL', `the original of DLQ record ${m.seq} is gone from ${ref} (expired?)`);
  return blob;
}

/**
 * The original of a dead letter to show, or why it cannot be shown: a large original is kept in
 * RUNNER_BODY_BUCKET, which the operator may read and the reader may not (a job body).
 */
export async function originalToShow(s: DlqSession, m: StoredMsg): Promise<{ bytes: Uint8Array } | { withheld: string }> {
  try {
    return { bytes: await originalOf(s, m) };
  } catch (e) {
    let x: unknown = e;
    for (let depth = 0; x && depth < 8 && !(x instanceof PermissionViolationError); depth++) x = (x as { cause?: unknown }).cause;
    if (!(x instanceof PermissionViolationError)) throw e;
    const ref = m.header.get(HEADERS.dlqPayload) ?? '';
    return { withheld: `(the original, ${m.header.get(HEADERS.dlqPayloadBytes) ?? '?'} bytes, is kept at ${ref}, which only the operator role may read)` };
  }
}

export interface Replayed {
  dlq_seq: number;
  subject: string;
  stream: string;
  seq: number;
  duplicate: boolean;
  /** The DLQ record was removed (the job is back in its stream; if it fails again it gets a new record). */
  removed: boolean;
}

/**
 * Republishes the original to its original subject with its headers (the Dlq-* ones dropped),
 * then removes the record (and an original it kept in the object store) unless `keep`: the job
 * is back in its stream, and if it fails again its new record is the one that stays, so a job
 * has one record however often it is replayed. The message id replay:<stream>:<seq> makes a
 * second replay of one record within the duplicate window a duplicate, not a second job.
 */
export async function replayRecord(s: DlqSession, m: StoredMsg, options: { keep?: boolean } = {}): Promise<Replayed> {
  const subject = m.header.get(HEADERS.dlqSubject);
  if (!subject) throw new AltlasError('INTERNAL', `DLQ record ${m.seq} has no ${HEADERS.dlqSubject} header`);
  const h = natsHeaders();
  for (const [k, v] of m.header) if (!k.toLowerCase().startsWith('dlq-') && k !== HEADERS.msgId) for (const x of v) h.append(k, x);
  const ack = await s.js.publish(subject, await originalOf(s, m), { headers: h, msgID: `replay:${s.config.DLQ_STREAM}:${m.seq}` });
  const removed = options.keep ? false : (await purgeRecords(s, [m])).length === 1;
  return { dlq_seq: m.seq, subject, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate, removed };
}

/** Removes dead letters (and the originals they keep in the object store); returns the sequences removed. */
export async function purgeRecords(s: DlqSession, records: readonly StoredMsg[]): Promise<number[]> {
  const removed: number[] = [];
  for (const m of records) {
    const ref = m.header.get(HEADERS.dlqPayload);
    if (ref) {
      const loc = parseArtifactUrl(ref);
      if (loc?.kind === 'obj') await removeObject(s.jsm, loc.bucket, loc.name).catch(() => {});
    }
    if (await s.jsm.streams.deleteMessage(s.config.DLQ_STREAM, m.seq, false).catch(() => false)) removed.push(m.seq);
  }
  return removed;
}
