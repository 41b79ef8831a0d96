import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  FOREVER, availableAt, charge, createLedger, expire, fixedWindow, heldOf, reserve, settle, slidingWindow, usedAt, withCapacity, type Ledger, type Window,
} from '../../../src/flow/ledger.ts';

const MIN = 60_000;

/** A random run of operations on one ledger: time passes, reservations, settles (at most the hold), expiries. */
const op = fc.oneof(
  fc.record({ kind: fc.constant('wait' as const), ms: fc.oneof(fc.integer({ min: 0, max: 1_500 }), fc.integer({ min: 0, max: 70_000 })) }),
  fc.record({ kind: fc.constant('reserve' as const), amount: fc.integer({ min: 0, max: 3_000 }), ttlMs: fc.integer({ min: 1, max: 200_000 }) }),
  // Settles mostly spend the whole hold: that is what fills a window.
  fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(), share: fc.oneof(fc.constant(1), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })) }),
  fc.record({ kind: fc.constant('expire' as const) }),
);

interface Run {
  ledger: Ledger;
  /** Every charge as made: when, and how much (from settles and expiries). */
  charges: { at: number; amount: number }[];
  refusals: number;
}

function play(window: Window, capacity: number, ops: fc.Arbitrary<typeof op extends fc.Arbitrary<infer T> ? T : never>[] | unknown[], start = 1_700_000_000_000): Run {
  let ledger = createLedger({ unit: 'tokens', capacity, window });
  let now = start;
  let n = 0;
  const charges: Run['charges'] = [];
  let refusals = 0;
  for (const o of ops as { kind: string; ms?: number; amount?: number; ttlMs?: number; pick?: number; share?: number }[]) {
    if (o.kind === 'wait') now += o.ms!;
    else if (o.kind === 'reserve') {
      const r = reserve(ledger, { id: `h${n++}`, amount: o.amount!, now, ttlMs: o.ttlMs! });
      ledger = r.ledger;
      if (!r.ok) refusals++;
    } else if (o.kind === 'settle' && ledger.holds.length) {
      const h = ledger.holds[o.pick! % ledger.holds.length];
      const actual = Math.floor(h.amount * o.share!);
      ledger = settle(ledger, h.id, actual, now).ledger;
      if (actual > 0) charges.push({ at: now, amount: actual });
    } else if (o.kind === 'expire') {
      const e = expire(ledger, now);
      ledger = e.ledger;
      for (const h of e.expired) if (h.amount > 0) charges.push({ at: now, amount: h.amount });
    }
  }
  return { ledger, charges, refusals };
}

describe('ledger', () => {
  it('holds a reservation that fits and refuses one that does not, with the wait until the window drops enough', () => {
    let l = createLedger({ unit: 'tokens', capacity: 1_000, window: slidingWindow(MIN) });
    const a = reserve(l, { id: 'a', amount: 600, now: 0, ttlMs: 10_000 });
    expect(a.ok).toBe(true);
    l = a.ledger;
    expect(heldOf(l)).toBe(600);
    l = settle(l, 'a', 500, 1_000).ledger; // 100 refunded, 500 charged at t=1 s
    expect(usedAt(l, 1_000)).toBe(500);
    expect(availableAt(l, 1_000)).toBe(500);
    const b = reserve(l, { id: 'b', amount: 700, now: 2_000, ttlMs: 10_000 });
    expect(b.ok).toBe(false);
    // The 500 charged at 1 s drop at 61 s (bucketed to the second).
    expect(!b.ok && b.waitMs).toBe(59_000);
    expect(reserve(l, { id: 'b', amount: 700, now: 60_999, ttlMs: 1 }).ok).toBe(false);
    expect(reserve(l, { id: 'b', amount: 700, now: 61_000, ttlMs: 1 }).ok).toBe(true);
    expect(!b.ok && reserve(l, { id: 'c', amount: 1_001, now: 0, ttlMs: 1 })).toMatchObject({ ok: false, waitMs: Number.POSITIVE_INFINITY });
  });

  it('says when only a settle can make room (waitMs null)', () => {
    const l = reserve(createLedger({ unit: 'requests', capacity: 2, window: slidingWindow(MIN) }), { id: 'a', amount: 2, now: 0, ttlMs: 1_000 }).ledger;
    expect(reserve(l, { id: 'b', amount: 1, now: 10, ttlMs: 1_000 })).toMatchObject({ ok: false, waitMs: null });
  });

  it('charges more than the hold when a settle says so (the overshoot delays what follows)', () => {
    let l = reserve(createLedger({ unit: 'tokens', capacity: 1_000, window: slidingWindow(MIN) }), { id: 'a', amount: 100, now: 0, ttlMs: 1_000 }).ledger;
    l = settle(l, 'a', 1_200, 0).ledger;
    expect(availableAt(l, 0)).toBe(-200);
    expect(settle(l, 'a', 50, 10)).toMatchObject({ hold: null }); // settled already: nothing more charged
    expect(usedAt(settle(l, 'a', 50, 10).ledger, 10)).toBe(1_200);
  });

  it('charges an expired hold in full (its holder is gone)', () => {
    let l = reserve(createLedger({ unit: 'tokens', capacity: 1_000, window: slidingWindow(MIN) }), { id: 'a', amount: 300, now: 0, ttlMs: 5_000 }).ledger;
    expect(expire(l, 4_999).expired).toEqual([]);
    const e = expire(l, 5_000);
    l = e.ledger;
    expect(e.expired.map((h) => h.id)).toEqual(['a']);
    expect([heldOf(l), usedAt(l, 5_000)]).toEqual([0, 300]);
  });

  it('keeps at most one charge per bucket', () => {
    let l = createLedger({ unit: 'tokens', capacity: 1e9, window: slidingWindow(MIN) });
    for (let t = 0; t < 120_000; t += 10) l = charge(l, 1, t);
    expect(l.charges.length).toBeLessThanOrEqual(61);
    expect(usedAt(l, 119_990)).toBeGreaterThanOrEqual(6_000);
    // A bucket counts a charge a little longer than its window, never shorter.
    const one = charge(createLedger({ unit: 'tokens', capacity: 10, window: slidingWindow(MIN) }), 5, 1_500);
    expect([usedAt(one, 61_499), usedAt(one, 61_999), usedAt(one, 62_000)]).toEqual([5, 5, 0]);
  });

  it('fixed windows drop every charge of a period at its end; FOREVER never', () => {
    const day = fixedWindow(86_400_000);
    let l = charge(createLedger({ unit: 'usd_micros', capacity: 100, window: day }), 100, 86_400_000 - 1);
    expect(reserve(l, { id: 'x', amount: 1, now: 86_400_000 - 1, ttlMs: 1 }).ok).toBe(false);
    expect(reserve(l, { id: 'x', amount: 100, now: 86_400_000, ttlMs: 1 }).ok).toBe(true);
    l = charge(createLedger({ unit: 'usd_micros', capacity: 100, window: FOREVER }), 60, 0);
    expect(usedAt(l, 1e15)).toBe(60);
    expect(reserve(l, { id: 'y', amount: 41, now: 1e15, ttlMs: 1 })).toMatchObject({ ok: false, waitMs: Number.POSITIVE_INFINITY });
  });

  it('a lower capacity refuses until enough dropped; a higher one admits at once', () => {
    let l = charge(createLedger({ unit: 'tokens', capacity: 1_000, window: slidingWindow(MIN) }), 800, 0);
    l = withCapacity(l, 500);
    expect(availableAt(l, 0)).toBe(-300);
    expect(reserve(withCapacity(l, 2_000), { id: 'a', amount: 1_200, now: 0, ttlMs: 1 }).ok).toBe(true);
  });

  it('property: within any sliding window the charges never add up to more than the capacity', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 6_000 }), fc.array(op, { maxLength: 300 }), (capacity, ops) => {
      const { charges } = play(slidingWindow(MIN), capacity, ops);
      for (const end of charges) {
        const inWindow = charges.filter((c) => c.at > end.at - MIN && c.at <= end.at).reduce((s, c) => s + c.amount, 0);
        if (inWindow > capacity) return false;
      }
      return true;
    }), { numRuns: 1_000 });
  });

  it('property: within any fixed period the charges never add up to more than the capacity', () => {
    const period = 90_000;
    fc.assert(fc.property(fc.integer({ min: 0, max: 10_000 }), fc.array(op, { maxLength: 200 }), (capacity, ops) => {
      const { charges } = play(fixedWindow(period), capacity, ops, 0);
      const byPeriod = new Map<number, number>();
      for (const c of charges) byPeriod.set(Math.floor(c.at / period), (byPeriod.get(Math.floor(c.at / period)) ?? 0) + c.amount);
      return [...byPeriod.values()].every((v) => v <= capacity);
    }), { numRuns: 300 });
  });

  it('property: nothing is lost: every hold ends as a charge of at most its amount, held + used never exceeds the capacity after a reservation', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 10_000 }), fc.array(op, { maxLength: 150 }), (capacity, ops) => {
      let ledger = createLedger({ unit: 'tokens', capacity, window: FOREVER });
      let now = 0;
      let n = 0;
      let reserved = 0;
      let settled = 0;
      for (const o of ops) {
        if (o.kind === 'wait') now += o.ms;
        else if (o.kind === 'reserve') {
          const r = reserve(ledger, { id: `h${n++}`, amount: o.amount, now, ttlMs: o.ttlMs });
          ledger = r.ledger;
          if (r.ok) {
            reserved += o.amount;
            if (usedAt(ledger, now) + heldOf(ledger) > capacity) return false;
          } else if (o.amount <= availableAt(ledger, now)) return false;
        } else if (o.kind === 'settle' && ledger.holds.length) {
          const h = ledger.holds[o.pick % ledger.holds.length];
          const actual = Math.floor(h.amount * o.share);
          ledger = settle(ledger, h.id, actual, now).ledger;
          settled += h.amount;
          reserved -= h.amount - actual;
        } else if (o.kind === 'expire') {
          const e = expire(ledger, now);
          ledger = e.ledger;
          for (const h of e.expired) settled += h.amount;
        }
      }
      // FOREVER keeps every charge: used + held is what was reserved, less the refunds.
      return usedAt(ledger, now) + heldOf(ledger) === reserved && settled >= 0;
    }), { numRuns: 300 });
  });

  it('property: a refused reservation fits exactly after its waitMs when nothing else happens', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 10_000 }), fc.array(op, { maxLength: 120 }), fc.integer({ min: 1, max: 5_000 }), (capacity, ops, amount) => {
      const { ledger } = play(slidingWindow(MIN), capacity, ops, 0);
      const now = 10_000_000; // nothing left from the run but its open holds
      const withCharges = charge(charge(ledger, Math.floor(capacity / 3), now - 30_000), Math.floor(capacity / 3), now - 10_000);
      const r = reserve(withCharges, { id: 'probe', amount, now, ttlMs: 1 });
      if (r.ok || r.waitMs === null || !Number.isFinite(r.waitMs)) return true;
      const later = reserve(withCharges, { id: 'probe', amount, now: now + r.waitMs, ttlMs: 1 });
      const earlier = r.waitMs > 0 ? reserve(withCharges, { id: 'probe', amount, now: now + r.waitMs - 1, ttlMs: 1 }) : { ok: false };
      return later.ok && !earlier.ok;
    }), { numRuns: 300 });
  });
});
