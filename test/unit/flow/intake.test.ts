import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { IntakeScheduler } from '../../../src/flow/intake.ts';
import { parseTenantWeights } from '../../../src/flow/weights.ts';
import type { Lane } from '../../../src/flow/lanes.ts';

/** Starts `n` jobs as the scheduler chooses (every queue stays waiting); returns the key of each start. */
function run(s: IntakeScheduler, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = s.next();
    if (!c) break;
    s.started(c.queue, c.reason);
    s.ended(c.queue);
    out.push(c.queue.key);
  }
  return out;
}

describe('intake scheduler: lanes', () => {
  it('serves the highest lane with waiting work first, whatever waits below', () => {
    const s = new IntakeScheduler({ minShare: 0 });
    for (const [lane, t] of [['low', 'a'], ['medium', 'b'], ['low', 'c']] as [Lane, string][]) s.wake(s.queue(lane, t));
    expect(s.next()!.queue.key).toBe('medium.b');
    s.wake(s.queue('critical', 'z'));
    expect(s.next()).toMatchObject({ queue: { key: 'critical.z' }, reason: 'priority' });
    s.empty(s.queue('critical', 'z'));
    s.empty(s.queue('medium', 'b'));
    expect(s.next()!.queue.lane).toBe('low');
    s.empty(s.queue('low', 'a'));
    s.empty(s.queue('low', 'c'));
    expect(s.next()).toBeNull();
  });

  it('chooses among the queues it may pull from (a consumer being made is left out until it exists)', () => {
    const s = new IntakeScheduler({ minShare: 0 });
    s.wake(s.queue('critical', 'new'));
    s.wake(s.queue('low', 'old'));
    expect(s.next((q) => q.tenant !== 'new')!.queue.key).toBe('low.old');
    expect(s.next()!.queue.key).toBe('critical.new');
    expect(s.next(() => false)).toBeNull();
  });

  it('gives each lower lane with waiting work its minimum share while a higher one saturates, one start at a time', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 25 }), fc.integer({ min: 50, max: 400 }), (pct, n) => {
      const minShare = pct / 100;
      const s = new IntakeScheduler({ minShare });
      s.wake(s.queue('high', 'h'));
      s.wake(s.queue('low', 'l'));
      const starts = run(s, n);
      const low = starts.filter((k) => k === 'low.l').length;
      // At least the share, less the one start still being earned; never two lower starts in a row.
      const noBurst = starts.every((k, i) => k !== 'low.l' || starts[i + 1] !== 'low.l');
      return low >= Math.floor(minShare * n) - 1 && low <= Math.ceil(minShare * n) + 1 && noBurst;
    }));
  });

  it('keeps every lower lane its share at once (medium and low below critical)', () => {
    const s = new IntakeScheduler({ minShare: 0.2 });
    for (const lane of ['critical', 'medium', 'low'] as Lane[]) s.wake(s.queue(lane, 't'));
    const starts = run(s, 1000);
    const count = (k: string) => starts.filter((x) => x === k).length;
    expect(count('medium.t')).toBeGreaterThanOrEqual(199);
    expect(count('low.t')).toBeGreaterThanOrEqual(199);
    expect(count('critical.t')).toBeGreaterThanOrEqual(590);
  });
});

describe('intake scheduler: tenants', () => {
  it('shares a lane\'s starts between waiting tenants in proportion to their weights (within one start each)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 2, maxLength: 12 }), fc.integer({ min: 10, max: 600 }), (weights, n) => {
      const s = new IntakeScheduler({ weight: (t) => weights[Number(t)] });
      weights.forEach((_, i) => s.wake(s.queue('medium', String(i))));
      const starts = run(s, n);
      const got = weights.map((_, i) => starts.filter((k) => k === `medium.${i}`).length);
      // Fair queuing's bound: normalised service of any two tenants differs by at most 1/wi + 1/wj.
      return got.every((gi, i) => got.every((gj, j) => Math.abs(gi / weights[i] - gj / weights[j]) <= 1 / weights[i] + 1 / weights[j] + 1e-9));
    }));
  });

  it('starts a newly waiting tenant next, not behind a flood\'s history', () => {
    const s = new IntakeScheduler();
    s.wake(s.queue('medium', 'flood'));
    run(s, 500);
    s.wake(s.queue('medium', 'b'));
    expect(s.next()!.queue.key).toBe('medium.b');
  });

  it('lets a tenant that was idle bank no credit: back, it alternates with the others', () => {
    const s = new IntakeScheduler();
    s.wake(s.queue('medium', 'a'));
    s.wake(s.queue('medium', 'b'));
    run(s, 10);
    s.empty(s.queue('medium', 'b'));
    run(s, 500);
    s.wake(s.queue('medium', 'b'));
    const next = run(s, 10);
    expect(next.filter((k) => k === 'medium.a').length).toBeGreaterThanOrEqual(4);
  });

  it('serves 1,000 light tenants beside one flooding tenant with at most one flood start between two of theirs', () => {
    const s = new IntakeScheduler();
    s.wake(s.queue('medium', 'flood'));
    run(s, 100);
    for (let i = 0; i < 1000; i++) s.wake(s.queue('medium', `t${i}`));
    const starts: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const c = s.next()!;
      s.started(c.queue, c.reason);
      s.ended(c.queue);
      if (c.queue.tenant !== 'flood') s.empty(c.queue); // each light tenant has one job
      starts.push(c.queue.tenant);
    }
    const lastLight = starts.findLastIndex((t) => t !== 'flood');
    expect(starts.slice(0, lastLight + 1).filter((t) => t !== 'flood')).toHaveLength(1000);
    // The 1,000 light jobs all start within the first 2,000 starts: the flood takes at most half meanwhile.
    expect(lastLight).toBeLessThan(2001);
    expect(starts.slice(0, lastLight + 1).filter((t) => t === 'flood').length).toBeLessThanOrEqual(1001);
  });

  it('reads weights by tenant token, * for the rest', () => {
    const w = parseTenantWeights('acme=3, a.b=2 ,*=0.5');
    expect([w('acme'), w('other')]).toEqual([3, 0.5]);
    expect(w('a_b-' + 'x')).toBe(0.5);
    expect(parseTenantWeights(undefined)('x')).toBe(1);
  });
});
