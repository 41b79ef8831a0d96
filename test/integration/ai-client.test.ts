import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { FakeOrchestrator } from '../../src/ai/fake-orchestrator.ts';
import { openaiProvider } from '../../src/ai/providers.ts';
import { isAltlasError } from '../../src/errors.ts';
import type { CallOutcome, CallSteps } from '../../src/ai/steps.ts';
import { request, testClient, until } from '../helpers/ai.ts';

let fake: FakeOrchestrator;
let url: string;
const signal = () => ({ signal: new AbortController().signal });

beforeAll(async () => {
  fake = new FakeOrchestrator();
  url = await fake.listen();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.setFaults({});
  fake.resetStats();
});

async function failure(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    if (isAltlasError(e)) return e;
    throw e;
  }
  throw new Error('expected a failure');
}

describe('AiClient against the fake orchestrator over HTTP', () => {
  it('reads text, model and token usage of an orchestrator answer', async () => {
    const answer = await testClient(url).complete(request('Dosyaları sırala'), signal());
    expect(answer.text).toMatch(/^\[default\] [0-9a-f]{12}: Dosyaları sırala$/);
    expect(answer.model).toBe('default');
    expect(answer.tokens).toBeGreaterThan(0);
  });

  it('retries 5xx and counts the attempts at the server', async () => {
    fake.setFaults({ failFirst: 2, errorStatus: 503 });
    await testClient(url).complete(request(), signal());
    expect(fake.stats.requests).toBe(3);
  });

  it('gives up after AI_MAX_RETRIES with the transient AI_UNAVAILABLE', async () => {
    fake.setFaults({ errorRate: 1 });
    const e = await failure(testClient(url, { maxRetries: 2 }).complete(request(), signal()));
    expect(e.code).toBe('AI_UNAVAILABLE');
    expect(e.fate).toBe('retry');
    expect(fake.stats.requests).toBe(3);
  });

  it('does not retry other 4xx and reports AI_REJECTED', async () => {
    fake.setFaults({ failFirst: 10, errorStatus: 400 });
    const e = await failure(testClient(url).complete(request(), signal()));
    expect(e.code).toBe('AI_REJECTED');
    expect(e.context.httpStatus).toBe(400);
    expect(fake.stats.requests).toBe(1);
  });

  it('honours Retry-After on 429, capped by AI_RETRY_AFTER_MAX_MS', async () => {
    fake.setFaults({ failFirst: 1, errorStatus: 429, retryAfterS: 30 });
    const started = Date.now();
    await testClient(url, { retryAfterMaxMs: 400 }).complete(request(), signal());
    const waited = Date.now() - started;
    expect(fake.stats.requests).toBe(2);
    expect(waited).toBeGreaterThanOrEqual(390);
    expect(waited).toBeLessThan(5000);
  });

  it('retries connection resets', async () => {
    fake.setFaults({ reset: true });
    const e = await failure(testClient(url, { maxRetries: 2 }).complete(request(), signal()));
    expect(e.code).toBe('AI_UNAVAILABLE');
    expect(fake.stats.requests).toBe(3);
  });

  it('closes the socket of an attempt that times out', async () => {
    fake.setFaults({ hang: true });
    const e = await failure(testClient(url, { timeoutMs: 150, maxRetries: 0 }).complete(request(), signal()));
    expect(e.code).toBe('AI_UNAVAILABLE');
    expect(e.message).toMatch(/no answer within 150 ms/);
    await until(() => fake.stats.abortedByClient === 1 && fake.stats.inFlight === 0, 'the server to see the socket closed');
  });

  it('reports an unreadable answer as AI_BAD_RESPONSE', async () => {
    fake.setFaults({ malformed: true });
    const e = await failure(testClient(url).complete(request(), signal()));
    expect(e.code).toBe('AI_BAD_RESPONSE');
    expect(fake.stats.requests).toBe(1);
  });

  it('opens the breaker after consecutive failures, fails fast, then half-opens and closes', async () => {
    const client = testClient(url, { maxRetries: 0, breakerThreshold: 2, breakerHalfOpenMs: 150 });
    const states: string[] = [];
    client.onBreakerStateChange((s) => states.push(s));
    fake.setFaults({ errorRate: 1 });
    for (let i = 0; i < 2; i++) expect((await failure(client.complete(request(), signal()))).code).toBe('AI_UNAVAILABLE');
    expect(client.breakerState).toBe('open');
    const e = await failure(client.complete(request(), signal()));
    expect(e.message).toMatch(/circuit breaker is open/);
    expect(fake.stats.requests).toBe(2);
    fake.setFaults({});
    await new Promise((r) => setTimeout(r, 200)); // the half-open delay is time itself
    await client.complete(request(), signal());
    expect(client.breakerState).toBe('closed');
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('caps concurrent requests with the bulkhead, as seen by the server', async () => {
    fake.setFaults({ latencyMs: 50 });
    const client = testClient(url, { maxConcurrency: 2 });
    await Promise.all(Array.from({ length: 8 }, (_, i) => client.complete(request(`r${i}`), signal())));
    expect(fake.stats.requests).toBe(8);
    expect(fake.stats.maxInFlight).toBe(2);
  });

  it('refuses calls beyond the bulkhead queue as AI_UNAVAILABLE', async () => {
    fake.setFaults({ latencyMs: 50 });
    const client = testClient(url, { maxConcurrency: 1, maxQueue: 1 });
    const results = await Promise.allSettled([1, 2, 3].map(() => client.complete(request(), signal())));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(((results[2] as PromiseRejectedResult).reason as { code: string }).code).toBe('AI_UNAVAILABLE');
  });

  it('cancels with the caller signal and reports no failure of its own', async () => {
    fake.setFaults({ hang: true });
    const controller = new AbortController();
    const p = testClient(url).complete(request(), { signal: controller.signal });
    await until(() => fake.stats.requests === 1, 'the request to arrive');
    controller.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    await until(() => fake.stats.inFlight === 0, 'the socket to close');
  });

  it('speaks the OpenAI chat completions API with a bearer token', async () => {
    const client = testClient(url, { provider: openaiProvider, apiKey: 'sk-test-123' });
    const answer = await client.complete(request('hi'), signal());
    expect(answer.text).toMatch(/Task:\nhi$|: hi$/);
    expect(answer.tokens).toBeGreaterThan(0);
    expect(fake.lastHeaders.authorization).toBe('Bearer sk-test-123');
    expect(fake.stats.byPath['/v1/chat/completions']).toBe(1);
  });

  it('asks for an uncompressed answer and keeps its connection alive (README: AI providers and resilience)', async () => {
    await testClient(url).complete(request('hi'), signal());
    expect(fake.lastHeaders['accept-encoding']).toBeUndefined();
    expect(fake.lastHeaders.connection).toBe('keep-alive');
  });

  it('settles its steps with the answer, or with the error the call failed with', async () => {
    const settled: CallOutcome[] = [];
    const part = { enter: async () => ({ leave() {} }), reserve: async () => ({ held: {} }), settle: (_c: unknown, _r: unknown, o: CallOutcome) => void settled.push(o) };
    const steps: CallSteps = { gate: part, reserve: part, settle: part };
    const answer = await testClient(url, { steps }).complete(request(), signal());
    fake.setFaults({ failFirst: 10, errorStatus: 400 });
    const error = await failure(testClient(url, { steps }).complete(request(), signal()));
    expect(settled).toEqual([{ ok: true, answer }, { ok: false, error }]);
  });

  it('checks health', async () => {
    expect(await testClient(url).health()).toBe(true);
    expect(await testClient('http://127.0.0.1:9').health()).toBe(false);
  });
});
