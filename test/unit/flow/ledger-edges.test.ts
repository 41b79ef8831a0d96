/**
 * The edges of the reservation arithmetic (src/flow/ledger.ts) the examples and properties of
 * ledger.test.ts pass by: what a ledger refuses to be built or asked with, fixed periods from an
 * origin, a reservation of exactly the capacity, zero and negative charges, charges made out of
 * time order, and that no function changes the ledger it is given.
 */
import { describe, expect, it } from '@jest/globals';
import { charge, createLedger, fixedWindow, reserve, settle, slidingWindow, usedAt, withCapacity, type Ledger } from '../../../src/flow/ledger.ts';

const MIN = 60_000;
const ledger = (capacity = 100): Ledger => createLedger({ unit: 'tokens', capacity, window: slidingWindow(MIN) });

describe('what a ledger refuses', () => {
  it.each([0, -1, Number.NaN])('a window or a period of %p ms', (ms) => {
    expect(() => slidingWindow(ms)).toThrow(new RangeError(`a window must be > 0 ms (got ${ms})`));
    expect(() => fixedWindow(ms)).toThrow(new RangeError(`a period must be > 0 ms (got ${ms})`));
  });

  it.each([-1, Number.NaN])('a capacity of %p', (capacity) => {
    expect(() => ledger(capacity)).toThrow(new RangeError(`capacity must be >= 0 (got ${capacity})`));
    expect(() => withCapacity(ledger(), capacity)).toThrow(new RangeError(`capacity must be >= 0 (got ${capacity})`));
  });

  it.each([-1, Number.NaN])('a reservation of %p', (amount) => {
    expect(() => reserve(ledger(), { id: 'a', amount, now: 0, ttlMs: 1 })).toThrow(new RangeError(`a reservation must be >= 0 (got ${amount})`));
  });

  it('takes the smallest window, a capacity of 0 and a reservation of 0', () => {
    expect(slidingWindow(1).dropsAt(5)).toBe(6);
    expect(fixedWindow(1).dropsAt(5)).toBe(6);
    expect(withCapacity(ledger(), 0).capacity).toBe(0);
    expect(reserve(ledger(0), { id: 'a', amount: 0, now: 0, ttlMs: 1 }).ok).toBe(true);
  });
});

describe('fixed periods', () => {
  it('run from their origin: a charge drops at the end of the period it was made in', () => {
    const w = fixedWindow(1_000, 300);
    expect([w.dropsAt(300), w.dropsAt(1_250), w.dropsAt(1_299), w.dropsAt(1_300)]).toEqual([1_300, 1_300, 1_300, 2_300]);
  });
});

describe('reserve', () => {
  it('refuses a reservation of exactly the capacity behind charges with the wait until they drop, not as never fitting', () => {
    const l = charge(ledger(), 50, 0);
    expect(reserve(l, { id: 'a', amount: 100, now: 10_000, ttlMs: 1 })).toMatchObject({ ok: false, waitMs: 50_000 });
    expect(reserve(l, { id: 'a', amount: 101, now: 10_000, ttlMs: 1 })).toMatchObject({ ok: false, waitMs: Number.POSITIVE_INFINITY });
  });
});

describe('charge', () => {
  it('adds nothing for a charge of 0 or less', () => {
    const l = charge(ledger(), 40, 0);
    for (const amount of [0, -30]) {
      const after = charge(l, amount, 1_000);
      expect({ amount, charges: after.charges, used: usedAt(after, 1_000) }).toEqual({ amount, charges: l.charges, used: 40 });
    }
  });

  it('drops the charges that ended even when it adds nothing', () => {
    const l = charge(ledger(), 40, 0);
    expect(charge(l, 0, MIN)).toEqual({ ...l, charges: [] });
  });

  it('keeps charges made out of time order by drop time, each dropping at its own', () => {
    let l = charge(ledger(1e6), 10, 30_000);
    l = charge(l, 20, 0);
    l = charge(l, 5, 15_000);
    expect(l.charges).toEqual([{ amount: 20, dropsAt: 60_000 }, { amount: 5, dropsAt: 75_000 }, { amount: 10, dropsAt: 90_000 }]);
    expect([usedAt(l, 59_999), usedAt(l, 60_000), usedAt(l, 75_000), usedAt(l, 90_000)]).toEqual([35, 15, 10, 0]);
  });

  it('never changes the ledger it is given (a ledger is a value)', () => {
    const l = charge(ledger(1e6), 10, 0);
    const before = structuredClone(l.charges);
    charge(l, 7, 30_000);
    charge(l, 3, 0);
    settle(reserve(l, { id: 'a', amount: 1, now: 0, ttlMs: 1 }).ledger, 'a', 9, 30_000);
    expect(l.charges).toEqual(before);
  });
});
