import { describe, expect, it } from '@jest/globals';
import { openaiStreamReader } from '../../../src/ai/openai-stream.ts';
import { AiBadResponseError, AiTransportError } from '../../../src/ai/errors.ts';
import { ChatStream, fakeUsage, tokens } from '../../../src/ai/fake-answers.ts';

const chunk = (content: string | null, extra: Record<string, unknown> = {}) => JSON.stringify({
  id: 'c', object: 'chat.completion.chunk', model: 'gpt-x-2025', choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: null, ...extra }],
});

describe('openaiStreamReader', () => {
  it('gives the text deltas, the model that answered and the usage of the last event', () => {
    const r = openaiStreamReader('gpt-x');
    const deltas = [
      JSON.stringify({ model: 'gpt-x-2025', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }),
      chunk('Hel'), chunk('lo'), chunk(null, { finish_reason: 'stop' }),
      JSON.stringify({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } } }),
      '[DONE]',
    ].map((d) => r.event(d));
    expect(deltas).toEqual(['', 'Hel', 'lo', '', '', '']);
    expect(r.end('Hello')).toEqual({
      text: 'Hello', model: 'gpt-x-2025', tokens: 11, providerMs: null,
      usage: { input: 9, output: 2, cached_input: 0, reasoning: 0 },
    });
  });

  it('keeps usage unknown when the server sends no usage event', () => {
    const r = openaiStreamReader('m');
    r.event(chunk('a', { finish_reason: 'stop' }));
    expect(r.end('a')).toMatchObject({ tokens: null, usage: null });
  });

  it('calls a stream that ended before its finish and [DONE] a cut (transient)', () => {
    const r = openaiStreamReader('m');
    r.event(chunk('partial'));
    expect(() => r.end('partial')).toThrow(AiTransportError);
    try {
      r.end('partial');
    } catch (e) {
      expect((e as AiTransportError).code).toBe('STREAM_CUT');
    }
  });

  it('accepts an end after [DONE] alone or a finish alone', () => {
    const a = openaiStreamReader('m');
    a.event('[DONE]');
    expect(a.end('').text).toBe('');
    const b = openaiStreamReader('m');
    b.event(chunk(null, { finish_reason: 'length' }));
    expect(b.end('').text).toBe('');
  });

  it('turns an error event into a cut stream, and data that is not JSON into a bad response', () => {
    const r = openaiStreamReader('m');
    expect(() => r.event(JSON.stringify({ error: { message: 'overloaded' } }))).toThrow(/overloaded/);
    expect(() => r.event('{not json')).toThrow(AiBadResponseError);
    expect(() => r.event('[1]')).toThrow(AiBadResponseError);
  });

  it('reads back the events the fake AI streams to the same text and usage', () => {
    const s = new ChatStream('id', 'fake-small');
    const text = 'Merhaba dünya, a streamed answer';
    const usage = fakeUsage('prompt', text.length, {});
    const wire = s.start() + tokens(text).map((t) => s.delta(t)).join('') + s.end(usage);
    const r = openaiStreamReader('asked');
    const events = wire.split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
    const got = events.map((e) => r.event(e)).join('');
    expect(got).toBe(text);
    expect(r.end(got)).toMatchObject({ model: 'fake-small', usage: { output: Math.ceil(text.length / 4), cached_input: 0, reasoning: 0 } });
  });
});
