import { describe, expect, it } from '@jest/globals';
import { parseDuration, parseRetryAfter, readRateHeaders } from '../../../src/flow/rate-headers.ts';
import { countingOf, countText, OutputStats, promptTokens, reservationOf } from '../../../src/flow/token-count.ts';

const NOW = Date.parse('2026-12-07T14:00:00Z');

describe('rate-limit headers', () => {
  it('reads OpenAI-style limits, remaining counts and Go-duration resets', () => {
    const r = readRateHeaders({
      'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '499', 'x-ratelimit-reset-requests': '120ms',
      'x-ratelimit-limit-tokens': '60000', 'x-ratelimit-remaining-tokens': '59000', 'x-ratelimit-reset-tokens': '6m0s',
    }, NOW);
    expect(r).toEqual({ requests: { limit: 500, remaining: 499, resetMs: 120 }, tokens: { limit: 60_000, remaining: 59_000, resetMs: 360_000 }, retryAfterMs: null });
  });

  it('reads durations as providers write them', () => {
    expect(parseDuration('6m0s')).toBe(360_000);
    expect(parseDuration('1s')).toBe(1_000);
    expect(parseDuration('20ms')).toBe(20);
    expect(parseDuration('1h2m3.5s')).toBe(3_723_500);
    expect(parseDuration('17.5')).toBe(17_500);
    expect(parseDuration('soon')).toBeNull();
    expect(parseDuration('5x')).toBeNull();
  });

  it('reads Anthropic-style limits with RFC 3339 resets', () => {
    const r = readRateHeaders({
      'anthropic-ratelimit-requests-limit': '50', 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': '2026-12-07T14:00:30Z',
      'anthropic-ratelimit-tokens-limit': '80000', 'anthropic-ratelimit-tokens-remaining': '12000', 'anthropic-ratelimit-tokens-reset': '2026-12-07T14:00:05.500Z',
    }, NOW);
    expect(r.requests).toEqual({ limit: 50, remaining: 0, resetMs: 30_000 });
    expect(r.tokens).toEqual({ limit: 80_000, remaining: 12_000, resetMs: 5_500 });
  });

  it('combines Anthropic\'s separate input and output token limits, spent when either is', () => {
    const h = {
      'anthropic-ratelimit-input-tokens-limit': '40000', 'anthropic-ratelimit-input-tokens-remaining': '30000', 'anthropic-ratelimit-input-tokens-reset': '2026-12-07T14:00:10Z',
      'anthropic-ratelimit-output-tokens-limit': '8000', 'anthropic-ratelimit-output-tokens-remaining': '0', 'anthropic-ratelimit-output-tokens-reset': '2026-12-07T14:00:20Z',
    };
    expect(readRateHeaders(h, NOW).tokens).toEqual({ limit: 48_000, remaining: 0, resetMs: 20_000 });
    expect(readRateHeaders({ ...h, 'anthropic-ratelimit-output-tokens-remaining': '5000' }, NOW).tokens).toEqual({ limit: 48_000, remaining: 35_000, resetMs: 20_000 });
  });

  it('reads Retry-After in seconds or as an HTTP date, and leaves out what it cannot read', () => {
    expect(parseRetryAfter('2', NOW)).toBe(2_000);
    expect(parseRetryAfter('Mon, 07 Dec 2026 14:00:07 GMT', NOW)).toBe(7_000);
    expect(parseRetryAfter('whenever', NOW)).toBeNull();
    expect(readRateHeaders({ 'retry-after': '3', 'x-ratelimit-limit-tokens': 'lots' }, NOW)).toEqual({ requests: {}, tokens: {}, retryAfterMs: 3_000 });
  });
});

describe('token counting', () => {
  it('counts OpenAI models with their tokenizer and estimates others as bytes / 4 rounded up', () => {
    expect(countingOf('gpt-4o-mini')).toBe('o200k_base');
    expect(countingOf('gpt-4-turbo')).toBe('cl100k_base');
    expect(countingOf('llama3')).toBe('bytes/4');
    // "hello world" is two tokens in both OpenAI encodings.
    expect(countText('hello world', 'o200k_base')).toBe(2);
    expect(countText('hello world', 'cl100k_base')).toBe(2);
    expect(countText('hello world', 'bytes/4')).toBe(3);
    expect(countText('çé', 'bytes/4')).toBe(1);
    expect(promptTokens('llama3', 'abcd', 'abcde')).toBe(1 + 2 + 11);
  });

  it('reserves the learned p95 of outputs when below max_tokens, else max_tokens, else the default', () => {
    const s = new OutputStats(100);
    expect(s.quantile(0.95)).toBeNull();
    for (let i = 1; i <= 100; i++) s.add(i);
    expect(s.quantile(0.95)).toBe(95);
    expect(reservationOf(10, 500, 95, 4096)).toEqual({ tokens: 105, output: 95, outputFrom: 'p95' });
    expect(reservationOf(10, 50, 95, 4096)).toEqual({ tokens: 60, output: 50, outputFrom: 'max_tokens' });
    expect(reservationOf(10, null, null, 4096)).toEqual({ tokens: 4106, output: 4096, outputFrom: 'default' });
  });
});
