import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { describeCall, type AiCall, type AttemptInfo } from '../../../src/ai/call.ts';
import { ModelBudgets } from '../../../src/budget/model-budgets.ts';
import { isAltlasError } from '../../../src/errors.ts';
import type { AiLimitsDoc } from '../../../src/flow/model-limits.ts';
import type { FleetSlices, SliceBudget } from '../../../src/flow/fleet-slices.ts';
import { promptTokens } from '../../../src/flow/token-count.ts';

const MIN = 60_000;
const signal = new AbortController().signal;

function call(user: string, maxTokens: number | null, model = 'm'): AiCall & { attempts: AttemptInfo[] } {
  return describeCall({ prompt: { system: 's', user }, model, parameters: maxTokens === null ? {} : { max_tokens: maxTokens } }, 'orchestrator', false);
}

function attempt(c: AiCall, status: number | null, headers: Record<string, string> = {}): AttemptInfo {
  return {
    provider: 'orchestrator', model: c.model, url: 'http://x/', attempt: 1, durationMs: 1, status, outcome: status === 200 ? 'ok' : 'transient',
    failure: status === 200 ? null : 'rate_limited', tokens: null, usage: null, headers, streamed: false, chunks: 0, bytes: 0,
  };
}

const answer = (model: string, input: number, output: number) => ({
  ok: true as const,
  answer: { text: 'x', model, tokens: input + output, providerMs: 1, streamed: false, usage: { input, output, cached_input: null, reasoning: null, attempt: 1 } },
});

function budgets(doc: AiLimitsDoc | null, clock: { now: number }, maxWaitMs = 0) {
  return new ModelBudgets({ doc, holdTtlMs: 10 * MIN, maxWaitMs, defaultOutput: 1_000, now: () => clock.now, defaultModel: { provider: 'orchestrator', model: 'm' } });
}

/** Makes a call through reserve and settle as the client does, answering with `output` tokens. */
async function made(b: ModelBudgets, c: AiCall & { attempts: AttemptInfo[] }, output: number, headers: Record<string, string> = {}): Promise<number> {
  const r = await b.reserve(c, signal);
  const info = attempt(c, 200, headers);
  c.attempts.push(info);
  b.onAttempt(c, info);
  const input = promptTokens(c.model, c.prompt.system, c.prompt.user);
  b.settle(c, r, answer(c.model, input, output));
  return input + output;
}


describe('model rate limits: the reservation arithmetic', () => {
  it('never lets the tokens or requests settled within any minute pass the limits while answers stay within their reservations (property)', async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('wait' as const), ms: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 70_000 })) }),
      // Answers mostly use their whole reservation: that is what fills a window.
      fc.record({ kind: fc.constant('call' as const), chars: fc.integer({ min: 0, max: 4_000 }), maxTokens: fc.option(fc.integer({ min: 1, max: 1_500 })), share: fc.oneof(fc.constant(1), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })) }),
      fc.record({ kind: fc.constant('settle' as const), pick: fc.nat() }),
    );
    await fc.assert(fc.asyncProperty(fc.integer({ min: 2_600, max: 8_000 }), fc.integer({ min: 1, max: 30 }), fc.array(op, { maxLength: 120 }), async (tpm, rpm, ops) => {
      const clock = { now: 1_700_000_000_000 };
      const b = budgets({ orchestrator: { m: { tpm, rpm } } }, clock);
      const open: { c: AiCall & { attempts: AttemptInfo[] }; held: number; share: number }[] = [];
      const charges: { at: number; tokens: number }[] = [];
      for (const o of ops) {
        if (o.kind === 'wait') clock.now += o.ms;
        else if (o.kind === 'call') {
          const c = call('x'.repeat(o.chars), o.maxTokens);
          try {
            const r = await b.reserve(c, signal);
            open.push({ c, held: r.held.tokens, share: o.share });
          } catch (e) {
            if (!isAltlasError(e, 'AI_LIMIT_WAIT') && !isAltlasError(e, 'AI_LIMIT_EXCEEDED')) throw e;
          }
        } else if (open.length) {
          const { c, held, share } = open.splice(o.pick % open.length, 1)[0];
          const input = promptTokens(c.model, c.prompt.system, c.prompt.user);
          const output = Math.floor((held - input) * share);
          c.attempts.push(attempt(c, 200));
          b.settle(c, { held: {} }, answer(c.model, input, output));
          charges.push({ at: clock.now, tokens: input + output });
        }
        // Every window ending now: what was settled within it stays within the limits.
        const inWindow = charges.filter((x) => x.at > clock.now - MIN);
        expect(inWindow.reduce((s, x) => s + x.tokens, 0)).toBeLessThanOrEqual(tpm);
        expect(inWindow.length).toBeLessThanOrEqual(rpm);
      }
    }), { numRuns: 200 });
  });

  it('refunds what an answer did not use and charges what it used beyond its reservation', async () => {
    const clock = { now: 1_700_000_000_000 };
    const b = budgets({ orchestrator: { m: { tpm: 1_000 } } }, clock);
    const first = call('x'.repeat(400), 500);
    const r = await b.reserve(first, signal);
    expect(r.held.tokens).toBe(promptTokens('m', 's', 'x'.repeat(400)) + 500);
    // 100 + 11 + 1 in, 500 out held: a second call of 400 does not fit until the first settles.
    await expect(b.reserve(call('x'.repeat(1_200), 100), signal)).rejects.toMatchObject({ code: 'AI_LIMIT_WAIT' });
    first.attempts.push(attempt(first, 200));
    b.settle(first, r, answer('m', 112, 10));
    expect(b.figures().find((f) => f.unit === 'tokens')).toMatchObject({ used: 122, reserved: 0, remaining: 878 });
    const over = call('', 100);
    const r2 = await b.reserve(over, signal);
    over.attempts.push(attempt(over, 200));
    b.settle(over, r2, answer('m', 11, 800));
    expect(b.figures().find((f) => f.unit === 'tokens')).toMatchObject({ used: 122 + 811, remaining: 1_000 - 933 });
    await expect(b.reserve(call('', 100), signal)).rejects.toMatchObject({ code: 'AI_LIMIT_WAIT' });
    clock.now += MIN + 1_000;
    await expect(b.reserve(call('', 100), signal)).resolves.toMatchObject({ held: { tokens: 112, requests: 1 } });
  });

  it('still pulls after a call larger than the whole limit was refused: that call is no measure of the next jobs', async () => {
    const clock = { now: 1_700_000_000_000 };
    const b = budgets({ orchestrator: { m: { tpm: 400 } } }, clock);
    expect(b.room(4)).toBe(4);
    await expect(b.reserve(call('', 4_000), signal)).rejects.toMatchObject({ code: 'AI_LIMIT_EXCEEDED' });
    expect(b.room(4)).toBeGreaterThan(0);
    await expect(b.reserve(call('', 50), signal)).resolves.toMatchObject({ held: { requests: 1 } });
  });

  it('gates the pull on the models the jobs called in the last minute, each weighted by its share of the calls, not on the default model alone', async () => {
    const clock = { now: 1_700_000_000_000 };
    // The default model (m) has no limit; the jobs call `other`, of 3 requests a minute.
    const b = budgets({ orchestrator: { other: { rpm: 3 } } }, clock);
    expect(b.room(8)).toBe(8);
    await made(b, call('', 50, 'other'), 10);
    await made(b, call('', 50, 'other'), 10);
    // Every call went to `other`: room for one more call is room for one job.
    expect(b.room(8)).toBe(1);
    // Six calls to m since: `other` has a quarter of the calls, so its one call serves four jobs.
    for (let i = 0; i < 6; i++) await made(b, call('', 50), 10);
    expect(b.room(8)).toBe(4);
    await made(b, call('', 50, 'other'), 10);
    expect(b.room(8)).toBe(0);
    // A minute later the calls and the mix are gone: the default model alone again.
    clock.now += MIN + 1;
    expect(b.room(8)).toBe(8);
  });

  it('refuses a call larger than the model\'s whole limit, and charges a failed call nothing when the provider refused it', async () => {
    const clock = { now: 1_700_000_000_000 };
    const b = budgets({ orchestrator: { '*': { tpm: 500 } } }, clock);
    await expect(b.reserve(call('', 600, 'other'), signal)).rejects.toMatchObject({ code: 'AI_LIMIT_EXCEEDED' });
    const c = call('', 400, 'other');
    const r = await b.reserve(c, signal);
    c.attempts.push(attempt(c, 429));
    b.settle(c, r, { ok: false, error: new Error('rate limited') });
    expect(b.figures().find((f) => f.model === 'other' && f.unit === 'tokens')).toMatchObject({ used: 0, reserved: 0 });
    expect(b.figures().find((f) => f.model === 'other' && f.unit === 'requests')).toMatchObject({ used: 1 });
  });
});

describe('model rate limits: learning from the provider', () => {
  it('with nothing configured, learns the limit from x-ratelimit headers and keeps under it', async () => {
    const clock = { now: 1_700_000_000_000 };
    const b = budgets(null, clock);
    // Before any answer, nothing is known: no bound.
    await made(b, call('', 2_000), 2_000, { 'x-ratelimit-limit-tokens': '5000', 'x-ratelimit-remaining-tokens': '2989', 'x-ratelimit-reset-tokens': '24s' });
    expect(b.figures().find((f) => f.unit === 'tokens')).toMatchObject({ limit: 5_000, learned: 5_000, used: 2_012 });
    await made(b, call('', 2_000), 2_000);
    await expect(b.reserve(call('', 2_000), signal)).rejects.toMatchObject({ code: 'AI_LIMIT_WAIT' });
  });

  it('learns from anthropic-ratelimit headers, and the tighter of configured and learned wins', async () => {
    const clock = { now: 1_700_000_000_000 };
    const b = budgets({ orchestrator: { m: { tpm: 10_000, rpm: 2 } } }, clock);
    await made(b, call('', 100), 100, { 'anthropic-ratelimit-requests-limit': '50', 'anthropic-ratelimit-tokens-limit': '3000' });
    const f = b.figures();
    expect(f.find((x) => x.unit === 'tokens')).toMatchObject({ limit: 3_000, configured: 10_000, learned: 3_000 });
    expect(f.find((x) => x.unit === 'requests')).toMatchObject({ limit: 2, configured: 2, learned: 50 });
  });

  it('sends nothing to a model until a 429\'s Retry-After has passed', async () => {
    const clock = { now: 1_700_000_000_000 };
    const b = budgets({ orchestrator: { m: { tpm: 100_000 } } }, clock);
    const c = call('', 10);
    const r = await b.reserve(c, signal);
    const info = attempt(c, 429, { 'retry-after': '7' });
    c.attempts.push(info);
    b.onAttempt(c, info);
    b.settle(c, r, { ok: false, error: new Error('rate limited') });
    expect(b.admits()).toBe(false);
    await expect(b.reserve(call('', 10), signal)).rejects.toMatchObject({ code: 'AI_LIMIT_WAIT' });
    clock.now += 7_000;
    expect(b.admits()).toBe(true);
    await expect(b.reserve(call('', 10), signal)).resolves.toBeDefined();
    expect(b.figures()[0].rateLimited).toBe(1);
  });

  it('stops when the provider says fewer tokens remain than a call needs, until its reset', async () => {
    const clock = { now: 1_700_000_000_000 };
    const b = budgets(null, clock);
    await made(b, call('', 100), 100, { 'x-ratelimit-remaining-tokens': '20', 'x-ratelimit-reset-tokens': '3s' });
    await expect(b.reserve(call('', 100), signal)).rejects.toMatchObject({ code: 'AI_LIMIT_WAIT' });
    clock.now += 3_000;
    await expect(b.reserve(call('', 100), signal)).resolves.toBeDefined();
  });
});

describe('model rate limits: waiting and the pull gate', () => {
  it('a call that does not fit waits for a settle, and the worker pulls nothing while it waits', async () => {
    const clock = { now: 1_700_000_000_000 };
    let rooms = 0;
    const b = new ModelBudgets({ doc: { orchestrator: { m: { tpm: 1_000, concurrent: 1 } } }, holdTtlMs: MIN, maxWaitMs: MIN, defaultOutput: 100, now: () => clock.now, defaultModel: { provider: 'orchestrator', model: 'm' }, onRoom: () => rooms++ });
    expect(b.admits()).toBe(true);
    const first = call('', 100);
    const r = await b.reserve(first, signal);
    // One call in flight of one allowed: no room for a second job's call.
    expect(b.admits()).toBe(false);
    let second = false;
    const waiting = b.reserve(call('', 100), signal).then(() => (second = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(second).toBe(false);
    expect(b.figures()[0].waiting).toBe(1);
    first.attempts.push(attempt(first, 200));
    b.settle(first, r, answer('m', 11, 50));
    await waiting;
    expect(second).toBe(true);
    expect(rooms).toBeGreaterThan(0);
  });

  it('the pull gate says no when the default model has no room for a call like its last', async () => {
    const clock = { now: 1_700_000_000_000 };
    const b = budgets({ orchestrator: { m: { tpm: 1_000 } } }, clock);
    await made(b, call('', 600), 600);
    expect(b.admits()).toBe(false);
    clock.now += MIN + 1_000;
    expect(b.admits()).toBe(true);
  });
});

describe('model rate limits: calls in flight', () => {
  it('divides the fleet\'s concurrent calls among the live workers of the model\'s entry, at least one each', async () => {
    const clock = { now: 1_700_000_000_000 };
    // A fleet of two live workers, as the entry the renewal wrote says; no token or request limit.
    const live = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`w${i}`, { amount: 0, until: clock.now + MIN, want: 0 }]));
    let workers = 2;
    const fleet = {
      renewMs: 1_000,
      add(budget: SliceBudget) {
        budget.granted({ spendable: Number.POSITIVE_INFINITY, until: clock.now + MIN, limit: null, learned: null, entry: { v: 1, unit: budget.unit, window_ms: MIN, learned: null, learned_at: null, slices: live(workers), tails: [] } });
        return Promise.resolve();
      },
      renew: () => Promise.resolve(),
      nudge() {},
    } as unknown as FleetSlices;
    const b = new ModelBudgets({ doc: { orchestrator: { m: { concurrent: 4 } } }, slices: fleet, holdTtlMs: MIN, maxWaitMs: 0, defaultOutput: 10, now: () => clock.now });
    await b.reserve(call('', 10), signal);
    await b.reserve(call('', 10), signal);
    await expect(b.reserve(call('', 10), signal)).rejects.toMatchObject({ code: 'AI_LIMIT_WAIT' });
    // With more live workers than calls allowed, each still has one.
    workers = 9;
    const c = new ModelBudgets({ doc: { orchestrator: { m: { concurrent: 4 } } }, slices: fleet, holdTtlMs: MIN, maxWaitMs: 0, defaultOutput: 10, now: () => clock.now });
    await c.reserve(call('', 10), signal);
    await expect(c.reserve(call('', 10), signal)).rejects.toMatchObject({ code: 'AI_LIMIT_WAIT' });
  });
});
