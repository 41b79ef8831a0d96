/**
 * Reading the KV buckets and the object store without creating a consumer, so the reader and
 * operator roles need no `$JS.API.CONSUMER.CREATE` at all (a user that may create consumers may
 * create durable and push ones, which the server cannot tell apart by subject):
 *
 * - a bucket's latest values: its keys from the stream's per-subject counts, each value by a
 *   direct get (a plain message get on a stream without direct gets);
 * - a watch: those values, then every write as it is published (a core subscription to the
 *   bucket's subjects), read again after a reconnect;
 * - an object: its entry by the last message of its meta subject, its chunks one by one, the
 *   digest checked;
 * - a stream's messages on a subject (`altlas results`, older `.last`s of a job): plain message
 *   gets, in parallel by sequence for a whole stream, one after the other by subject otherwise;
 * - removing an object (a purged dead letter's original): each of its messages deleted by
 *   sequence, so the operator needs no purge of the object store (a purge request cannot be
 *   limited to one object by permissions).
 */
import { createHash } from 'node:crypto';
import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/nats-core';
import { AltlasError } from '../errors.ts';

export interface BucketEntry {
  key: string;
  operation: 'PUT' | 'DEL' | 'PURGE';
  value: Uint8Array;
  /** False for the values read at the start of a watch, true for the writes seen after. */
  isUpdate: boolean;
  json<T>(): T;
}

const decoder = new TextDecoder();

function entry(key: string, headers: MsgHdrs | undefined, data: Uint8Array, isUpdate: boolean): BucketEntry {
  const op = headers?.get('KV-Operation');
  return { key, operation: op === 'DEL' || op === 'PURGE' ? op : 'PUT', value: data, isUpdate, json: <T>() => JSON.parse(decoder.decode(data)) as T };
}

/** How many gets are in flight at once while reading a bucket. */
const BATCH = 256;

/** The latest value (or delete marker) of every key of a bucket matching `filter` (`>` for all). */
export async function bucketEntries(jsm: JetStreamManager, bucket: string, filter = '>'): Promise<BucketEntry[]> {
  const stream = `KV_${bucket}`;
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(stream, { subjects_filter: `${prefix}${filter}` });
  const subjects = Object.keys(info.state.subjects ?? {});
  const direct = info.config.allow_direct === true;
  const out: BucketEntry[] = [];
  for (let i = 0; i < subjects.length; i += BATCH) {
    const got = await Promise.all(subjects.slice(i, i + BATCH).map((s) => (direct
      ? jsm.direct.getMessage(stream, { last_by_subj: s })
      : jsm.streams.getMessage(stream, { last_by_subj: s })).catch(() => null)));
    for (const m of got) if (m) out.push(entry(m.subject.slice(prefix.length), m.header, m.data, false));
  }
  return out;
}

export interface BucketWatch {
  stop(): void;
}

/**
 * Calls `on` with the latest value of every key matching `filter`, then with every write as it
 * is published. Resolves once the latest values were given; after a reconnect they are read again
 * (given as updates, a key gone meanwhile as a `DEL`). Rejects when the user may not subscribe to
 * the bucket's subjects (the server's refusal arrives before the flush returns), instead of
 * watching nothing.
 */
export async function watchBucket(nc: NatsConnection, jsm: JetStreamManager, bucket: string, filter: string, on: (e: BucketEntry) => void): Promise<BucketWatch> {
  const prefix = `$KV.${bucket}.`;
  let queued: BucketEntry[] | null = [];
  const keys = new Set<string>();
  const give = (e: BucketEntry) => {
    if (e.operation === 'PUT') keys.add(e.key);
    else keys.delete(e.key);
    on(e);
  };
  let refused: Error | null = null;
  const sub = nc.subscribe(`${prefix}${filter}`, {
    callback: (err, m) => {
      if (err) {
        refused ??= err;
        return;
      }
      const e = entry(m.subject.slice(prefix.length), m.headers, m.data, true);
      if (queued) queued.push(e);
      else give(e);
    },
  });
  // The subscription is in place before the values are read: no write falls between the two.
  await nc.flush();
  if (refused) {
    sub.unsubscribe();
    throw refused;
  }
  const snapshot = async (isUpdate: boolean) => {
    const written = new Set((queued ?? []).map((e) => e.key));
    const found = await bucketEntries(jsm, bucket, filter);
    const present = new Set(found.map((e) => e.key));
    for (const e of found) if (!written.has(e.key)) give({ ...e, isUpdate });
    if (isUpdate) for (const k of [...keys]) if (!present.has(k) && !written.has(k)) give(entry(k, undefined, new Uint8Array(0), true));
  };
  try {
    await snapshot(false);
  } catch (e) {
    sub.unsubscribe();
    throw e;
  }
  const flush = () => {
    const q = queued ?? [];
    queued = null;
    for (const e of q) give(e);
  };
  flush();
  let stopped = false;
  void (async () => {
    for await (const s of nc.status()) {
      if (stopped) break;
      if (s.type !== 'reconnect') continue;
      queued = [];
      await snapshot(true).catch(() => {});
      flush();
    }
  })().catch(() => {});
  return {
    stop: () => {
      stopped = true;
      sub.unsubscribe();
    },
  };
}

/** The padded base64url of an object name, as the object store names its meta subject. */
const metaToken = (name: string) => {
  const b = Buffer.from(name).toString('base64url');
  return b + '='.repeat((4 - (b.length % 4)) % 4);
};

interface ObjectEntry {
  name: string;
  size: number;
  chunks: number;
  nuid: string;
  digest?: string;
  deleted?: boolean;
}

/** The entry of an object and the message holding it, or null. */
async function objectEntry(jsm: JetStreamManager, bucket: string, name: string): Promise<{ info: ObjectEntry; seq: number } | null> {
  const meta = await jsm.streams.getMessage(`OBJ_${bucket}`, { last_by_subj: `$O.${bucket}.M.${metaToken(name)}` });
  return meta ? { info: meta.json<ObjectEntry>(), seq: meta.seq } : null;
}

/** The chunk messages of an object, in order. */
async function* chunksOf(jsm: JetStreamManager, bucket: string, info: ObjectEntry): AsyncGenerator<StoredMsg> {
  const stream = `OBJ_${bucket}`;
  const subject = `$O.${bucket}.C.${info.nuid}`;
  let seq = 1;
  for (let i = 0; i < info.chunks; i++) {
    const m: StoredMsg | null = await jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as never);
    if (!m) throw new AltlasError('INTERNAL', `object ${info.name} of ${bucket} lost chunk ${i + 1} of ${info.chunks}`);
    yield m;
    seq = m.seq + 1;
  }
}

/** The bytes of an object of the object store `bucket`, or null when there is none by that name. Throws when it is corrupt. */
export async function readObject(jsm: JetStreamManager, bucket: string, name: string): Promise<Uint8Array | null> {
  const found = await objectEntry(jsm, bucket, name);
  if (!found || found.info.deleted) return null;
  const { info } = found;
  const parts: Uint8Array[] = [];
  for await (const m of chunksOf(jsm, bucket, info)) parts.push(m.data);
  const bytes = Buffer.concat(parts);
  const digest = info.digest?.startsWith('SHA-256=') ? info.digest.slice(8) : null;
  if (bytes.length !== info.size || (digest && Buffer.from(digest, 'base64url').compare(createHash('sha256').update(bytes).digest()) !== 0)) {
    throw new AltlasError('INTERNAL', `object ${name} of ${bucket} is corrupt (size or digest does not match its entry)`);
  }
  return bytes;
}

/** Removes an object by deleting its chunks, then its entry, message by message; false when there was none. */
export async function removeObject(jsm: JetStreamManager, bucket: string, name: string): Promise<boolean> {
  const found = await objectEntry(jsm, bucket, name);
  if (!found) return false;
  const seqs: number[] = [];
  if (!found.info.deleted) for await (const m of chunksOf(jsm, bucket, found.info)) seqs.push(m.seq);
  for (const seq of [...seqs, found.seq]) await jsm.streams.deleteMessage(`OBJ_${bucket}`, seq, false);
  return true;
}

/**
 * The messages of `stream` on `subject` (a filter; `>`-style wildcards allowed) from sequence
 * `from` up to `to`, oldest first: by sequence in parallel batches when `whole` (the filter covers
 * every subject of the stream), else each the next one on the subject.
 */
export async function* storedMessages(jsm: JetStreamManager, stream: string, subject: string, from: number, to: number, whole = false): AsyncGenerator<StoredMsg> {
  if (whole) {
    for (let seq = from; seq <= to; seq += BATCH) {
      const batch = await Promise.all(Array.from({ length: Math.min(BATCH, to - seq + 1) }, (_, i) => jsm.streams.getMessage(stream, { seq: seq + i }).catch(() => null)));
      for (const m of batch) if (m) yield m;
    }
    return;
  }
  for (let seq = from; seq <= to;) {
    const m = await jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as never).catch(() => null);
    if (!m || m.seq > to) return;
    yield m;
    seq = m.seq + 1;
  }
}

/** The first sequence of `stream` stored at or after `since` (binary search on message times), or `last + 1` when none is. */
export async function firstSeqSince(jsm: JetStreamManager, stream: string, first: number, last: number, since: Date): Promise<number> {
  let lo = first;
  let hi = last + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    // The message at mid, or the next one stored after it (sequences can have gaps).
    const m = await jsm.streams.getMessage(stream, { seq: mid, next_by_subj: '>' } as never).catch(() => null);
    if (!m || m.seq > last) {
      hi = mid;
      continue;
    }
    if (m.time.getTime() >= since.getTime()) hi = mid;
    else lo = m.seq + 1;
  }
  return lo;
}
