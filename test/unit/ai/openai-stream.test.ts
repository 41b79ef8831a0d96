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

describe('plainDelta', () => {
  it('reads the text of a plain delta event exactly as JSON.parse would, and leaves every other event to it', async () => {
    const { plainDelta } = await import('../../../src/ai/openai-stream.ts');
    const fc = (await import('fast-check')).default;
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.boolean(), (content, role) => {
      const data = JSON.stringify({ id: 'x', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: role ? { role: 'assistant', content } : { content }, logprobs: null, finish_reason: null }], usage: null });
      expect(plainDelta(data)).toBe(JSON.parse(data).choices[0].delta.content);
    }));
    for (const other of [
      chunk('a', { finish_reason: 'stop' }), JSON.stringify({ choices: [], usage: { total_tokens: 3 } }), JSON.stringify({ error: { message: 'x' } }),
      JSON.stringify({ choices: [{ delta: { content: 'a' } }, { delta: { content: 'b' } }] }), JSON.stringify({ choices: [{ delta: { role: 'assistant' }, message: { content: 'no' } }] }),
      '{"choices":[{"delta":{"content": "spaced"}}]}', '{"choices":[{"delta":{"content":"\\x"}}]}', '{"choices":[{"delta":{"content":"cut', '[{"delta":{"content":"a"}}]',
    ]) expect([other, plainDelta(other)]).toEqual([other, null]);
  });

  it('is used after the first event, and gives what the whole parse gives for the fake AI\'s stream', () => {
    const s = new ChatStream('id', 'fake-small');
    const text = 'Tab\there, "quotes", ünïcödé and \\ backslash\\';
    const events = (s.start() + tokens(text).map((t) => s.delta(t)).join('') + s.end(null)).split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
    const r = openaiStreamReader('asked');
    expect(events.map((e) => r.event(e)).join('')).toBe(text);
    expect(r.end(text)).toMatchObject({ model: 'fake-small' });
  });

  it('reads a stream of deltas as JSON.parse would, whatever the text', () => {
    const fc2 = import('fast-check');
    return fc2.then(({ default: fc }) => fc.assert(fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { minLength: 1, maxLength: 20 }), (pieces) => {
      const s = new ChatStream('id', 'm');
      const r = openaiStreamReader('m');
      r.event(s.start().slice(6, -2));
      const events = pieces.map((p) => s.delta(p).slice(6, -2));
      expect(events.map((e) => r.event(e))).toEqual(pieces.map((p) => JSON.parse(JSON.stringify(p))));
    })));
  });
});
