/**
 * The AI call path over real HTTP against the fake orchestrator: chunks (streamed and whole),
 * usage, the answer size cap, the guard, the steps, and what each attempt reports.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { AiCall, AiChunk, AttemptInfo } from '../../src/ai/call.ts';
import { failureOf } from '../../src/ai/errors.ts';
import { FakeOrchestrator } from '../../src/ai/fake-orchestrator.ts';
import { openaiProvider } from '../../src/ai/providers.ts';
import type { CallSteps, Reservation } from '../../src/ai/steps.ts';
import { AltlasError, isAltlasError } from '../../src/errors.ts';
import { request, testClient, until } from '../helpers/ai.ts';

let fake: FakeOrchestrator;
let url: string;
const openai = { provider: openaiProvider };

beforeAll(async () => {
  fake = new FakeOrchestrator();
  url = await fake.listen();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.setFaults({});
  fake.resetStats();
});

/** Runs one call, keeping its chunks and attempts. */
async function run(client: ReturnType<typeof testClient>, text = 'hello', guard?: () => Error | null) {
  const chunks: AiChunk[] = [];
  const attempts: AttemptInfo[] = [];
  try {
    const answer = await client.complete(request(text), { signal: new AbortController().signal, onChunk: (c) => chunks.push(c), onAttempt: (a) => attempts.push(a), guard });
    return { answer, chunks, attempts, error: null };
  } catch (error) {
    return { answer: null, chunks, attempts, error };
  }
}

describe('the answer as chunks', () => {
  it('streams an OpenAI answer: a chunk per network read with text, usage from the last event, stream_options asked', async () => {
    fake.setFaults({ cachedTokens: 5, reasoningTokens: 7 });
    const { answer, chunks, attempts } = await run(testClient(url, openai), 'stream me please');
    expect(fake.lastBody).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(fake.stats.streams).toBe(1);
    expect(chunks.map((c) => c.index)).toEqual(chunks.map((_, i) => i));
    expect(chunks.every((c) => c.attempt === 1)).toBe(true);
    expect(chunks.map((c) => c.text).join('')).toBe(answer!.text);
    expect(answer!.text).toMatch(/stream me please$/);
    const output = Math.ceil(answer!.text.length / 4) + 7;
    expect(answer!.usage).toEqual({ input: expect.any(Number), output, cached_input: 5, reasoning: 7, attempt: 1 });
    expect(answer!.tokens).toBe(answer!.usage.input! + output);
    expect(answer!.streamed).toBe(true);
    expect(attempts).toMatchObject([{ outcome: 'ok', streamed: true, chunks: chunks.length, usage: { cached_input: 5 } }]);
  });

  it('asks for a whole answer with AI_STREAM off, and gives it as one chunk', async () => {
    const { answer, chunks } = await run(testClient(url, { ...openai, stream: false }), 'whole');
    expect(fake.lastBody).not.toHaveProperty('stream');
    expect(fake.stats.streams).toBe(0);
    expect(chunks).toEqual([{ attempt: 1, index: 0, text: answer!.text }]);
    expect(answer!.streamed).toBe(false);
    expect(answer!.usage.output).toBe(Math.ceil(answer!.text.length / 4));
  });

  it('gives the orchestrator\'s answer as one chunk when it arrives, with usage from metadata.usage', async () => {
    fake.setFaults({ cachedTokens: 2 });
    const { answer, chunks } = await run(testClient(url), 'orchestrated');
    expect(chunks).toEqual([{ attempt: 1, index: 0, text: answer!.text }]);
    expect(answer!.usage).toMatchObject({ cached_input: 2, reasoning: 0, attempt: 1 });
    expect(answer!.model).toBe('default');
  });

  it('keeps usage unknown (null) when the provider reports none, streamed or not', async () => {
    fake.setFaults({ noUsage: true });
    for (const client of [testClient(url), testClient(url, openai)]) {
      const { answer } = await run(client);
      expect(answer!.usage).toEqual({ input: null, output: null, cached_input: null, reasoning: null, attempt: 1 });
      expect(answer!.tokens).toBeNull();
    }
  });

  it('retries a stream cut in the middle; the cut attempt\'s chunks keep its number and its report says stream_cut', async () => {
    fake.setFaults({ cutStreamAfter: 2, cutStreamFirst: 1 });
    const { answer, chunks, attempts } = await run(testClient(url, openai), 'cut me once');
    expect(fake.stats.requests).toBe(2);
    // The two tokens sent before the cut, in as many chunks as reads carried them.
    const first = chunks.filter((c) => c.attempt === 1);
    expect(first.map((c) => c.index)).toEqual(first.map((_, i) => i));
    expect(first.map((c) => c.text).join('')).toBe(answer!.text.slice(0, 8));
    expect(chunks.filter((c) => c.attempt === 2).map((c) => c.text).join('')).toBe(answer!.text);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.failure, a.chunks])).toEqual([[1, 'transient', 'stream_cut', first.length], [2, 'ok', null, chunks.length - first.length]]);
    expect(answer!.usage.attempt).toBe(2);
  });

  it('fails with AI_UNAVAILABLE (stream_cut) when every stream is cut', async () => {
    fake.setFaults({ cutStreamAfter: 1 });
    const { error } = await run(testClient(url, { ...openai, maxRetries: 2 }));
    expect(isAltlasError(error, 'AI_UNAVAILABLE')).toBe(true);
    expect(failureOf(error)).toBe('stream_cut');
    expect(fake.stats.requests).toBe(3);
  });

  it('stops an attempt whose chunk observer throws, with that error and no retry', async () => {
    const mine = new Error('budget spent mid-answer');
    const client = testClient(url, openai);
    await expect(client.complete(request('x'.repeat(200)), { signal: new AbortController().signal, onChunk: () => { throw mine; } })).rejects.toBe(mine);
    expect(fake.stats.requests).toBe(1);
  });
});

describe('AI_MAX_RESPONSE_BYTES', () => {
  const CAP = 65_536;

  it('refuses a whole answer past the cap with AI_RESPONSE_TOO_LARGE, closing its connection instead of reading it', async () => {
    fake.setFaults({ outputChars: 16_000_000 });
    const { error, attempts, chunks } = await run(testClient(url, { maxResponseBytes: CAP }));
    expect(isAltlasError(error, 'AI_RESPONSE_TOO_LARGE')).toBe(true);
    expect(failureOf(error)).toBe('too_large');
    expect(fake.stats.requests).toBe(1); // not retried
    expect(chunks).toEqual([]);
    expect(attempts).toMatchObject([{ outcome: 'too_large', failure: 'too_large', status: 200 }]);
    // At most one network read past the cap was taken in, and the server saw the answer cut: the socket was closed, not kept.
    expect(attempts[0].bytes).toBeGreaterThan(CAP);
    expect(attempts[0].bytes).toBeLessThan(CAP + 262_144);
    await until(() => fake.stats.cutByClient === 1, 'the server to see its answer cut');
  });

  it('refuses a streamed answer whose text grows past the cap, after the chunks under it', async () => {
    fake.setFaults({ outputChars: 200_000 });
    const { error, chunks } = await run(testClient(url, { ...openai, maxResponseBytes: 4_096 }));
    expect(isAltlasError(error, 'AI_RESPONSE_TOO_LARGE')).toBe(true);
    expect(chunks.map((c) => c.text).join('').length).toBeLessThanOrEqual(4_096);
    expect(chunks.length).toBeGreaterThan(0);
    expect(fake.stats.requests).toBe(1);
    await until(() => fake.stats.cutByClient === 1, 'the server to see its stream cut');
  });

  it('takes an answer of exactly the cap', async () => {
    fake.setFaults({ outputChars: 1_000 });
    const probe = await run(testClient(url));
    const bytes = probe.attempts[0].bytes;
    const { answer } = await run(testClient(url, { maxResponseBytes: bytes }));
    expect(answer!.text.length).toBe(1_000);
    expect((await run(testClient(url, { maxResponseBytes: bytes - 1 }))).error).toBeInstanceOf(AltlasError);
  });
});

describe('the guard', () => {
  it('stops the next attempt before any byte is sent when it fails between retries, with its own error', async () => {
    fake.setFaults({ failFirst: 5, errorStatus: 503 });
    const lost = new AltlasError('LEASE_LOST', 'the lease was lost');
    let checks = 0;
    const { error, attempts } = await run(testClient(url), 'guarded', () => (++checks === 1 ? null : lost));
    expect(error).toBe(lost);
    expect(checks).toBe(2);
    expect(fake.stats.requests).toBe(1);
    expect(fake.stats.requestBytes).toBe(Buffer.byteLength(JSON.stringify({ model_id: 'default', inputs: 'You are t.\n\nTask:\nguarded', parameters: {} })));
    expect(attempts.map((a) => a.failure)).toEqual(['server_error']);
  });

  it('makes no request at all when it fails before the first attempt', async () => {
    const { error } = await run(testClient(url), 'x', () => new Error('not ours any more'));
    expect((error as Error).message).toBe('not ours any more');
    expect(fake.stats.requests).toBe(0);
  });
});

describe('what each attempt reports', () => {
  it('carries the rate-limit headers of OpenAI, Anthropic and Retry-After, on failures too', async () => {
    fake.setFaults({ failFirst: 1, errorStatus: 429, retryAfterS: 0, responseHeaders: { 'x-ratelimit-remaining-tokens': '1200', 'anthropic-ratelimit-requests-remaining': '4', 'x-other': 'no' } });
    const { attempts } = await run(testClient(url));
    expect(attempts.map((a) => [a.status, a.failure, a.headers])).toEqual([
      [429, 'rate_limited', { 'retry-after': '0' }],
      [200, null, { 'x-ratelimit-remaining-tokens': '1200', 'anthropic-ratelimit-requests-remaining': '4' }],
    ]);
  });

  it('never shows the userinfo of AI_URL, and still sends it', async () => {
    const seen: AttemptInfo[] = [];
    const withUser = url.replace('http://', 'http://robot:s3cret-pass@');
    const { attempts, error } = await run(testClient(withUser, { onAttempt: (i) => seen.push(i) }));
    expect(error).toBeNull();
    expect([...attempts, ...seen].map((a) => a.url)).toEqual([`${url}/api/inference/`, `${url}/api/inference/`]);
    expect(fake.lastHeaders.authorization).toBe(`Basic ${Buffer.from('robot:s3cret-pass').toString('base64')}`);
  });

  it('names the class of a failed call: breaker_open, overloaded, server_error after retries, timeout, rejected', async () => {
    fake.setFaults({ errorRate: 1 });
    const breaker = testClient(url, { maxRetries: 1, breakerThreshold: 1, breakerHalfOpenMs: 60_000 });
    expect(failureOf((await run(breaker)).error)).toBe('server_error');
    expect(failureOf((await run(breaker)).error)).toBe('breaker_open');
    fake.setFaults({ hang: true });
    expect(failureOf((await run(testClient(url, { timeoutMs: 100, maxRetries: 0 }))).error)).toBe('timeout');
    fake.resetStats();
    fake.setFaults({ failFirst: 1, errorStatus: 404 });
    expect(failureOf((await run(testClient(url))).error)).toBe('rejected');
    fake.setFaults({ latencyMs: 200 });
    const small = testClient(url, { maxConcurrency: 1, maxQueue: 0 });
    const [, second] = await Promise.all([run(small), run(small)]);
    expect(failureOf(second.error)).toBe('overloaded');
  });
});

describe('the steps around the policies', () => {
  function recording(refuse = false) {
    const log: string[] = [];
    let seen: AiCall | null = null;
    const steps: CallSteps = {
      gate: { enter: async (call) => (seen = call, log.push(`enter ${call.taskKey}`), { leave: () => void log.push('leave') }), onAttempt: (_c, i) => void log.push(`gate saw ${i.status}`) },
      reserve: {
        reserve: async (call) => {
          log.push(`reserve ${call.maxTokens}`);
          if (refuse) throw new AltlasError('AI_UNAVAILABLE', 'no budget');
          return { held: { tokens: 10 } };
        },
      },
      settle: {
        settle: (call: AiCall, r: Reservation, o) => void log.push(`settle ${JSON.stringify(r.held)} ${o.ok ? `ok ${o.answer.usage.output}` : `failed ${failureOf(o.error)}`} after ${call.attempts.length}`),
      },
    };
    return { log, steps, seen: () => seen };
  }
  const req = { ...request('stepped'), parameters: { max_tokens: 64 }, origin: { jobId: 'job-1', taskKey: 't1', taskAttempt: 1 } };

  it('goes gate → reserve → attempts → settle → leave, each step seeing the descriptor and every attempt', async () => {
    fake.setFaults({ failFirst: 1, errorStatus: 503 });
    const r = recording();
    const answer = await testClient(url, { steps: r.steps }).complete(req, { signal: new AbortController().signal });
    expect(r.log).toEqual(['enter t1', 'reserve 64', 'gate saw 503', 'gate saw 200', `settle {"tokens":10} ok ${answer.usage.output} after 2`, 'leave']);
    expect(r.seen()).toMatchObject({ provider: 'orchestrator', jobId: 'job-1', taskKey: 't1', maxTokens: 64, stream: false });
  });

  it('settles a failed call with its failure, and leaves the gate', async () => {
    fake.setFaults({ errorRate: 1 });
    const r = recording();
    await expect(testClient(url, { steps: r.steps, maxRetries: 1 }).complete(req, { signal: new AbortController().signal })).rejects.toThrow(/unavailable/);
    expect(r.log.slice(-2)).toEqual(['settle {"tokens":10} failed server_error after 2', 'leave']);
  });

  it('sends nothing when reserve refuses, and leaves the gate', async () => {
    const r = recording(true);
    await expect(testClient(url, { steps: r.steps }).complete(req, { signal: new AbortController().signal })).rejects.toThrow('no budget');
    expect(r.log).toEqual(['enter t1', 'reserve 64', 'leave']);
    expect(fake.stats.requests).toBe(0);
  });
});
