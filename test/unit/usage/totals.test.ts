import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { addToReport, emptyReport, mergeTotals, reportOfOutputs, type CallSpend } from '../../../src/usage/totals.ts';

const known = (model: string, input: number, output: number, costNanos: number | null): CallSpend => ({ model, usage: { input, output, cached_input: 0, reasoning: 0 }, costNanos });

describe('usage totals', () => {
  it('adds calls by kind and by model; a window without calls spent 0', () => {
    const r = emptyReport('USD');
    expect(r).toEqual({ tokens: { input: 0, output: 0, cached_input: 0, reasoning: 0 }, cost: 0, currency: 'USD', calls: 0, by_model: {} });
    addToReport(r, known('a', 10, 5, 1_500));
    addToReport(r, known('b', 1, 2, 100_000_000));
    addToReport(r, known('a', 3, 4, 1));
    expect(r.tokens).toEqual({ input: 14, output: 11, cached_input: 0, reasoning: 0 });
    expect(r.cost).toBe(0.100001501);
    expect(r.calls).toBe(3);
    expect(r.by_model.a).toEqual({ tokens: { input: 13, output: 9, cached_input: 0, reasoning: 0 }, cost: 0.000001501, currency: 'USD', calls: 2 });
  });

  it('keeps unknown unknown: one call without a count or a cost makes that total null, not 0', () => {
    const r = emptyReport(null);
    addToReport(r, known('a', 10, 5, null));
    addToReport(r, { model: 'a', usage: { input: 3, output: null, cached_input: null, reasoning: 7 }, costNanos: 5 });
    expect(r.tokens).toEqual({ input: 13, output: null, cached_input: null, reasoning: 7 });
    expect(r.cost).toBeNull();
    const s = emptyReport(null);
    addToReport(s, { model: 'm', usage: null, costNanos: null });
    expect(s.tokens).toEqual({ input: null, output: null, cached_input: null, reasoning: null });
    expect(s.calls).toBe(1);
  });

  it('reads task outputs: usage and cost; an output without usage is a call whose counts are unknown', () => {
    const r = reportOfOutputs([
      { model_used: 'm', usage: { input: 1, output: 2, cached_input: 0, reasoning: 0, attempt: 1 }, cost: 0.5 },
      null,
      { model_used: 'n', usage: { input: 4, output: 5, cached_input: 1, reasoning: 2, attempt: 2 }, cost: 0.25 },
    ], 'EUR');
    expect(r).toMatchObject({ tokens: { input: 5, output: 7, cached_input: 1, reasoning: 2 }, cost: 0.75, calls: 2 });
    expect(reportOfOutputs([{ model_used: 'm' }], 'EUR')).toMatchObject({ tokens: { input: null }, cost: null, calls: 1 });
  });

  it('sums to the token and to the nano-unit whatever the order and the split (property)', () => {
    const call = fc.record({ model: fc.constantFrom('a', 'b', 'c'), input: fc.nat(1e6), output: fc.nat(1e6), cost: fc.nat(1e9) });
    fc.assert(fc.property(fc.array(call, { maxLength: 60 }), fc.nat(60), (calls, cut) => {
      const spends = calls.map((c) => known(c.model, c.input, c.output, c.cost));
      const whole = emptyReport('USD');
      for (const s of spends) addToReport(whole, s);
      const reversed = emptyReport('USD');
      for (const s of [...spends].reverse()) addToReport(reversed, s);
      const left = emptyReport('USD');
      const right = emptyReport('USD');
      spends.forEach((s, i) => addToReport(i < cut ? left : right, s));
      mergeTotals(left, right);
      const input = calls.reduce((n, c) => n + c.input, 0);
      const nanos = calls.reduce((n, c) => n + c.cost, 0);
      const byModel = Object.values(whole.by_model).reduce((n, t) => n + (t.tokens.input ?? 0), 0);
      return whole.tokens.input === input && Math.round(whole.cost! * 1e9) === nanos && reversed.cost === whole.cost
        && left.tokens.input === input && left.cost === whole.cost && left.calls === calls.length && byModel === input;
    }));
  });
});
