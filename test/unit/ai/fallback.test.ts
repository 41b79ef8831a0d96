/**
 * Fallback chains: the chain checked by the decoder (ALT_FALLBACK), AI_FALLBACK and AI_ENDPOINTS
 * read, and calls run along a chain against two real fake orchestrators, counting the requests
 * each received.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { FakeOrchestrator } from '../../../src/ai/fake-orchestrator.ts';
import { FallbackClient } from '../../../src/ai/fallback-client.ts';
import { chainOf, parseEndpoints, parseFallbackConfig } from '../../../src/ai/fallback.ts';
import { fallbackProblems } from '../../../src/alt/extensions.ts';
import { decodeAlt } from '../../../src/alt/decode.ts';
import { isAltlasError } from '../../../src/errors.ts';
import { request, testClient } from '../../helpers/ai.ts';
import { combineSteps, type CallSteps } from '../../../src/ai/steps.ts';

const altWith = (fallback: unknown) => JSON.stringify({ id: 'fb-1', version: '1.0', created_at: '2025-05-01T00:00:00Z', title: 't', tasks: [{ id: 'a', description: 'x', dependencies: [], parameters: { fallback } }] });

describe('parameters.fallback in the decoder', () => {
  it('accepts strings and {provider?, model} objects', () => {
    const r = decodeAlt(altWith(['backup/fake-small', { model: 'meta-llama/x' }, { provider: 'backup', model: 'm' }]));
    expect(r.ok).toBe(true);
  });

  it.each([
    ['not a list', 'backup/m'],
    ['an empty list', []],
    ['a blank string', ['  ']],
    ['a number', [3]],
    ['an object without model', [{ provider: 'x' }]],
    ['an object with another key', [{ model: 'm', url: 'http://x' }]],
    ['a provider with a dot', [{ provider: 'a.b', model: 'm' }]],
    ['nine pairs', Array.from({ length: 9 }, (_, i) => `m${i}`)],
  ])('refuses %s with ALT_FALLBACK and a pointer', (_what, value) => {
    const r = decodeAlt(altWith(value));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('ALT_FALLBACK');
    expect(r.error.problems[0].pointer).toMatch(/^\/tasks\/0\/parameters\/fallback/);
  });

  it('a 2.0 segment is checked too', () => {
    const doc = (value: unknown) => ({
      id: 'fb-2', version: '2.0', timestamp: '2025-05-02T11:00:00Z', command: 'c', language: 'en', mode: 'Normal', persona: 'p', chaos_level: null, global_variables: [], functions: [],
      segments: [{ id: 's', task_type: 'create', content: 'x', dependencies: [], metadata: {}, parameters: [{ name: 'fallback', value, type: 'array', required: false, description: 'chain' }] }],
    });
    expect(decodeAlt(JSON.stringify(doc(['backup/m']))).ok).toBe(true);
    const r = decodeAlt(JSON.stringify(doc([{}])));
    expect(r.ok ? null : r.error.code).toBe('ALT_FALLBACK');
  });
});

describe('AI_FALLBACK and AI_ENDPOINTS', () => {
  it('reads a chain and endpoints', () => {
    expect(parseFallbackConfig(' backup/fake-small , bigger ')).toEqual(['backup/fake-small', 'bigger']);
    expect(parseEndpoints('backup=openai@http://127.0.0.1:9/, b2=orchestrator@https://x.example')).toEqual([
      { name: 'backup', provider: 'openai', url: 'http://127.0.0.1:9/' }, { name: 'b2', provider: 'orchestrator', url: 'https://x.example' },
    ]);
  });

  it.each(['backup', 'backup=grpc@http://x', 'default=openai@http://x', 'a=openai@ftp://x', 'a=openai@http://x,a=openai@http://y'])('refuses AI_ENDPOINTS=%s with CONFIG_INVALID', (v) => {
    expect(() => parseEndpoints(v)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('refuses an AI_FALLBACK with an empty pair', () => {
    expect(() => parseFallbackConfig('a,,b')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('resolves a string on a known endpoint, else as a model with a slash; drops a repeated pair', () => {
    const names = new Set(['default', 'backup']);
    expect(chainOf('m', ['backup/x', 'meta-llama/y', 'm', { model: 'z', provider: 'backup' }], [], names)).toEqual([
      { provider: 'default', model: 'm' }, { provider: 'backup', model: 'x' }, { provider: 'default', model: 'meta-llama/y' }, { provider: 'backup', model: 'z' },
    ]);
    expect(chainOf('m', undefined, ['backup/x'], names)).toEqual([{ provider: 'default', model: 'm' }, { provider: 'backup', model: 'x' }]);
    expect(fallbackProblems(['ok'], '')).toEqual([]);
  });
});

describe('a call along a chain (two fake orchestrators)', () => {
  let first: FakeOrchestrator;
  let second: FakeOrchestrator;
  let urls: [string, string];
  const signal = new AbortController().signal;

  beforeAll(async () => {
    first = new FakeOrchestrator({ record: true });
    second = new FakeOrchestrator({ record: true });
    urls = [await first.listen(), await second.listen()];
  });
  afterAll(async () => {
    await first.close();
    await second.close();
  });
  beforeEach(() => {
    first.setFaults({});
    second.setFaults({});
    first.resetStats();
    second.resetStats();
  });

  const chainClient = (o: { threshold?: number; halfOpenMs?: number; attempts?: number; fallbacks?: string[][]; timeoutMs?: number; steps?: CallSteps } = {}) => {
    const moves: string[][] = o.fallbacks ?? [];
    // Endpoint policies as a worker's: retries on (the last pair uses them), one endpoint breaker each.
    const extra = { maxRetries: 3, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}), ...(o.steps ? { steps: o.steps } : {}) };
    const endpoints = new Map([['default', testClient(urls[0], extra)], ['backup', testClient(urls[1], extra)]]);
    return {
      moves,
      client: new FallbackClient({
        endpoints, configured: ['backup/fake-small'], attemptsPerPair: o.attempts ?? 1, breakerThreshold: o.threshold ?? 3, breakerHalfOpenMs: o.halfOpenMs ?? 60_000,
        onFallback: (from, to, failure) => moves.push([from, to, failure]),
      }),
      close: () => endpoints.forEach((c) => c.close()),
    };
  };

  it('first model down: every call answers from the second, each paying at most one failed attempt', async () => {
    first.setFaults({ errorRate: 1, errorStatus: 503 });
    const { client, moves, close } = chainClient();
    const calls = 20;
    const answers = [];
    for (let i = 0; i < calls; i++) answers.push(await client.complete(request(`q${i}`), { signal }));
    close();
    // Every call answered from the second, as its record says.
    for (const a of answers) {
      expect(a.model).toBe('fake-small');
      expect(a.fallback?.answered).toBe('backup/fake-small');
      expect(a.fallback!.tried.filter((t) => t.pair === 'default/default').every((t) => t.attempts <= 1)).toBe(true);
    }
    // At most one failed request per call at the first fake, and once its pair's breaker opened (3 failures) none.
    expect(first.stats.requests).toBe(3);
    expect(second.stats.requests).toBe(calls);
    expect(answers[0].fallback!.tried).toEqual([{ pair: 'default/default', failure: 'server_error', attempts: 1 }, { pair: 'backup/fake-small', failure: null, attempts: 1 }]);
    expect(answers[5].fallback!.tried).toEqual([{ pair: 'default/default', failure: 'breaker_open', attempts: 0 }, { pair: 'backup/fake-small', failure: null, attempts: 1 }]);
    expect(moves.length).toBe(calls);
    expect(moves[0]).toEqual(['default/default', 'backup/fake-small', 'server_error']);
  });

  it('first model down, calls at once: still at most one failed attempt per call', async () => {
    first.setFaults({ errorRate: 1, errorStatus: 500 });
    const { client, close } = chainClient({ threshold: 100 });
    const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => client.complete(request(`p${i}`), { signal })));
    close();
    expect(answers.every((a) => a.fallback?.answered === 'backup/fake-small')).toBe(true);
    expect(first.stats.requests).toBeLessThanOrEqual(16);
    expect(second.stats.requests).toBe(16);
  });

  it('both up: the first always answers and the second receives nothing', async () => {
    const { client, moves, close } = chainClient();
    for (let i = 0; i < 10; i++) {
      const a = await client.complete(request(`u${i}`), { signal });
      expect(a.fallback).toEqual({ answered: 'default/default', tried: [{ pair: 'default/default', failure: null, attempts: 1 }] });
    }
    close();
    expect(first.stats.requests).toBe(10);
    expect(second.stats.requests).toBe(0);
    expect(moves).toEqual([]);
  });

  it('a 429 whose Retry-After is past AI_RETRY_AFTER_MAX_MS moves on at once even with attempts left', async () => {
    first.setFaults({ rateLimitRate: 1, retryAfterS: 60 });
    const { client, close } = chainClient({ attempts: 3 });
    const a = await client.complete(request('rl'), { signal });
    close();
    expect(a.fallback!.tried[0]).toEqual({ pair: 'default/default', failure: 'rate_limited', attempts: 1 });
    expect(first.stats.requests).toBe(1);
  });

  it('AI_FALLBACK_ATTEMPTS: a pair is retried up to that many attempts before the next', async () => {
    first.setFaults({ errorRate: 1, errorStatus: 502 });
    const { client, close } = chainClient({ attempts: 2 });
    const a = await client.complete(request('two'), { signal });
    close();
    expect(a.fallback!.tried[0]).toEqual({ pair: 'default/default', failure: 'server_error', attempts: 2 });
    expect(first.stats.requests).toBe(2);
  });

  it('a refusal (4xx) is the request\'s own: no fallback', async () => {
    first.setFaults({ errorRate: 1, errorStatus: 400 });
    const { client, close } = chainClient();
    const e = await client.complete(request('bad'), { signal }).catch((x: unknown) => x);
    close();
    expect(isAltlasError(e, 'AI_REJECTED')).toBe(true);
    expect(second.stats.requests).toBe(0);
  });

  it('every pair down: AI_UNAVAILABLE naming the chain; the last pair keeps its retries', async () => {
    first.setFaults({ errorRate: 1, errorStatus: 500 });
    second.setFaults({ errorRate: 1, errorStatus: 500 });
    const { client, close } = chainClient();
    const e = await client.complete(request('down'), { signal }).catch((x: unknown) => x);
    close();
    expect(isAltlasError(e, 'AI_UNAVAILABLE')).toBe(true);
    expect((e as Error).message).toContain('every model of the fallback chain failed');
    expect(first.stats.requests).toBe(1);
    expect(second.stats.requests).toBe(4);
  });

  it('the task\'s own chain replaces AI_FALLBACK; a pair naming no endpoint is refused', async () => {
    first.setFaults({ errorRate: 1, errorStatus: 500 });
    const { client, close } = chainClient();
    const a = await client.complete({ ...request('own'), fallback: [{ provider: 'backup', model: 'default' }] }, { signal });
    const e = await client.complete({ ...request('nowhere'), fallback: [{ provider: 'nowhere', model: 'm' }] }, { signal }).catch((x: unknown) => x);
    close();
    expect(a.fallback!.answered).toBe('backup/default');
    expect(isAltlasError(e, 'AI_REJECTED')).toBe(true);
  });

  it('a half-open pair lets one trial through, and answers again once it is back', async () => {
    first.setFaults({ errorRate: 1, errorStatus: 500 });
    const { client, close } = chainClient({ threshold: 1, halfOpenMs: 50 });
    await client.complete(request('h1'), { signal });
    await client.complete(request('h2'), { signal });
    expect(first.stats.requests).toBe(1);
    first.setFaults({});
    await new Promise((r) => setTimeout(r, 60));
    const a = await client.complete(request('h3'), { signal });
    close();
    expect(a.fallback!.answered).toBe('default/default');
    expect(first.stats.requests).toBe(2);
  });

  it('a timeout moves on to the next pair', async () => {
    first.setFaults({ hang: true });
    const { client, close } = chainClient({ timeoutMs: 200 });
    const a = await client.complete(request('slow'), { signal });
    close();
    first.setFaults({});
    expect(a.fallback!.tried[0]).toEqual({ pair: 'default/default', failure: 'timeout', attempts: 1 });
    expect(a.fallback!.answered).toBe('backup/fake-small');
  });

  it('every pair\'s call goes through the steps (budgets, flow control) with its own model, refused or not', async () => {
    first.setFaults({ errorRate: 1, errorStatus: 503 });
    const reserved: string[] = [];
    const settled: string[] = [];
    const steps = combineSteps([{
      reserve: { reserve: async (call) => (reserved.push(`${call.model}`), { held: { tokens: 1 } }) },
      settle: { settle: (call, _r, outcome) => void settled.push(`${call.model}:${outcome.ok ? 'ok' : 'failed'}`) },
    }]);
    const { client, close } = chainClient({ steps });
    await client.complete(request('steps'), { signal });
    close();
    expect(reserved).toEqual(['default', 'fake-small']);
    expect(settled).toEqual(['default:failed', 'fake-small:ok']);
  });
});
