/**
 * A status entry is its job's: one found under another job's key (copied there by a JetStream API
 * answer whose reply subject named that key) is unreadable, not that job's state, as is a value
 * not of an entry's shape; readers listing the jobs skip both.
 */
import { describe, expect, it } from '@jest/globals';
import { decodeEntry, encodeEntry, statusKey, UnreadableEntry, type StatusEntry } from '../../../src/status/status.ts';
import { IDENTITY_CODEC, payloadCodec } from '../../../src/security/codec.ts';
import { listJobs } from '../../../src/ops/jobs.ts';
import { FakeKv, FakeStreams } from '../../helpers/fake-store.ts';

const entry = (altId: string): StatusEntry => ({
  alt_id: altId, state: 'completed', title: 't', alt_stream: 'ALT', alt_stream_seq: 3, deliveries: 1, worker_id: 'w', received_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:01.000Z', started_at: null, finished_at: null, last_status: 'success', tasks_total: 0, tasks_done: 0, error: null, tasks: {},
});

describe('decodeEntry', () => {
  it('reads an entry under its own key and refuses one under another job\'s key', () => {
    const bytes = encodeEntry(entry('job-a'), IDENTITY_CODEC, statusKey('job-a'));
    expect(decodeEntry(bytes, IDENTITY_CODEC, statusKey('job-a')).alt_id).toBe('job-a');
    expect(() => decodeEntry(bytes, IDENTITY_CODEC, statusKey('job-b'))).toThrow(UnreadableEntry);
  });
});

describe('decodeEntry: only an entry of the shape readers use', () => {
  const KEY = statusKey('job-a');
  const bytesOf = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
  const reasonOf = (v: unknown): string | null => {
    try {
      decodeEntry(bytesOf(v), IDENTITY_CODEC, KEY);
      return null;
    } catch (e) {
      if (!(e instanceof UnreadableEntry)) throw e;
      expect(e.key).toBe(KEY);
      return e.reason;
    }
  };
  const good = entry('job-a');

  it('reads an entry with the optional fields absent, null or set', () => {
    const { tasks_total: _t, tasks_done: _d, deliveries: _n, ...bare } = good;
    for (const v of [bare, { ...good, started_at: undefined, finished_at: undefined, error: undefined }, { ...good, started_at: 'x', finished_at: 'y', error: { code: 'C', message: 'm' } }, { ...good, tasks: { t: { state: 'completed' } } }]) {
      expect(reasonOf(v)).toBeNull();
    }
  });

  it.each([
    ['not JSON', '{"alt_id"', 'not JSON'],
    ['JSON null', 'null', 'not a JSON object'],
    ['a list', '[]', 'not a JSON object'],
    ['a string', '"job-a"', 'not a JSON object'],
    ['alt_id missing', { ...good, alt_id: undefined }, 'alt_id is not a string'],
    ['title a number', { ...good, title: 1 }, 'title is not a string'],
    ['worker_id null', { ...good, worker_id: null }, 'worker_id is not a string'],
    ['received_at missing', { ...good, received_at: undefined }, 'received_at is not a string'],
    ['updated_at a number', { ...good, updated_at: 5 }, 'updated_at is not a string'],
    ['an unknown state', { ...good, state: 'done' }, 'state is not a job state'],
    ['started_at a number', { ...good, started_at: 5 }, 'started_at or finished_at is not a time'],
    ['finished_at an object', { ...good, finished_at: {} }, 'started_at or finished_at is not a time'],
    ['tasks_total a string', { ...good, tasks_total: '3' }, 'tasks_total is not a number'],
    ['tasks_done null', { ...good, tasks_done: null }, 'tasks_done is not a number'],
    ['deliveries a string', { ...good, deliveries: '1' }, 'deliveries is not a number'],
    ['error a string', { ...good, error: 'boom' }, 'error is not {code, message}'],
    ['error without a message', { ...good, error: { code: 'C' } }, 'error is not {code, message}'],
    ['error without a code', { ...good, error: { message: 'm' } }, 'error is not {code, message}'],
    ['error a list', { ...good, error: ['C', 'm'] }, 'error is not {code, message}'],
    ['tasks a list', { ...good, tasks: [] }, 'tasks is not an object'],
    ['tasks null', { ...good, tasks: null }, 'tasks is not an object'],
    ['a task null', { ...good, tasks: { t: null } }, 'a task is not {state, ...}'],
    ['a task a list', { ...good, tasks: { t: ['completed'] } }, 'a task is not {state, ...}'],
    ['a task without a state', { ...good, tasks: { t: { attempts: 1 } } }, 'a task is not {state, ...}'],
  ])('refuses %s as unreadable, saying why', (_what, value, reason) => {
    expect(reasonOf(value)).toBe(reason);
  });

  it('names the job an entry under another key is of', () => {
    expect(reasonOf(entry('job-b'))).toBe('the entry of job job-b, not of this key');
  });

  describe('sealed (PAYLOAD_KEYS)', () => {
    const codec = payloadCodec(`k1:${Buffer.alloc(32, 3).toString('base64')}`);
    const sealed: StatusEntry = { ...good, title: 'secret title', error: { code: 'C', message: 'secret' }, tasks: { t: { state: 'completed', attempts: 1, started_at: null, finished_at: null } } };

    it('opens the sealed fields under the entry\'s own key', () => {
      const back = decodeEntry(encodeEntry(sealed, codec, KEY), codec, KEY);
      expect(back).toEqual({ ...sealed, sealed: undefined });
    });

    it('keeps the plain fields when the sealed part cannot be opened (no key, or sealed for another key)', () => {
      const bytes = encodeEntry(sealed, codec, KEY);
      expect(decodeEntry(bytes, IDENTITY_CODEC, KEY)).toMatchObject({ alt_id: 'job-a', title: '', error: { code: 'C', message: '' }, tasks: {} });
      const moved = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(encodeEntry(entry('job-b'), codec, statusKey('job-b'))).toString()), alt_id: 'job-a' }));
      expect(decodeEntry(moved, codec, KEY)).toMatchObject({ alt_id: 'job-a', title: '', tasks: {} });
    });

    it('opens only a sealed part that is a string (a list of bytes is not one)', () => {
      const bytes = [...Buffer.from(JSON.stringify({ title: 'other', alt_id: 'job-z' }))];
      expect(decodeEntry(bytesOf({ ...good, title: 'plain', sealed: bytes }), IDENTITY_CODEC, KEY)).toMatchObject({ alt_id: 'job-a', title: 'plain' });
    });

    it('does not take a sealed part that opens to something other than an object', () => {
      const odd = Buffer.from(JSON.stringify({ ...good, title: 'plain', sealed: Buffer.from(codec.seal(Buffer.from('"x"'), `status:${KEY}`)).toString('base64') }));
      expect(decodeEntry(odd, codec, KEY)).toMatchObject({ title: 'plain', sealed: expect.any(String) });
    });
  });
});

describe('listJobs', () => {
  it('skips an entry under another job\'s key and a value that is no entry, telling of each, and lists the rest', async () => {
    const streams = new FakeStreams();
    const kv = new FakeKv(streams, 'ALT_RUNS');
    const put = (key: string, bytes: Uint8Array) => kv.put(key, bytes);
    await put(statusKey('job-a'), encodeEntry(entry('job-a'), IDENTITY_CODEC, statusKey('job-a')));
    await put(statusKey('job-c'), encodeEntry(entry('job-b'), IDENTITY_CODEC, statusKey('job-b')));
    await put(statusKey('job-d'), Buffer.from('{"type":"io.nats.jetstream.api.v1.stream_info_response"}'));
    await put('cancel.job-a', Buffer.from(JSON.stringify({ alt_id: 'job-a' })));
    const unreadable: [string, string][] = [];
    const jobs = await listJobs({ jsm: streams.jsm(), bucket: 'ALT_RUNS' }, { onUnreadable: (e) => unreadable.push([e.key, e.reason]) });
    expect(jobs.map((j) => j.alt_id)).toEqual(['job-a']);
    expect(unreadable.sort()).toEqual([['job-c', 'the entry of job job-b, not of this key'], ['job-d', 'alt_id is not a string']]);
    await expect(listJobs({ jsm: streams.jsm(), bucket: 'ALT_RUNS' })).resolves.toHaveLength(1);
  });
});
