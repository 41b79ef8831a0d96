/**
 * The checkpoint store and the claim (compare-and-set on the entry's revision) against an
 * in-memory bucket: the writes it makes, the races it loses, the outputs it moves to the object
 * store, and what it removes.
 */
import { describe, expect, it } from '@jest/globals';
import type { TaskResult } from '../../../src/engine/types.ts';
import type { Codec } from '../../../src/security/codec.ts';
import { CheckpointBudget, CheckpointStore, type Claim } from '../../../src/status/checkpoints.ts';
import { FakeKv, FakeStreams, fakeObjectStore } from '../../helpers/fake-store.ts';

const enc = new TextEncoder();

/** A codec that tags what it seals with the context it was given, and refuses another context on open. */
const taggingCodec: Codec = {
  encrypts: true,
  keyId: 'k',
  seal: (b, aad) => Buffer.concat([Buffer.from(`${aad}|`), b]),
  open: (b, aad) => {
    const tag = Buffer.from(`${aad}|`);
    if (Buffer.from(b).subarray(0, tag.length).compare(tag) !== 0) throw new Error(`sealed for another context than ${aad}`);
    return Buffer.from(b).subarray(tag.length);
  },
};

function setup(o: { maxValue?: number; codec?: Codec } = {}) {
  const s = new FakeStreams();
  const kv = new FakeKv(s, 'CP');
  const store = new CheckpointStore({ kv: kv.asKv(), bucket: 'CP', obj: fakeObjectStore(s, 'OBJ'), objBucket: 'OBJ', jsm: s.jsm(), maxValue: o.maxValue ?? 1_024, ...(o.codec ? { codec: o.codec } : {}) });
  return { s, kv, store };
}

const result = (id: string, text: string, status: TaskResult['status'] = 'completed', durationMs = 10): TaskResult => ({
  task_id: id, status, start_time: null, end_time: null, duration_ms: durationMs, error: null, error_code: null, attempts: 1, metadata: {},
  output: { text, model_used: 'm', tokens_used: 1, processing_time_ms: 1 },
});

describe('claim: a compare-and-set on the entry\'s revision', () => {
  it('the first claim creates the entry, naming the delivery and the worker', async () => {
    const { kv, store } = setup();
    expect(await store.claim('ALT', 7, 2, 'w1')).toBe(true);
    expect(kv.calls.map((c) => c.op)).toEqual(['get', 'create']);
    expect(kv.calls[1].key).toBe('ALT.7.claim');
    const claim = kv.value<Claim>('ALT.7.claim');
    expect(claim).toMatchObject({ deliveries: 2, worker: 'w1' });
    expect(Number.isNaN(Date.parse(claim!.at))).toBe(false);
    expect(await store.claimedBy('ALT', 7)).toBe(2);
  });

  it('a newer delivery takes the claim by updating the revision it read', async () => {
    const { kv, store } = setup();
    await store.claim('ALT', 7, 2, 'w1');
    const revision = kv.calls.length;
    expect(await store.claim('ALT', 7, 3, 'w2')).toBe(true);
    const update = kv.calls.slice(revision).find((c) => c.op === 'update');
    expect(update).toEqual({ op: 'update', key: 'ALT.7.claim', revision: 1 });
    expect(kv.value<Claim>('ALT.7.claim')).toMatchObject({ deliveries: 3, worker: 'w2' });
    expect(await store.claimedBy('ALT', 7)).toBe(3);
  });

  it('refuses when a newer or the same delivery holds the claim, and writes nothing', async () => {
    const { kv, store } = setup();
    await store.claim('ALT', 7, 3, 'w2');
    const writes = () => kv.calls.filter((c) => c.op !== 'get').length;
    const before = writes();
    expect(await store.claim('ALT', 7, 2, 'w1')).toBe(false);
    expect(await store.claim('ALT', 7, 3, 'w1')).toBe(false);
    expect(writes()).toBe(before);
    expect(kv.value<Claim>('ALT.7.claim')).toMatchObject({ deliveries: 3, worker: 'w2' });
  });

  it('loses the race when a newer delivery claims between its read and its write (no blind overwrite)', async () => {
    const { kv, store } = setup();
    await store.claim('ALT', 7, 2, 'w1');
    // Delivery 3 reads the claim of delivery 2; delivery 4 claims before delivery 3 writes.
    kv.between('get', async () => {
      expect(await store.claim('ALT', 7, 4, 'w4')).toBe(true);
    });
    expect(await store.claim('ALT', 7, 3, 'w3')).toBe(false);
    expect(kv.value<Claim>('ALT.7.claim')).toMatchObject({ deliveries: 4, worker: 'w4' });
    expect(await store.claimedBy('ALT', 7)).toBe(4);
  });

  it('loses the race for the first claim too: a create over an entry written meanwhile fails, and the claim is read again', async () => {
    const { kv, store } = setup();
    kv.between('get', async () => {
      expect(await store.claim('ALT', 7, 3, 'w3')).toBe(true);
    });
    expect(await store.claim('ALT', 7, 2, 'w2')).toBe(false);
    expect(kv.value<Claim>('ALT.7.claim')).toMatchObject({ deliveries: 3, worker: 'w3' });
  });

  it('wins after a race lost to an older delivery: it reads again and updates', async () => {
    const { kv, store } = setup();
    await store.claim('ALT', 7, 1, 'w1');
    kv.between('get', async () => {
      expect(await store.claim('ALT', 7, 2, 'w2')).toBe(true);
    });
    expect(await store.claim('ALT', 7, 3, 'w3')).toBe(true);
    expect(kv.value<Claim>('ALT.7.claim')).toMatchObject({ deliveries: 3, worker: 'w3' });
  });

  it('gives up after three lost races (and says it does not hold the claim)', async () => {
    const { kv, store } = setup();
    await store.claim('ALT', 7, 1, 'w1');
    for (let i = 0; i < 4; i++) {
      kv.between('update', async () => {
        await kv.put('ALT.7.claim', enc.encode(JSON.stringify({ deliveries: 1, worker: 'other', at: '' })));
      });
    }
    const from = kv.calls.length;
    expect(await store.claim('ALT', 7, 5, 'w5')).toBe(false);
    expect(kv.calls.slice(from).filter((c) => c.op === 'get')).toHaveLength(3);
    expect(kv.calls.slice(from).filter((c) => c.op === 'update')).toHaveLength(3);
    expect(kv.value<Claim>('ALT.7.claim')).toMatchObject({ deliveries: 1, worker: 'other' });
  });

  it('claims again once the entry was deleted (the message\'s records cleared)', async () => {
    const { kv, store } = setup();
    await store.claim('ALT', 7, 3, 'w3');
    await store.clear('ALT', 7);
    expect(await store.claimedBy('ALT', 7)).toBe(0);
    expect(await store.claim('ALT', 7, 1, 'w1')).toBe(true);
    expect(kv.calls.at(-1)?.op).toBe('create');
    expect(await store.claimedBy('ALT', 7)).toBe(1);
  });

  it('fails (does not say it holds the claim) when the claim cannot be read', async () => {
    const { kv, store } = setup();
    kv.failing = new Error('no responders');
    await expect(store.claim('ALT', 7, 2, 'w')).rejects.toThrow('no responders');
    await expect(store.claimedBy('ALT', 7)).rejects.toThrow('no responders');
  });

  it('keys the claim by the stream\'s subject token and the sequence', async () => {
    const { kv, store } = setup();
    await store.claim('my stream', 12, 2, 'w');
    expect(kv.calls.find((c) => c.op === 'create')?.key).toMatch(/^my_stream-[0-9a-f]{8}\.12\.claim$/);
    expect(await store.claimedBy('my stream', 12)).toBe(2);
    expect(await store.claimedBy('my stream', 13)).toBe(0);
  });
});

describe('checkpoint batches', () => {
  it('stores a batch under <stream>.<seq>.c.<delivery>-<n> and loads the completed results back', async () => {
    const { kv, store } = setup();
    expect(await store.saveBatch('ALT', 7, 2, 0, [result('a', 'A'), result('b', 'B', 'failed')])).toEqual([]);
    expect(kv.calls).toEqual([{ op: 'put', key: 'ALT.7.c.2-0' }]);
    const { results, objects } = await store.load('ALT', 7);
    expect([...results.keys()]).toEqual(['a']);
    expect(results.get('a')?.output?.text).toBe('A');
    expect(objects).toEqual([]);
    expect((await store.load('ALT', 8)).results.size).toBe(0);
  });

  it('loads batches in key order, so a later delivery\'s result of a task wins', async () => {
    const { store } = setup();
    await store.saveBatch('ALT', 7, 2, 0, [result('a', 'second')]);
    await store.saveBatch('ALT', 7, 1, 0, [result('a', 'first'), result('b', 'B')]);
    await store.saveBatch('ALT', 7, 1, 1, [result('c', 'C')]);
    const { results } = await store.load('ALT', 7);
    expect(results.get('a')?.output?.text).toBe('second');
    expect([...results.keys()].sort()).toEqual(['a', 'b', 'c']);
  });

  it('orders batches by key whatever order the bucket lists them in', async () => {
    const { store } = setup();
    for (const delivery of [3, 1, 5, 2, 4]) await store.saveBatch('ALT', 7, delivery, 0, [result('a', `from ${delivery}`)]);
    expect((await store.load('ALT', 7)).results.get('a')?.output?.text).toBe('from 5');
    const other = setup();
    for (const delivery of [4, 2, 5, 1, 3]) await other.store.saveBatch('ALT', 7, delivery, 0, [result('a', `from ${delivery}`)]);
    expect((await other.store.load('ALT', 7)).results.get('a')?.output?.text).toBe('from 5');
  });

  it('moves an output larger than a quarter of the value size to the object store, and reads it back', async () => {
    const { s, kv, store } = setup({ maxValue: 400 });
    const big = 'x'.repeat(101);
    const names = await store.saveBatch('ALT', 7, 1, 0, [result('small', 'y'.repeat(100)), result('big', big)]);
    expect(names).toEqual(['cp/ALT.7/big']);
    const stored = JSON.parse(Buffer.from(s.last(kv.stream, '$KV.CP.ALT.7.c.1-0')!.data).toString()) as { results: TaskResult[]; refs: Record<string, string> };
    expect(stored.refs).toEqual({ big: 'cp/ALT.7/big' });
    expect(stored.results.find((r) => r.task_id === 'big')?.output?.text).toBe('');
    expect(stored.results.find((r) => r.task_id === 'small')?.output?.text).toBe('y'.repeat(100));
    const { results, objects } = await store.load('ALT', 7);
    expect(results.get('big')?.output?.text).toBe(big);
    expect(results.get('small')?.output?.text).toBe('y'.repeat(100));
    expect(objects).toEqual(['cp/ALT.7/big']);
  });

  it('a batch with nothing moved has no refs, and a result without output stays inline', async () => {
    const { s, kv, store } = setup({ maxValue: 4 });
    await store.saveBatch('ALT', 7, 1, 0, [{ ...result('n', ''), output: null }]);
    expect(JSON.parse(Buffer.from(s.last(kv.stream, '$KV.CP.ALT.7.c.1-0')!.data).toString())).not.toHaveProperty('refs');
  });

  it('runs a task again whose output object is gone', async () => {
    const { s, store } = setup({ maxValue: 40 });
    await store.saveBatch('ALT', 7, 1, 0, [result('big', 'z'.repeat(50)), result('small', 'ok')]);
    s.streams.set('OBJ_OBJ', []);
    const { results, objects } = await store.load('ALT', 7);
    expect(results.has('big')).toBe(false);
    expect(results.get('small')?.output?.text).toBe('ok');
    expect(objects).toEqual(['cp/ALT.7/big']);
  });

  it('seals each value and object for its own key and name', async () => {
    const { s, kv, store } = setup({ maxValue: 40, codec: taggingCodec });
    await store.saveBatch('ALT', 7, 1, 0, [result('big', 'z'.repeat(50))]);
    expect(Buffer.from(s.last(kv.stream, '$KV.CP.ALT.7.c.1-0')!.data).toString()).toMatch(/^kv:ALT\.7\.c\.1-0\|/);
    const chunk = s.messages('OBJ_OBJ').find((m) => m.subject.startsWith('$O.OBJ.C.'));
    expect(Buffer.from(chunk!.data).toString()).toBe(`obj:cp/ALT.7/big|${'z'.repeat(50)}`);
    expect((await store.load('ALT', 7)).results.get('big')?.output?.text).toBe('z'.repeat(50));
  });

  it('ignores deleted and empty entries', async () => {
    const { kv, store } = setup();
    await store.saveBatch('ALT', 7, 1, 0, [result('a', 'A')]);
    await kv.delete('ALT.7.c.1-0');
    await kv.put('ALT.7.c.1-1', new Uint8Array(0));
    expect((await store.load('ALT', 7)).results.size).toBe(0);
  });

  it('clear without object names reads nothing of the object store', async () => {
    const { s, store } = setup({ maxValue: 40 });
    await store.saveBatch('ALT', 7, 1, 0, [result('big', 'z'.repeat(50))]);
    s.reads.length = 0;
    await store.clear('ALT', 7);
    expect(s.reads.filter((r) => r === 'OBJ_OBJ')).toEqual([]);
    expect(s.messages('OBJ_OBJ')).toHaveLength(2);
  });

  it('clear deletes every record of the message (and only of it), and removes the objects named', async () => {
    const { s, kv, store } = setup({ maxValue: 40 });
    const names = await store.saveBatch('ALT', 7, 1, 0, [result('big', 'z'.repeat(50))]);
    await store.saveBatch('ALT', 7, 1, 1, [result('a', 'A')]);
    await store.saveBatch('ALT', 8, 1, 0, [result('a', 'A')]);
    await store.claim('ALT', 7, 2, 'w');
    await kv.delete('ALT.7.c.0-0');
    kv.calls.length = 0;
    await store.clear('ALT', 7, names);
    expect(kv.calls.map((c) => `${c.op} ${c.key}`).sort()).toEqual(['delete ALT.7.c.1-0', 'delete ALT.7.c.1-1', 'delete ALT.7.claim']);
    expect((await store.load('ALT', 7)).results.size).toBe(0);
    expect((await store.load('ALT', 8)).results.size).toBe(1);
    expect(s.messages('OBJ_OBJ')).toHaveLength(0);
    // An object that cannot be removed (its chunk is gone: reading it fails) does not fail the clear.
    const lost = await store.saveBatch('ALT', 9, 1, 0, [result('big', 'z'.repeat(50))]);
    s.streams.set('OBJ_OBJ', s.messages('OBJ_OBJ').filter((m) => !m.subject.startsWith('$O.OBJ.C.')));
    await expect(store.clear('ALT', 9, lost)).resolves.toBeUndefined();
    expect(await store.load('ALT', 9)).toEqual({ results: new Map(), objects: [] });
  });
});

describe('CheckpointBudget by AI time', () => {
  it('writes once the AI time would exceed the budget (not at exactly it), in order, one batch at a time', async () => {
    const written: string[][] = [];
    let inFlight = 0;
    let most = 0;
    const budget = new CheckpointBudget(100, async (b) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setImmediate(r));
      written.push(b.map((r) => r.task_id));
      inFlight--;
    });
    budget.add(result('a', 'A', 'completed', 60));
    budget.add(result('b', 'B', 'completed', 40));
    expect(budget.unsavedMs).toBe(100);
    expect(budget.batches).toBe(0);
    budget.add(result('c', 'C', 'completed', 1));
    expect(budget.unsavedMs).toBe(0);
    budget.add(result('d', 'D', 'completed', 101));
    await budget.settled();
    expect(written).toEqual([['a', 'b', 'c'], ['d']]);
    expect(budget.batches).toBe(2);
    expect(most).toBe(1);
  });

  it('flush writes what is pending, and nothing when nothing is', async () => {
    const written: string[][] = [];
    const budget = new CheckpointBudget(1_000, async (b) => void written.push(b.map((r) => r.task_id)));
    await budget.flush();
    expect(written).toEqual([]);
    expect(budget.batches).toBe(0);
    budget.add(result('a', 'A'));
    await budget.flush();
    await budget.flush();
    expect(written).toEqual([['a']]);
    expect(budget.batches).toBe(1);
  });

  it('a budget of 0 writes every result at once', async () => {
    const written: string[][] = [];
    const budget = new CheckpointBudget(0, async (b) => void written.push(b.map((r) => r.task_id)));
    budget.add(result('a', 'A', 'completed', 1));
    budget.add(result('b', 'B', 'completed', 1));
    await budget.settled();
    expect(written).toEqual([['a'], ['b']]);
  });
});

describe('CheckpointBudget by money', () => {
  it('counts no money for a result without output or cost, and writes only above the budget (not at exactly it)', async () => {
    const written: string[][] = [];
    const budget = new CheckpointBudget(60_000, async (b) => void written.push(b.map((r) => r.task_id)), 50);
    budget.add({ ...result('none', ''), output: null });
    budget.add(result('nocost', 'x'));
    expect(budget.unsavedNanos).toBe(0);
    budget.add({ ...result('exact', 'x'), output: { ...result('exact', 'x').output!, cost: 50e-9 } });
    expect(budget.unsavedNanos).toBe(50);
    expect(written).toEqual([]);
    budget.add({ ...result('over', 'x'), output: { ...result('over', 'x').output!, cost: 1e-9 } });
    await budget.settled();
    expect(written).toEqual([['none', 'nocost', 'exact', 'over']]);
  });
});
