import { describe, expect, it } from '@jest/globals';
import { outputText, usageTokens, orchestratorProvider, openaiProvider } from '../../../src/ai/providers.ts';
import { isTransient, parseRetryAfter, AiHttpError, AiTransportError } from '../../../src/ai/errors.ts';
import { buildPrompt, generationParameters, modelOf } from '../../../src/ai/prompt.ts';
import { makeJob, output } from '../../helpers/engine.ts';

describe('provider answers', () => {
  it('reads orchestrator outputs as string, object or array', () => {
    expect(outputText('plain')).toBe('plain');
    expect(outputText({ generated_text: 'g' })).toBe('g');
    expect(outputText({ content: 'c' })).toBe('c');
    expect(outputText([{ generated_text: 'a' }, 'b'])).toBe('a\nb');
    expect(outputText({ other: 1 })).toBe('{"other":1}');
    expect(() => outputText(null)).toThrow();
  });

  it('reads token usage from llama.cpp usage or the documented example', () => {
    expect(usageTokens({ usage: { total_tokens: 42 } })).toBe(42);
    expect(usageTokens({ usage: { prompt_tokens: 3, completion_tokens: 4 } })).toBe(7);
    expect(usageTokens({ tokens_generated: 9, generation_time_ms: 5 })).toBe(9);
    expect(usageTokens({})).toBeNull();
  });

  it('rejects answers of the wrong shape', () => {
    const req = { prompt: { system: '', user: '' }, model: 'm', parameters: {} };
    expect(() => orchestratorProvider.parse({ detail: 'x' }, req)).toThrow(/no outputs/);
    expect(() => openaiProvider.parse({ choices: [] }, req)).toThrow(/choices/);
    expect(orchestratorProvider.parse({ outputs: 'x', metadata: { generation_time_ms: 12 } }, req)).toEqual({ text: 'x', model: 'm', tokens: null, usage: null, providerMs: 12 });
  });
});

describe('error rules', () => {
  it('treats transport errors, 408, 429 and 5xx as transient, other 4xx not', () => {
    expect([408, 429, 500, 503].map((s) => isTransient(new AiHttpError(s, '')))).toEqual([true, true, true, true]);
    expect([400, 401, 404, 422].map((s) => isTransient(new AiHttpError(s, '')))).toEqual([false, false, false, false]);
    expect(isTransient(new AiTransportError('ECONNREFUSED', 'x'))).toBe(true);
    expect(isTransient(new Error('x'))).toBe(false);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('buildPrompt', () => {
  it('carries mode, persona, chaos level, language, kind and the dependency outputs', () => {
    const job = makeJob([{ id: 'a' }, { id: 'b', deps: ['a'], kind: 'analyze' }], { mode: 'chaos', chaos_level: 5, persona: 'data_analyst', language: 'tr' });
    const p = buildPrompt(job.tasks[1], job, new Map([['a', output('first answer')]]));
    expect(p.system).toBe('You are data_analyst. Mode: chaos, chaos level 5. Answer in tr. Task kind: analyze.');
    expect(p.user).toBe('Context from earlier tasks:\n[a]\nfirst answer\n\nTask:\ndo b');
  });

  it('takes the prompt, persona, mode, model and generation parameters from the task', () => {
    const job = makeJob([{ id: 'a' }]);
    job.tasks[0].parameters = { prompt: 'Say hi', persona: 'poet', mode: 'Dream', model: 'fake-small', temperature: 0.2, max_tokens: 5, url: 'x' };
    const p = buildPrompt(job.tasks[0], job, new Map());
    expect(p).toEqual({ system: 'You are poet. Mode: dream.', user: 'Task:\nSay hi' });
    expect(generationParameters(job.tasks[0])).toEqual({ temperature: 0.2, max_tokens: 5 });
    expect(modelOf(job.tasks[0], 'default')).toBe('fake-small');
  });
});
