import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { describeCall, type AiCall, type AttemptInfo, type CallUsage } from '../../../src/ai/call.ts';
import { JobBudgets, final } from '../../../src/budget/job-budgets.ts';
import { needOf, spentOf } from '../../../src/budget/need.ts';
import { BudgetSteps, mayHaveCost } from '../../../src/budget/steps.ts';
import { TenantBudgets } from '../../../src/budget/tenant-budgets.ts';
import { AltlasError } from '../../../src/errors.ts';
import { costNanos } from '../../../src/usage/prices.ts';

const prices = { currency: 'USD', models: { m: { input: 2.5, output: 10, cached_input: 1 } } };

describe('the worst case of a call', () => {
  it('is its prompt\'s bytes and chat overhead in, max_tokens (or the cap) out, at the model\'s price', () => {
    const call = { prompt: { system: 'ab', user: 'çé' }, maxTokens: 100, model: 'm' };
    expect(needOf(call, prices, 4096)).toEqual({ input: 2 + 4 + 11, output: 100, tokens: 117, costNanos: 17 * 2_500 + 100 * 10_000 });
    expect(needOf({ ...call, maxTokens: null }, prices, 50).output).toBe(50);
    expect(needOf({ ...call, model: 'unpriced' }, prices, 50).costNanos).toBeNull();
  });

  it('charges the reported usage, and its hold for what is unknown or may have been billed', () => {
    const need = { tokens: 100, input: 40, output: 60, costNanos: 900 };
    expect(spentOf(need, { input: 10, output: 5 }, 70, 'free')).toEqual({ tokens: 15, costNanos: 70 });
    expect(spentOf(need, { input: 10, output: null }, null, 'free')).toEqual({ tokens: 100, costNanos: 900 });
    expect(spentOf(need, null, null, 'free')).toEqual({ tokens: 0, costNanos: 0 });
    expect(spentOf(need, null, null, 'costly')).toEqual({ tokens: 100, costNanos: 900 });
    const attempt = (failure: AttemptInfo['failure']) => ({ failure }) as AttemptInfo;
    expect(mayHaveCost([attempt('rate_limited'), attempt('unreachable'), attempt('rejected')])).toBe(false);
    expect(mayHaveCost([attempt('rate_limited'), attempt('stream_cut')])).toBe(true);
    expect(mayHaveCost([attempt('timeout')])).toBe(true);
    expect(mayHaveCost([attempt(null)])).toBe(true);
  });
});

/** A call made through the budget steps, settled with a usage at most its worst case (or failing). */
interface Step {
  user: number;
  maxTokens: number;
  /** Shares of the worst case actually used, in/out; null: the provider did not report. */
  used: [number, number] | null;
  /** The call failed: free (429) or costly (a cut stream). */
  fail: 'none' | 'free' | 'costly';
  /** Calls in flight before this one settles. */
  overlap: number;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  user: fc.integer({ min: 1, max: 400 }),
  maxTokens: fc.integer({ min: 1, max: 300 }),
  used: fc.option(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })), { nil: null, freq: 5 }),
  fail: fc.constantFrom('none', 'none', 'none', 'free', 'costly'),
  overlap: fc.integer({ min: 0, max: 4 }),
});

function aiCall(s: Step, i: number): AiCall & { attempts: AttemptInfo[] } {
  return describeCall({ prompt: { system: '', user: 'x'.repeat(s.user) }, model: 'm', parameters: { max_tokens: s.maxTokens }, origin: { jobId: 'job', taskKey: `t${i}` } }, 'openai', false);
}

describe('job budget arithmetic (property)', () => {
  it('never lets the spend pass the budget when every call stays within its worst case; refuses only what cannot fit, lets a call wait for the calls in flight when they are in its way; charges what was spent', async () => {
    await fc.assert(fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 40_000_000 }), async (plan, tokenLimit, costLimit) => {
      const jobs = new JobBudgets();
      jobs.open('job', { tokens: tokenLimit, costNanos: costLimit }, { tokens: 0, costNanos: 0 });
      const steps = new BudgetSteps({ jobs, prices, maxOutput: 4096, tenantExceeded: 'fail', now: () => 0 });
      let spentTokens = 0;
      let spentNanos = 0;
      let heldTokens = 0;
      let heldNanos = 0;
      const inFlight: { call: AiCall & { attempts: AttemptInfo[] }; s: Step; need: ReturnType<typeof needOf> }[] = [];
      const settleOne = () => {
        const f = inFlight.shift()!;
        const { call, s, need } = f;
        heldTokens -= need.tokens;
        heldNanos -= need.costNanos!;
        if (s.fail !== 'none') {
          call.attempts.push({ failure: s.fail === 'free' ? 'rate_limited' : 'stream_cut' } as AttemptInfo);
          steps.settle(call, { held: {} }, { ok: false, error: new Error('failed') });
          if (s.fail === 'costly') {
            spentTokens += need.tokens;
            spentNanos += need.costNanos!;
          }
          return;
        }
        call.attempts.push({ failure: null } as AttemptInfo);
        const usage: CallUsage = s.used
          ? { input: Math.floor(s.used[0] * need.input), output: Math.floor(s.used[1] * need.output), cached_input: 0, reasoning: 0, attempt: 1 }
          : { input: null, output: null, cached_input: null, reasoning: null, attempt: 1 };
        steps.settle(call, { held: {} }, { ok: true, answer: { text: '', model: 'm', tokens: null, providerMs: 1, streamed: false, usage } });
        const cost = costNanos(prices.models.m, usage);
        spentTokens += usage.input !== null && usage.output !== null ? usage.input + usage.output : need.tokens;
        spentNanos += cost ?? need.costNanos!;
      };
      const flush = () => new Promise((r) => setImmediate(r));
      for (const [i, s] of plan.entries()) {
        while (inFlight.length > s.overlap) settleOne();
        const call = aiCall(s, i);
        const need = needOf(call, prices, 4096);
        // Final: it would not fit even if every call in flight gave all back. Else it fits now, or waits for settles.
        const final = spentTokens + need.tokens > tokenLimit || spentNanos + need.costNanos! > costLimit;
        let outcome: 'held' | AltlasError | null = null;
        void steps.reserve(call).then(() => (outcome = 'held'), (e) => (outcome = e as AltlasError));
        await flush();
        const fitsNow = spentTokens + heldTokens + need.tokens <= tokenLimit && spentNanos + heldNanos + need.costNanos! <= costLimit;
        if (final) {
          // Refused at once, by the job's budget, without waiting for the calls in flight.
          const o = outcome as AltlasError | 'held' | null;
          if (!(o instanceof AltlasError) || o.code !== 'BUDGET_EXCEEDED' || o.context.scope !== 'job') return false;
          continue;
        }
        if (fitsNow !== (outcome === 'held')) return false;
        // Not final: it waits for the calls in flight to settle; held once they gave enough back, or
        // refused once what they spent made it final.
        while (outcome === null) {
          if (inFlight.length === 0) return false;
          settleOne();
          await flush();
        }
        if (outcome !== 'held') {
          const nowFinal = spentTokens + need.tokens > tokenLimit || spentNanos + need.costNanos! > costLimit;
          if (!nowFinal || (outcome as AltlasError).code !== 'BUDGET_EXCEEDED') return false;
          continue;
        }
        heldTokens += need.tokens;
        heldNanos += need.costNanos!;
        inFlight.push({ call, s, need });
        // The spend never passes the budget: zero overshoot with worst-case reservations.
        if (spentTokens > tokenLimit || spentNanos > costLimit) return false;
      }
      while (inFlight.length) settleOne();
      const left = jobs.available('job', 0)!;
      // What the ledgers charged is what was spent, to the token and the nano-unit.
      return spentTokens <= tokenLimit && spentNanos <= costLimit && left.tokens === tokenLimit - spentTokens && left.costNanos === costLimit - spentNanos;
    }), { numRuns: 300 });
  });

  it('starts a redelivered job from what its resumed results spent', () => {
    const jobs = new JobBudgets();
    const close = jobs.open('j', { tokens: 1_000, costNanos: null }, { tokens: 900, costNanos: 5 });
    expect(jobs.reserve('j', 'a', { tokens: 101, costNanos: null }, 0)).toMatchObject({ unit: 'tokens', limit: 1_000, spent: 900, held: 0, need: 101 });
    expect(final({ limit: 1_000, spent: 900, need: 101 })).toBe(true);
    expect(jobs.reserve('j', 'b', { tokens: 100, costNanos: null }, 0)).toBeNull();
    close();
    expect(jobs.applies('j')).toBe(false);
  });

  it('refuses a cost budget a call to an unpriced model, saying why', async () => {
    const jobs = new JobBudgets();
    jobs.open('job', { tokens: null, costNanos: 1e9 }, { tokens: 0, costNanos: 0 });
    const steps = new BudgetSteps({ jobs, prices, maxOutput: 10, tenantExceeded: 'fail' });
    const call = describeCall({ prompt: { system: '', user: 'u' }, model: 'other', parameters: {}, origin: { jobId: 'job' } }, 'openai', false);
    await expect(steps.reserve(call)).rejects.toThrow(/cost budget cannot hold a call to other: the model has no price in AI_PRICES/);
    // Another job, without a budget: nothing held, nothing refused.
    expect(await steps.reserve(describeCall({ prompt: { system: '', user: 'u' }, model: 'other', parameters: {}, origin: { jobId: 'free' } }, 'openai', false))).toEqual({ held: {} });
  });
});

describe('a tenant call no period can hold', () => {
  it('ends its job with BUDGET_EXCEEDED even when tenants over budget wait (the wait would never end); one that fits is reserved', async () => {
    const tenants = new TenantBudgets({ doc: { tenants: { acme: { hour: { tokens: 100 } } } }, holdTtlMs: 60_000, now: () => Date.UTC(2026, 0, 1, 1) });
    const steps = new BudgetSteps({ jobs: new JobBudgets(), prices, maxOutput: 1_000, tenantExceeded: 'wait', tenants, now: () => Date.UTC(2026, 0, 1, 1) });
    const huge = describeCall({ prompt: { system: '', user: 'u' }, model: 'm', parameters: {}, origin: { jobId: 'big', tenant: 'acme' } }, 'openai', false);
    await expect(steps.reserve(huge)).rejects.toMatchObject({ code: 'BUDGET_EXCEEDED', message: expect.stringMatching(/no period can hold it, so it does not wait$/) });
    const small = describeCall({ prompt: { system: '', user: 'u' }, model: 'm', parameters: { max_tokens: 50 }, origin: { jobId: 'small', tenant: 'acme' } }, 'openai', false);
    const r = await steps.reserve(small);
    expect(r.held).toMatchObject({ tokens: expect.any(Number) });
  });
});
