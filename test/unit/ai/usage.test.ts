import { describe, expect, it } from '@jest/globals';
import { orchestratorUsage, readUsage, totalTokens, UNKNOWN_USAGE } from '../../../src/ai/usage.ts';
import { limitHeaders, displayUrl } from '../../../src/ai/headers.ts';

describe('readUsage', () => {
  it('reads OpenAI usage with its details', () => {
    expect(readUsage({ prompt_tokens: 120, completion_tokens: 30, total_tokens: 150, prompt_tokens_details: { cached_tokens: 100 }, completion_tokens_details: { reasoning_tokens: 12 } }))
      .toEqual({ input: 120, output: 30, cached_input: 100, reasoning: 12 });
  });

  it('keeps what the provider did not report unknown: null, never 0', () => {
    expect(readUsage({ prompt_tokens: 5 })).toEqual({ input: 5, output: null, cached_input: null, reasoning: null });
    expect(readUsage({ prompt_tokens: -1, completion_tokens: 'x', prompt_tokens_details: null })).toEqual(UNKNOWN_USAGE);
    expect(readUsage(undefined)).toBeNull();
    expect(readUsage([1, 2])).toBeNull();
  });

  it('keeps a reported zero as zero', () => {
    expect(readUsage({ prompt_tokens: 0, completion_tokens: 0, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } }))
      .toEqual({ input: 0, output: 0, cached_input: 0, reasoning: 0 });
  });

  it('reads Anthropic-style names a gateway passes through', () => {
    expect(readUsage({ input_tokens: 10, output_tokens: 4, cache_read_input_tokens: 8 })).toEqual({ input: 10, output: 4, cached_input: 8, reasoning: null });
  });
});

describe('orchestratorUsage', () => {
  it('reads llama.cpp metadata.usage, or tokens_generated as the output tokens', () => {
    expect(orchestratorUsage({ usage: { prompt_tokens: 3, completion_tokens: 4 } })).toEqual({ input: 3, output: 4, cached_input: null, reasoning: null });
    expect(orchestratorUsage({ tokens_generated: 9, generation_time_ms: 5 })).toEqual({ ...UNKNOWN_USAGE, output: 9 });
    expect(orchestratorUsage({ usage: { prompt_tokens: 3 }, tokens_generated: 9 })).toEqual({ ...UNKNOWN_USAGE, input: 3, output: 9 });
    expect(orchestratorUsage({})).toBeNull();
    expect(orchestratorUsage('x')).toBeNull();
  });
});

describe('totalTokens', () => {
  it('takes the reported total, else input plus output where either is known, else null', () => {
    expect(totalTokens({ total_tokens: 42, prompt_tokens: 1 }, readUsage({ prompt_tokens: 1 }))).toBe(42);
    expect(totalTokens({ prompt_tokens: 3, completion_tokens: 4 }, readUsage({ prompt_tokens: 3, completion_tokens: 4 }))).toBe(7);
    expect(totalTokens({}, readUsage({}))).toBeNull();
    expect(totalTokens(undefined, null)).toBeNull();
  });
});

describe('limitHeaders', () => {
  it('keeps the rate-limit headers of OpenAI and Anthropic and Retry-After, nothing else', () => {
    expect(limitHeaders({
      'x-ratelimit-limit-tokens': '60000', 'x-ratelimit-remaining-requests': '59', 'x-ratelimit-reset-tokens': '6m0s',
      'anthropic-ratelimit-tokens-remaining': '1000', 'retry-after': '3', 'content-type': 'application/json', 'set-cookie': ['a=b', 'c=d'], 'x-request-id': 'r',
    })).toEqual({
      'x-ratelimit-limit-tokens': '60000', 'x-ratelimit-remaining-requests': '59', 'x-ratelimit-reset-tokens': '6m0s',
      'anthropic-ratelimit-tokens-remaining': '1000', 'retry-after': '3',
    });
    expect(limitHeaders({ 'content-type': 'text/event-stream' })).toEqual({});
  });
});

describe('displayUrl', () => {
  it('drops the userinfo of AI_URL, whatever its characters', () => {
    expect(displayUrl('http://user:s3cr%2Ft@ai.example:8001/api/inference/')).toBe('http://ai.example:8001/api/inference/');
    expect(displayUrl('https://token@ai.example/v1/chat/completions')).toBe('https://ai.example/v1/chat/completions');
    expect(displayUrl('http://127.0.0.1:8001/api/inference/')).toBe('http://127.0.0.1:8001/api/inference/');
  });
});
