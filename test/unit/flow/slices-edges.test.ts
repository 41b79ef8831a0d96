/**
 * The edges of a fleet's slices (src/flow/slices.ts) that slices.test.ts's examples and property
 * pass by: fair shares whatever the order of the wants, the tails of a ledger's excess (dropped
 * charges, holds, the cap on their number), the learned limit, the entry without a limit, what the
 * fleet holds of an entry at an instant, and what is no entry.
 */
import { describe, expect, it } from '@jest/globals';
import { charge, createLedger, reserve, slidingWindow, type Ledger } from '../../../src/flow/ledger.ts';
import { emptyEntry, excessTails, fairShares, occupiedAt, parseEntry, planSlice, returnSlice, type PlanInput, type SliceEntry } from '../../../src/flow/slices.ts';

const MIN = 60_000;
const window = slidingWindow(MIN);
const ledger = (capacity = 1e9): Ledger => createLedger({ unit: 'tokens', capacity, window });
const entry = (e: Partial<SliceEntry>): SliceEntry => ({ ...emptyEntry('tokens', MIN), ...e });
const FAR = 1e12;

/** Worker `worker`'s plan at `now` with a configured limit of 100 and a want of 100, unless told. */
const plan = (prev: SliceEntry | null, worker: string, now: number, o: Partial<PlanInput> = {}) => planSlice(prev, {
  worker, now, leaseMs: MIN, window, unit: 'tokens', configured: 100, learned: null, want: 100, ledger: ledger(), holdTtlMs: 5_000, ...o,
});

describe('emptyEntry', () => {
  it('holds no slice, no tail and no learned limit', () => {
    expect(emptyEntry('tokens', MIN)).toEqual({ v: 1, unit: 'tokens', window_ms: MIN, learned: null, learned_at: null, slices: {}, tails: [] });
  });
});

describe('fairShares', () => {
  it('gives the same shares whatever the order the wants come in', () => {
    const shares = new Map([['a', 10], ['b', 40], ['c', 40]]);
    expect(fairShares(90, new Map([['b', 100], ['c', 100], ['a', 10]]))).toEqual(shares);
    expect(fairShares(90, new Map([['c', 100], ['a', 10], ['b', 100]]))).toEqual(shares);
  });

  it('gives the unit left over by rounding to the last by name among equal wants', () => {
    expect(fairShares(10, new Map([['c', 100], ['a', 100], ['b', 100]]))).toEqual(new Map([['a', 3], ['b', 3], ['c', 4]]));
  });
});

describe('excessTails', () => {
  it('counts only the charges still in the window at that instant', () => {
    let l = charge(ledger(), 30, 0); // drops at 60 s
    l = charge(l, 20, 30_000); // drops at 90 s
    expect(excessTails(l, 0, 'a', 60_000, 5_000)).toEqual([{ amount: 20, free_at: 90_000, of: 'a' }]);
    expect(excessTails(l, 0, 'a', 59_999, 5_000)).toEqual([{ amount: 30, free_at: 60_000, of: 'a' }, { amount: 20, free_at: 90_000, of: 'a' }]);
  });

  it('takes the charges that drop first as the excess, and no more than the excess', () => {
    let l = charge(ledger(), 30, 0);
    l = charge(l, 20, 30_000);
    expect(excessTails(l, 20, 'a', 1_000, 5_000)).toEqual([{ amount: 30, free_at: 60_000, of: 'a' }]);
    expect(excessTails(l, 25, 'a', 1_000, 5_000)).toEqual([{ amount: 25, free_at: 60_000, of: 'a' }]);
    expect(excessTails(l, 50, 'a', 1_000, 5_000)).toEqual([]);
  });

  it('counts what holds are as spent, freeing one window after they must have been settled', () => {
    const held = reserve(charge(ledger(), 50, 0), { id: 'h', amount: 30, now: 1_000, ttlMs: 5_000 });
    if (!held.ok) throw new Error('the hold fits');
    expect(excessTails(held.ledger, 20, 'a', 1_000, 5_000)).toEqual([{ amount: 50, free_at: 60_000, of: 'a' }, { amount: 10, free_at: 66_000, of: 'a' }]);
    expect(excessTails(held.ledger, 50, 'a', 1_000, 5_000)).toEqual([{ amount: 30, free_at: 60_000, of: 'a' }]);
  });

  it('keeps 16 tails at most: the earliest 15, the rest summed into one freeing with the last', () => {
    let l = ledger();
    for (let i = 0; i < 20; i++) l = charge(l, i + 1, i * 1_000);
    const tails = excessTails(l, 0, 'a', 0, 5_000);
    expect(tails).toHaveLength(16);
    expect(tails.slice(0, 15)).toEqual(Array.from({ length: 15 }, (_, i) => ({ amount: i + 1, free_at: MIN + i * 1_000, of: 'a' })));
    expect(tails[15]).toEqual({ amount: 16 + 17 + 18 + 19 + 20, free_at: MIN + 19_000, of: 'a' });
  });
});

describe('planSlice', () => {
  it('takes no more than the worker wants, and nothing for a negative want', () => {
    expect(plan(null, 'm', 0, { want: 10 })).toMatchObject({ spendable: 10, entry: { slices: { m: { amount: 10, want: 10 } } } });
    expect(plan(null, 'm', 0, { want: -5 })).toMatchObject({ spendable: 0, entry: { slices: { m: { amount: 0, want: 0 } } } });
  });

  it('divides what the others\' tails leave, not the whole limit', () => {
    const prev = entry({ slices: { o: { amount: 0, until: FAR, want: 100 } }, tails: [{ amount: 60, free_at: FAR, of: 'o' }] });
    expect(plan(prev, 'm', 0).spendable).toBe(20);
  });

  it('weighs the others\' wants only up to the limit (the unit left over by rounding goes by name)', () => {
    const prev = entry({ slices: { a: { amount: 0, until: FAR, want: 1e9 } } });
    expect(plan(prev, 'm', 0, { configured: 101, want: 101 }).spendable).toBe(51);
  });

  it('turns an ended lease into a tail only when its slice held something', () => {
    const prev = entry({ slices: { dead: { amount: 0, until: 10, want: 50 }, gone: { amount: 30, until: 10, want: 50 } } });
    expect(plan(prev, 'm', 100).entry.tails).toEqual([{ amount: 30, free_at: 10 + MIN, of: 'gone' }]);
  });

  it('takes a learned limit newer than the entry\'s, not one as old', () => {
    const prev = entry({ learned: 80, learned_at: 5 });
    expect(plan(prev, 'm', 0, { configured: null, learned: { value: 60, at: 10 } })).toMatchObject({ limit: 60, learned: { value: 60, at: 10 } });
    expect(plan(prev, 'm', 0, { configured: null, learned: { value: 70, at: 5 } })).toMatchObject({ limit: 80, learned: { value: 80, at: 5 } });
    expect(plan(null, 'm', 0, { configured: null, learned: { value: 70, at: 5 } })).toMatchObject({ limit: 70, learned: { value: 70, at: 5 } });
    // An entry that knows none takes it whenever it was learned (a clock from 0).
    expect(plan(null, 'm', 0, { configured: null, learned: { value: 70, at: 0 } })).toMatchObject({ limit: 70, learned: { value: 70, at: 0 } });
  });

  it('knows no learned limit from an entry that has no time for it, or no value', () => {
    expect(plan(entry({ learned: 50, learned_at: null }), 'm', 0).learned).toBeNull();
    expect(plan(entry({ learned: null, learned_at: 5 }), 'm', 0).learned).toBeNull();
    expect(plan(null, 'm', 0).learned).toBeNull();
  });

  it('without a known limit keeps the others\' slices and tails and writes its own spending as tails, no slice', () => {
    const prev = entry({ slices: { b: { amount: 40, until: FAR, want: 40 } }, tails: [{ amount: 5, free_at: FAR, of: 'b' }, { amount: 9, free_at: FAR, of: 'm' }] });
    const p = plan(prev, 'm', 0, { configured: null, ledger: charge(ledger(), 12, 0) });
    expect(p.spendable).toBe(Number.POSITIVE_INFINITY);
    expect(p.entry).toEqual(entry({ limit: null, slices: { b: { amount: 40, until: FAR, want: 40 } }, tails: [{ amount: 5, free_at: FAR, of: 'b' }, { amount: 12, free_at: MIN, of: 'm' }] }));
  });
});

describe('returnSlice', () => {
  it('replaces the worker\'s own tails by what it still has in the window, and keeps the others\'', () => {
    const prev = entry({ slices: { a: { amount: 50, until: FAR, want: 50 } }, tails: [{ amount: 9, free_at: FAR, of: 'a' }, { amount: 5, free_at: FAR, of: 'b' }] });
    expect(returnSlice(prev, 'a', ledger(), 0, 5_000)).toEqual(entry({ tails: [{ amount: 5, free_at: FAR, of: 'b' }] }));
  });
});

describe('occupiedAt', () => {
  it('adds the slices whose lease has not ended and the tails not freed, at that instant', () => {
    const e = entry({
      slices: { x: { amount: 10, until: 100, want: 10 }, y: { amount: 20, until: 99, want: 20 } },
      tails: [{ amount: 5, free_at: 100, of: 'x' }, { amount: 7, free_at: 99, of: 'y' }],
    });
    expect([occupiedAt(e, 98), occupiedAt(e, 99), occupiedAt(e, 100)]).toEqual([42, 15, 0]);
  });
});

describe('parseEntry', () => {
  it('reads an entry of version 1', () => {
    const e = entry({ slices: { a: { amount: 1, until: 2, want: 3 } } });
    expect(parseEntry(Buffer.from(JSON.stringify(e)))).toEqual(e);
  });

  it.each([
    ['not JSON', '{"v":1'],
    ['JSON null', 'null'],
    ['another version', JSON.stringify({ ...emptyEntry('tokens', MIN), v: 2 })],
    ['slices null', JSON.stringify({ ...emptyEntry('tokens', MIN), slices: null })],
    ['slices not an object', JSON.stringify({ ...emptyEntry('tokens', MIN), slices: 'a' })],
    ['tails not a list', JSON.stringify({ ...emptyEntry('tokens', MIN), tails: {} })],
  ])('takes %s for none', (_what, text) => {
    expect(parseEntry(Buffer.from(text))).toBeNull();
  });
});
