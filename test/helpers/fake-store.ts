/**
 * An in-memory JetStream store for unit tests of the status and checkpoint code: streams of
 * messages, a KV bucket over one of them (get, create, update-with-revision, put, delete with
 * NATS's semantics), the object store's put, and the JetStreamManager calls that
 * src/status/store-access.ts makes (stream info with per-subject counts, last-by-subject and
 * next-by-subject gets, message deletes). Every KV call is recorded, and a test can run code in
 * the middle of one (`kv.between`) to interleave two writers.
 */
import { createHash } from 'node:crypto';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ObjectStore } from '@nats-io/obj';

export interface StoredMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  header?: { get(k: string): string };
  time: Date;
}

const dec = new TextDecoder();

/** NATS subject matching: `*` one token, `>` the rest. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length || (f[i] !== '*' && f[i] !== s[i])) return false;
  }
  return f.length === s.length;
}

function stored(m: StoredMessage) {
  return { ...m, json: <T>() => JSON.parse(dec.decode(m.data)) as T, string: () => dec.decode(m.data) };
}

export class FakeStreams {
  readonly streams = new Map<string, StoredMessage[]>();
  /** The streams of every message get, in order. */
  readonly reads: string[] = [];
  /** Called with every message appended (a core subscription's view of the stream's subjects: fakeCore). */
  readonly listeners: ((m: StoredMessage) => void)[] = [];
  #seq = new Map<string, number>();

  append(stream: string, subject: string, data: Uint8Array, op?: string): StoredMessage {
    const seq = (this.#seq.get(stream) ?? 0) + 1;
    this.#seq.set(stream, seq);
    const m: StoredMessage = { seq, subject, data, time: new Date(), ...(op ? { header: { get: (k: string) => (k === 'KV-Operation' ? op : '') } } : {}) };
    const list = this.streams.get(stream) ?? [];
    list.push(m);
    this.streams.set(stream, list);
    for (const l of this.listeners) l(m);
    return m;
  }

  messages(stream: string): StoredMessage[] {
    return this.streams.get(stream) ?? [];
  }

  last(stream: string, subject: string): StoredMessage | null {
    const list = this.messages(stream);
    for (let i = list.length - 1; i >= 0; i--) if (list[i].subject === subject) return list[i];
    return null;
  }

  /** The JetStreamManager calls store-access.ts makes. */
  jsm(): JetStreamManager {
    const get = async (stream: string, q: { last_by_subj?: string; seq?: number; next_by_subj?: string }) => {
      this.reads.push(stream);
      if (q.last_by_subj) {
        const m = this.last(stream, q.last_by_subj);
        return m ? stored(m) : null;
      }
      const m = this.messages(stream).find((x) => x.seq >= (q.seq ?? 0) && (!q.next_by_subj || subjectMatches(q.next_by_subj, x.subject)));
      return m ? stored(m) : null;
    };
    const streams = {
      info: async (stream: string, o?: { subjects_filter?: string }) => {
        const subjects: Record<string, number> = {};
        for (const m of this.messages(stream)) if (!o?.subjects_filter || subjectMatches(o.subjects_filter, m.subject)) subjects[m.subject] = (subjects[m.subject] ?? 0) + 1;
        return { config: { name: stream, allow_direct: true }, state: { subjects } };
      },
      getMessage: get,
      deleteMessage: async (stream: string, seq: number) => {
        const list = this.messages(stream);
        const i = list.findIndex((m) => m.seq === seq);
        if (i >= 0) list.splice(i, 1);
        return i >= 0;
      },
    };
    return { streams, direct: { getMessage: get } } as unknown as JetStreamManager;
  }
}

/**
 * The core NATS calls of a bucket watch (store-access.ts watchBucket): a subscription that sees
 * every message appended to `streams` on a subject its filter matches, a flush, and a status
 * stream that never reports a reconnect. `subscriptions` counts the open ones.
 */
export function fakeCore(streams: FakeStreams): { nc: NatsConnection; subscriptions: () => number } {
  type Delivered = { subject: string; headers?: StoredMessage['header']; data: Uint8Array };
  const subs = new Set<{ filter: string; callback: (err: Error | null, m: Delivered) => void }>();
  streams.listeners.push((m) => {
    for (const s of [...subs]) if (subjectMatches(s.filter, m.subject)) s.callback(null, { subject: m.subject, headers: m.header, data: m.data });
  });
  const nc = {
    subscribe: (filter: string, o: { callback: (err: Error | null, m: Delivered) => void }) => {
      const sub = { filter, callback: o.callback };
      subs.add(sub);
      return { unsubscribe: () => subs.delete(sub) };
    },
    flush: async () => {},
    status: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise<never>(() => {}) }) }),
  };
  return { nc: nc as unknown as NatsConnection, subscriptions: () => subs.size };
}

export interface KvCall {
  op: 'get' | 'create' | 'update' | 'put' | 'delete';
  key: string;
  revision?: number;
}

/** A KV bucket over a FakeStreams stream `KV_<bucket>`. */
export class FakeKv {
  readonly calls: KvCall[] = [];
  /** Runs once, in the middle of the next call of this kind on this key (after it read, before it answers). */
  readonly #between: { op: KvCall['op']; key?: string; run: () => Promise<void> }[] = [];
  /** When set, every call fails with this error. */
  failing: Error | null = null;
  readonly #s: FakeStreams;
  readonly #bucket: string;

  constructor(streams: FakeStreams, bucket: string) {
    this.#s = streams;
    this.#bucket = bucket;
  }

  get stream(): string {
    return `KV_${this.#bucket}`;
  }

  between(op: KvCall['op'], run: () => Promise<void>, key?: string): void {
    this.#between.push({ op, key, run });
  }

  async #step(op: KvCall['op'], key: string): Promise<void> {
    if (this.failing) throw this.failing;
    const i = this.#between.findIndex((b) => b.op === op && (!b.key || b.key === key));
    if (i >= 0) await this.#between.splice(i, 1)[0].run();
  }

  #subject(key: string): string {
    return `$KV.${this.#bucket}.${key}`;
  }

  #entry(key: string) {
    const m = this.#s.last(this.stream, this.#subject(key));
    if (!m) return null;
    const op = m.header?.get('KV-Operation') || 'PUT';
    return { key, value: m.data, revision: m.seq, operation: op, json: <T>() => JSON.parse(dec.decode(m.data)) as T, string: () => dec.decode(m.data) };
  }

  /** The latest value of a key as JSON (null when none or deleted). */
  value<T>(key: string): T | null {
    const e = this.#entry(key);
    return e && e.operation === 'PUT' ? e.json<T>() : null;
  }

  async get(key: string) {
    this.calls.push({ op: 'get', key });
    const e = this.#entry(key);
    await this.#step('get', key);
    return e;
  }

  async create(key: string, data: Uint8Array): Promise<number> {
    this.calls.push({ op: 'create', key });
    await this.#step('create', key);
    const e = this.#entry(key);
    if (e && e.operation === 'PUT') throw new Error('wrong last sequence: key exists');
    return this.#s.append(this.stream, this.#subject(key), data).seq;
  }

  async update(key: string, data: Uint8Array, revision: number): Promise<number> {
    this.calls.push({ op: 'update', key, revision });
    await this.#step('update', key);
    const e = this.#entry(key);
    if ((e?.revision ?? 0) !== revision) throw new Error(`wrong last sequence: ${e?.revision ?? 0}`);
    return this.#s.append(this.stream, this.#subject(key), data).seq;
  }

  async put(key: string, data: Uint8Array | string): Promise<number> {
    this.calls.push({ op: 'put', key });
    await this.#step('put', key);
    // The client takes a string as its UTF-8 bytes.
    return this.#s.append(this.stream, this.#subject(key), typeof data === 'string' ? Buffer.from(data) : data).seq;
  }

  async delete(key: string): Promise<void> {
    this.calls.push({ op: 'delete', key });
    await this.#step('delete', key);
    this.#s.append(this.stream, this.#subject(key), new Uint8Array(0), 'DEL');
  }

  asKv(): KV {
    return this as unknown as KV;
  }
}

/** The object store's putBlob over a FakeStreams stream `OBJ_<bucket>` (one chunk per object). */
export function fakeObjectStore(streams: FakeStreams, bucket: string): ObjectStore {
  let nuid = 0;
  return {
    putBlob: async (meta: { name: string }, data: Uint8Array) => {
      const id = `n${++nuid}`;
      streams.append(`OBJ_${bucket}`, `$O.${bucket}.C.${id}`, data);
      const token = Buffer.from(meta.name).toString('base64url');
      const padded = token + '='.repeat((4 - (token.length % 4)) % 4);
      const digest = `SHA-256=${createHash('sha256').update(data).digest('base64url')}`;
      streams.append(`OBJ_${bucket}`, `$O.${bucket}.M.${padded}`, Buffer.from(JSON.stringify({ name: meta.name, size: data.length, chunks: 1, nuid: id, digest })));
      return {};
    },
  } as unknown as ObjectStore;
}
