/**
 * A worker's watch of the fleet's controls (src/status/control.ts): a record counts only in the
 * exact shape `altlas pause`, `drain` and `workers set` write (`by`, `at`, no `type`, and this
 * worker's own id for a drain or a concurrency); anything else under a control key (a JetStream API
 * answer stored there through a reply subject, another worker's record copied there) is ignored.
 * Runs on an in-memory bucket and a fake core subscription, no server.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { ControlWatch, PAUSE_KEY, concurrencyKey, drainKey, isControlRecord, writeControl } from '../../../src/status/control.ts';
import { FakeKv, FakeStreams, fakeCore } from '../../helpers/fake-store.ts';

const BUCKET = 'ALT_CONTROL';
const ME = 'worker.a';
const AT = '2026-12-07T10:00:00.000Z';

interface Seen {
  pause: [boolean, string | null][];
  drain: string[];
  concurrency: [number, string][];
}

const watches: ControlWatch[] = [];
afterEach(() => {
  for (const w of watches.splice(0)) w.stop();
});

/** A bucket, a watch of it by worker ME, and what the watch reported. */
async function watching(before: (kv: FakeKv) => Promise<void> = async () => {}) {
  const streams = new FakeStreams();
  const kv = new FakeKv(streams, BUCKET);
  await before(kv);
  const core = fakeCore(streams);
  const seen: Seen = { pause: [], drain: [], concurrency: [] };
  const watch = new ControlWatch({
    nc: core.nc, jsm: streams.jsm(), bucket: BUCKET, workerId: ME,
    onPause: (p, by) => seen.pause.push([p, by]),
    onDrain: (by) => seen.drain.push(by),
    onConcurrency: (n, by) => seen.concurrency.push([n, by]),
  });
  watches.push(watch);
  await watch.start();
  const put = (key: string, value: unknown) => kv.put(key, Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));
  return { kv, seen, put, watch, core, streams };
}

describe('the control keys', () => {
  it('are pause, drain.<worker> and concurrency.<worker> (the keys altlas pause, drain and workers set write)', () => {
    expect(PAUSE_KEY).toBe('pause');
    expect(drainKey('w-1')).toBe('drain.w-1');
    expect(concurrencyKey('w-1')).toBe('concurrency.w-1');
  });
});

describe('isControlRecord', () => {
  it('takes a record with a non-empty by of at most 256 characters, an RFC 3339 at and no type', () => {
    expect(isControlRecord({ by: 'ops@host', at: AT })).toBe(true);
    expect(isControlRecord({ by: 'x'.repeat(256), at: AT, paused: true })).toBe(true);
    expect(isControlRecord({ by: 'x', at: AT, worker_id: ME, concurrency: 2 })).toBe(true);
  });

  it.each([
    ['null', null],
    ['an array', [{ by: 'ops', at: AT }]],
    ['a string', 'ops'],
    ['no by', { at: AT }],
    ['an empty by', { by: '', at: AT }],
    ['a by of 257 characters', { by: 'x'.repeat(257), at: AT }],
    ['a by that is no string', { by: 7, at: AT }],
    ['no at', { by: 'ops' }],
    ['an at that is no time', { by: 'ops', at: 'soon' }],
    ['an at that is no string (though Date.parse reads it)', { by: 'ops', at: 2026 }],
    ['an at that is an array (though Date.parse reads it)', { by: 'ops', at: ['2026-12-07'] }],
    ['a type (a JetStream API answer)', { by: 'ops', at: AT, type: 'io.nats.jetstream.api.v1.stream_info_response' }],
  ])('refuses %s', (_what, value) => {
    expect(isControlRecord(value)).toBe(false);
  });
});

describe('ControlWatch', () => {
  it('watches every key of its bucket only, from the values already there on', async () => {
    const { seen, put, core, watch } = await watching(async (kv) => {
      await kv.put(PAUSE_KEY, Buffer.from(JSON.stringify({ paused: true, by: 'ops', at: AT })));
    });
    expect(seen.pause).toEqual([[true, 'ops']]);
    await put(drainKey(ME), { worker_id: ME, by: 'ops', at: AT });
    expect(seen.drain).toEqual(['ops']);
    expect(core.subscriptions()).toBe(1);
    watch.stop();
    expect(core.subscriptions()).toBe(0);
    await put(concurrencyKey(ME), { worker_id: ME, concurrency: 3, by: 'ops', at: AT });
    expect(seen.concurrency).toEqual([]);
  });

  it('pauses and resumes on a pause record as altlas pause writes it, and resumes when it is deleted', async () => {
    const { kv, seen } = await watching();
    await writeControl(kv.asKv(), PAUSE_KEY, { paused: true, by: 'ops@host', at: AT });
    await writeControl(kv.asKv(), PAUSE_KEY, { paused: false, by: 'dashboard', at: AT });
    await kv.delete(PAUSE_KEY);
    expect(seen.pause).toEqual([[true, 'ops@host'], [false, 'dashboard'], [false, null]]);
  });

  it('takes a delete marker under the pause key as no pause, whatever its body', async () => {
    const { kv, seen, streams } = await watching();
    await writeControl(kv.asKv(), PAUSE_KEY, { paused: true, by: 'ops', at: AT });
    streams.append(kv.stream, `$KV.${BUCKET}.${PAUSE_KEY}`, Buffer.from(JSON.stringify({ paused: true, by: 'ops', at: AT })), 'DEL');
    expect(seen.pause).toEqual([[true, 'ops'], [false, null]]);
  });

  it('stops without having started', () => {
    expect(() => new ControlWatch({ nc: fakeCore(new FakeStreams()).nc, jsm: new FakeStreams().jsm(), bucket: BUCKET, workerId: ME, onPause: () => {}, onDrain: () => {}, onConcurrency: () => {} }).stop()).not.toThrow();
  });

  it('ignores a JetStream API answer stored under a control key through a reply subject, whatever it holds', async () => {
    const { seen, put } = await watching();
    const answer = { type: 'io.nats.jetstream.api.v1.stream_info_response', by: 'ops', at: AT, worker_id: ME };
    await put(PAUSE_KEY, { ...answer, paused: true });
    await put(drainKey(ME), answer);
    await put(concurrencyKey(ME), { ...answer, concurrency: 2 });
    expect(seen).toEqual({ pause: [], drain: [], concurrency: [] });
  });

  it('takes an empty value under the pause key as no pause', async () => {
    const { kv, seen } = await watching();
    await kv.put(PAUSE_KEY, new Uint8Array(0));
    expect(seen.pause).toEqual([[false, null]]);
  });

  it.each([
    ['an API answer', { type: 'io.nats.jetstream.api.v1.stream_info_response', paused: true, by: 'ops', at: AT }],
    ['no by', { paused: true, at: AT }],
    ['no at', { paused: true, by: 'ops' }],
    ['paused that is no boolean', { paused: 'yes', by: 'ops', at: AT }],
    ['not JSON', '{"paused": tru'],
    ['JSON null', 'null'],
  ])('ignores a pause value of %s', async (_what, value) => {
    const { seen, put } = await watching();
    await put(PAUSE_KEY, value);
    expect(seen.pause).toEqual([]);
  });

  it('drains on a drain record naming this worker under its own key, and on nothing else', async () => {
    const { kv, seen, put } = await watching();
    await put(drainKey(ME), { worker_id: 'worker.b', by: 'copied', at: AT });
    await put(drainKey(ME), { worker_id: ME, by: 'ops', at: AT, type: 'io.nats.jetstream.api.v1.consumer_info_response' });
    await put(drainKey(ME), { by: 'no-worker', at: AT });
    await put(drainKey('worker.b'), { worker_id: 'worker.b', by: 'theirs', at: AT });
    await put(`${drainKey(ME)}x`, { worker_id: ME, by: 'other-key', at: AT });
    await put(drainKey(ME), '{not json');
    await kv.delete(drainKey(ME));
    expect(seen.drain).toEqual([]);
    await put(drainKey(ME), { worker_id: ME, by: 'ops', at: AT });
    expect(seen.drain).toEqual(['ops']);
  });

  it('sets the concurrency from a record naming this worker with a whole number of at least 1, and from nothing else', async () => {
    const { kv, seen, put } = await watching();
    const record = (concurrency: unknown, worker = ME) => ({ worker_id: worker, concurrency, by: 'ops', at: AT });
    for (const bad of [0, -2, 2.5, '3', null]) await put(concurrencyKey(ME), record(bad));
    await put(concurrencyKey(ME), record(4, 'worker.b'));
    await put(concurrencyKey('worker.b'), record(4, 'worker.b'));
    await put(concurrencyKey('worker.b'), record(4));
    await put('workers', record(4));
    await put(concurrencyKey(ME), { ...record(4), at: 'later' });
    await put(concurrencyKey(ME), '[]');
    await kv.delete(concurrencyKey(ME));
    expect(seen.concurrency).toEqual([]);
    await put(concurrencyKey(ME), record(1));
    await put(concurrencyKey(ME), record(7));
    expect(seen.concurrency).toEqual([[1, 'ops'], [7, 'ops']]);
    expect(seen.pause).toEqual([]);
    expect(seen.drain).toEqual([]);
  });

  it('acts on a record only as what its key holds: a record under the concurrency key drains nothing, one under the drain key sets no concurrency and pauses nothing', async () => {
    const { seen, put } = await watching();
    await put(concurrencyKey(ME), { worker_id: ME, by: 'ops', at: AT });
    await put(drainKey(ME), { worker_id: ME, concurrency: 2, by: 'ops', at: AT, paused: true });
    expect(seen.concurrency).toEqual([]);
    expect(seen.pause).toEqual([]);
    expect(seen.drain).toEqual(['ops']);
  });
});
