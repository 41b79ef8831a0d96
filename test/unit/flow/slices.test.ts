import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { availableAt, createLedger, reserve, settle, slidingWindow, withCapacity, type Ledger } from '../../../src/flow/ledger.ts';
import { effectiveLimit, fairShares, occupiedAt, planSlice, returnSlice, type SliceEntry } from '../../../src/flow/slices.ts';

const MIN = 60_000;
const window = slidingWindow(MIN);
const empty = () => createLedger({ unit: 'tokens', capacity: 0, window });

/** One worker's renewal with the defaults of these tests. */
function renew(entry: SliceEntry | null, worker: string, now: number, o: { want?: number; ledger?: Ledger; configured?: number | null; learned?: { value: number; at: number } | null } = {}) {
  return planSlice(entry, {
    worker, now, leaseMs: MIN, window, unit: 'tokens', configured: o.configured === undefined ? 60_000 : o.configured, learned: o.learned ?? null,
    want: o.want ?? 60_000, ledger: o.ledger ?? empty(), holdTtlMs: 5_000,
  });
}

describe('fairShares', () => {
  it('gives the modest what they want and divides the rest equally', () => {
    expect(fairShares(90, new Map([['a', 10], ['b', 100], ['c', 100]]))).toEqual(new Map([['a', 10], ['b', 40], ['c', 40]]));
    expect(fairShares(60_000, new Map([['a', 60_000], ['b', 60_000], ['c', 60_000]]))).toEqual(new Map([['a', 20_000], ['b', 20_000], ['c', 20_000]]));
    expect(fairShares(5, new Map([['a', 0]]))).toEqual(new Map([['a', 0]]));
  });
});

describe('planSlice', () => {
  it('a lone worker takes what it wants; a second gets its share once the first gave it back', () => {
    let a = renew(null, 'a', 0);
    expect(a.spendable).toBe(60_000);
    let b = renew(a.entry, 'b', 1);
    expect(b.spendable).toBe(0); // a holds it all until its next renewal
    a = renew(b.entry, 'a', 2);
    expect(a.spendable).toBe(30_000);
    b = renew(a.entry, 'b', 3);
    expect(b.spendable).toBe(30_000);
    expect(occupiedAt(b.entry, 3)).toBe(60_000);
  });

  it('a worker that shrinks below what it spent leaves tails that free as its charges drop', () => {
    let ledger = withCapacity(empty(), 60_000);
    ledger = settle(reserve(ledger, { id: 'x', amount: 50_000, now: 0, ttlMs: 5_000 }).ledger, 'x', 50_000, 0).ledger;
    const a0 = renew(null, 'a', 0, { ledger });
    const b0 = renew(a0.entry, 'b', 1_000);
    const a1 = renew(b0.entry, 'a', 2_000, { ledger });
    expect(a1.spendable).toBe(30_000);
    expect(a1.entry.tails).toEqual([{ amount: 20_000, free_at: 60_000, of: 'a' }]);
    // b can take only what a's slice and tails leave; all of its share once the tail freed.
    expect(renew(a1.entry, 'b', 3_000).spendable).toBe(10_000);
    expect(renew(a1.entry, 'b', 60_000).spendable).toBe(30_000);
  });

  it('hands a dead worker\'s slice over once its lease ended and a window passed (2 × the lease when the lease is one window)', () => {
    let e = renew(null, 'a', 0).entry;
    e = renew(e, 'b', 0).entry;
    e = renew(e, 'a', 10).entry; // a: 30k until 60,010, then a dies
    let b = renew(e, 'b', 20);
    expect(b.spendable).toBe(30_000);
    b = renew(b.entry, 'b', 60_010); // a's lease ended: its slice is a tail until 120,010
    expect([b.spendable, b.entry.slices.a, b.entry.tails]).toEqual([30_000, undefined, [{ amount: 30_000, free_at: 120_010, of: 'a' }]]);
    expect(renew(b.entry, 'b', 120_009).spendable).toBe(30_000);
    expect(renew(b.entry, 'b', 120_010).spendable).toBe(60_000);
    expect(120_010 - 10).toBeLessThanOrEqual(2 * MIN);
  });

  it('a returned slice leaves only what its worker still has in the window', () => {
    let ledger = withCapacity(empty(), 30_000);
    ledger = settle(reserve(ledger, { id: 'x', amount: 1_000, now: 5_000, ttlMs: 5_000 }).ledger, 'x', 800, 5_000).ledger;
    let e = renew(null, 'a', 0).entry;
    e = renew(e, 'b', 0).entry;
    e = returnSlice(e, 'b', ledger, 6_000, 5_000);
    expect([e.slices.b, e.tails]).toEqual([undefined, [{ amount: 800, free_at: 65_000, of: 'b' }]]);
  });

  it('the tighter of configured and learned wins; the newest learned value is the fleet\'s', () => {
    expect(effectiveLimit(null, null)).toBeNull();
    expect(effectiveLimit(100, 80)).toBe(80);
    let a = renew(null, 'a', 0, { configured: null, learned: { value: 40_000, at: 5 } });
    expect([a.limit, a.spendable, a.entry.learned]).toEqual([40_000, 40_000, 40_000]);
    a = renew(a.entry, 'b', 1, { configured: null, learned: { value: 90_000, at: 3 } }); // older: ignored
    expect(a.limit).toBe(40_000);
    a = renew(a.entry, 'b', 2, { configured: 30_000, learned: null });
    expect(a.limit).toBe(30_000);
    expect(renew(null, 'c', 0, { configured: null }).spendable).toBe(Number.POSITIVE_INFINITY);
  });
});

/** Operations of a fleet of three workers sharing one limit. */
const fleetOp = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 3_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 70_000 }) }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('renew' as const), w: fc.integer({ min: 0, max: 2 }), want: fc.oneof(fc.constant(1), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })) }) },
  // Spending is mostly greedy (the whole slice left, all of it charged): that is what fills a window.
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('spend' as const), w: fc.integer({ min: 0, max: 2 }), amount: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })), share: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('burst' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('die' as const), w: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('return' as const), w: fc.integer({ min: 0, max: 2 }) }) },
);

describe('fleet slices (property)', () => {
  it('whatever the renewals, deaths and returns, the fleet never spends more than the limit within any window', () => {
    fc.assert(fc.property(fc.integer({ min: 1_000, max: 100_000 }), fc.array(fleetOp, { maxLength: 200 }), (limit, ops) => {
      let entry: SliceEntry | null = null;
      let now = 0;
      let id = 0;
      const workers = [0, 1, 2].map((w) => ({ name: `w${w}`, alive: true, until: 0, ledger: createLedger({ unit: 'tokens', capacity: 0, window }) }));
      const spent: { at: number; amount: number }[] = [];
      /** Reserves a share of what is left of the slice and charges a share of that (nothing once the lease ran out unrenewed). */
      const spend = (w: (typeof workers)[number], part: number, share: number) => {
        const ledger = now < w.until ? w.ledger : withCapacity(w.ledger, 0);
        const amount = Math.max(1, Math.floor(part * Math.max(0, availableAt(ledger, now))));
        const r = reserve(ledger, { id: `h${id++}`, amount, now, ttlMs: 1 });
        if (!r.ok) return;
        const actual = Math.floor(amount * share);
        w.ledger = withCapacity(settle(r.ledger, r.hold.id, actual, now).ledger, w.ledger.capacity);
        if (actual > 0) spent.push({ at: now, amount: actual });
      };
      for (const o of ops) {
        if (o.kind === 'wait') {
          now += o.ms;
          continue;
        }
        if (o.kind === 'burst') {
          // Every live worker spends all its slice lets it, at once.
          for (const w of workers) if (w.alive) spend(w, 1, 1);
          continue;
        }
        const w = workers[o.w];
        if (!w.alive) continue;
        if (o.kind === 'renew') {
          const p = planSlice(entry, { worker: w.name, now, leaseMs: MIN, window, unit: 'tokens', configured: limit, learned: null, want: Math.round(o.want * limit), ledger: w.ledger, holdTtlMs: 0 });
          entry = p.entry;
          w.until = p.until;
          w.ledger = withCapacity(w.ledger, p.spendable);
        } else if (o.kind === 'spend') spend(w, o.amount, o.share);
        else if (o.kind === 'die') w.alive = false;
        else if (o.kind === 'return') {
          entry = returnSlice(entry, w.name, w.ledger, now, 0);
          w.until = 0;
        }
      }
      for (const end of spent) {
        const inWindow = spent.filter((s) => s.at > end.at - MIN && s.at <= end.at).reduce((n, s) => n + s.amount, 0);
        if (inWindow > limit) return false;
      }
      return true;
    }), { numRuns: 2_000 });
  });
});
