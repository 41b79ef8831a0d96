import { describe, expect, it, jest } from '@jest/globals';
import { deltaShape, openaiStreamReader, shapedDelta, shapedRun } from '../../../src/ai/openai-stream.ts';
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

/** What reading every event whole gives (the reader before any shape): the reference the shaped path must equal. */
function parsedWhole(events: string[]): { texts: (string | Error)[]; end: unknown } {
  const texts: (string | Error)[] = [];
  let model: unknown = 'asked';
  let usage: unknown = null;
  let ended = false;
  for (const data of events) {
    if (data === '[DONE]') {
      ended = true;
      texts.push('');
      continue;
    }
    try {
      const e = JSON.parse(data);
      if (e.error !== undefined) throw new Error('error event');
      if (typeof e.model === 'string') model = e.model;
      if (e.usage && typeof e.usage === 'object') usage = e.usage.total_tokens;
      if (typeof e.choices?.[0]?.finish_reason === 'string') ended = true;
      const c = e.choices?.[0]?.delta?.content;
      texts.push(typeof c === 'string' ? c : '');
    } catch (err) {
      texts.push(err as Error);
    }
  }
  return { texts, end: ended ? { model, tokens: usage ?? null } : 'cut' };
}

function readAll(events: string[]): { texts: (string | Error)[]; end: unknown } {
  const r = openaiStreamReader('asked');
  const texts = events.map((d) => {
    try {
      return r.event(d);
    } catch (err) {
      return err as Error;
    }
  });
  try {
    const a = r.end('');
    return { texts, end: { model: a.model, tokens: a.tokens } };
  } catch {
    return { texts, end: 'cut' };
  }
}

const kinds = (texts: (string | Error)[]) => texts.map((t) => (t instanceof Error ? 'error' : t));

describe('delta shapes', () => {
  const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm-2025', system_fingerprint: 'fp' };
  const shapes: ((content: string, model?: string) => string)[] = [
    (content) => JSON.stringify({ ...base, choices: [{ index: 0, delta: { content }, finish_reason: null }] }),
    (content) => JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: null }] }),
    (content) => JSON.stringify({ ...base, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }], usage: null }),
    (content) => JSON.stringify({ ...base, choices: [{ index: 0, delta: { content }, finish_reason: null }], obfuscation: content.length.toString(36).repeat(3) }),
    (content) => JSON.stringify({ ...base, choices: [{ index: 0, delta: { content }, finish_reason: 'stop' }] }),
    (content, model) => JSON.stringify({ ...base, model, choices: [{ index: 0, delta: { content }, finish_reason: null }] }),
    (content) => JSON.stringify({ ...base, choices: [{ index: 0, delta: { content }, finish_reason: null }], usage: { total_tokens: content.length } }),
    (content, model) => JSON.stringify({ ...base, model, choices: [], usage: { total_tokens: 7 + content.length } }),
    (content) => JSON.stringify({ ...base, choices: [{ index: 0, message: { content: 'other' }, delta: { content } }] }),
    (content) => JSON.stringify({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: `{"content":"${content.length}"}` } }] }, finish_reason: null }] }),
    (content) => JSON.stringify({ ...base, choices: [{ index: 0, delta: { refusal: content }, finish_reason: null }] }),
    (content) => JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: 3, completion_tokens: content.length, total_tokens: 3 + content.length } }),
    (content) => `${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content }, finish_reason: null }] }).slice(0, -3)}`,
    (content) => JSON.stringify({ error: { message: content } }),
    () => '[DONE]',
  ];

  it('reads any stream of events of the shapes OpenAI sends exactly as parsing each whole would', async () => {
    const fc = (await import('fast-check')).default;
    const models = fc.constantFrom('m-2025', 'm-other', undefined);
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(shapes.length - 1), fc.string({ unit: 'binary', maxLength: 16 }), models), { minLength: 1, maxLength: 40 }), fc.nat(3), (picked, common) => {
      // Runs of the commonest shape, as a stream is: most events are plain deltas of one shape.
      const events = picked.map(([k, content, model], i) => shapes[i % 4 === 0 ? k : common](content, model));
      const want = parsedWhole(events);
      const got = readAll(events);
      expect(kinds(got.texts)).toEqual(kinds(want.texts));
      expect(got.end).toEqual(want.end);
    }), { numRuns: 500 });
  });

  it('reads the commonest events without JSON.parse once their shape is learned', () => {
    const s = new ChatStream('id', 'fake-small');
    const text = 'x'.repeat(1_000);
    const events = (s.start() + tokens(text).map((t) => s.delta(t)).join('') + s.end(fakeUsage('p', 1_000, {}))).split('\n\n').filter(Boolean).map((e) => e.slice(6));
    const parse = jest.spyOn(JSON, 'parse');
    try {
      expect(readAll(events).texts.join('')).toBe(text);
      // The role event, the first delta and the probe of its shape, the finish, the usage.
      expect(parse.mock.calls.length).toBe(5);
    } finally {
      parse.mockRestore();
    }
  });

  it('stops learning shapes from a server whose deltas differ in more than their text (a parse an event, not two)', () => {
    // OpenAI's obfuscation field: random characters after the delta, so no two events share a suffix.
    const events = Array.from({ length: 50 }, (_, i) => JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: `t${i}` }, finish_reason: null }], obfuscation: 'x'.repeat(i % 7) + i }));
    const parse = jest.spyOn(JSON, 'parse');
    try {
      expect(readAll([...events, '[DONE]']).texts.join('')).toBe(events.map((_, i) => `t${i}`).join(''));
      expect(parse.mock.calls.length).toBe(50 + 4);
    } finally {
      parse.mockRestore();
    }
  });

  it('names the model and keeps the usage that reading each event whole would, whatever came between', () => {
    const delta = (content: string, extra: Record<string, unknown>) => JSON.stringify({ ...base, ...extra, choices: [{ index: 0, delta: { content }, finish_reason: null }] });
    const finish = JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
    const models = [delta('a', { model: 'm1' }), JSON.stringify({ model: 'm2', choices: [] }), delta('b', { model: 'm1' }), finish];
    const usages = [delta('a', { usage: { total_tokens: 1 } }), JSON.stringify({ choices: [], usage: { total_tokens: 2 } }), delta('b', { usage: { total_tokens: 1 } }), finish];
    for (const events of [models, usages]) expect(readAll(events)).toEqual(parsedWhole(events));
    expect(readAll(models).end).toMatchObject({ model: 'm1' });
  });

  it('learns no shape from a "content" that is not the delta\'s', () => {
    const event = (other: string, content: string) => JSON.stringify({ choices: [{ index: 0, message: { content: other }, delta: { content } }] });
    expect(deltaShape(event('x', 'a'), 'a')).toBeNull();
    const r = openaiStreamReader('m');
    expect([event('x', 'a'), event('y', 'a'), event('z', 'b')].map((e) => r.event(e))).toEqual(['a', 'a', 'b']);
  });

  it('reads an event of the shape whose text is not one JSON string whole (and refuses it when it is not JSON)', () => {
    const plain = (content: string) => JSON.stringify({ model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] });
    const shape = deltaShape(plain('abc'), 'abc')!;
    expect(shape).toMatchObject({ prefix: plain('abc').split('abc')[0], suffix: plain('abc').split('abc')[1], model: null });
    expect(shapedDelta(plain('a"b\\\n ✓'), shape)).toBe('a"b\\\n ✓');
    expect(shapedDelta(plain(''), shape)).toBe('');
    // The prefix and the suffix overlapping on the quotes, a quote or a control character in the text, a backslash escaping the closing quote.
    for (const odd of [shape.prefix + shape.suffix.slice(1), `${shape.prefix}a"b${shape.suffix}`, `${shape.prefix}a\nb${shape.suffix}`, `${shape.prefix}a\\${shape.suffix}`, `${shape.prefix}\\x${shape.suffix}`]) {
      expect([odd, shapedDelta(odd, shape)]).toEqual([odd, null]);
      const r = openaiStreamReader('m');
      r.event(plain('abc'));
      expect(() => r.event(odd)).toThrow(AiBadResponseError);
    }
  });

  it('runs over no byte of the wire that differs from the shape, the last bytes of each part included', () => {
    // Models of eight lengths: the parts compared eight bytes at a time end on every remainder;
    // and models of characters of two, three and four UTF-8 bytes, in every place of a word.
    const wide = ['é', '€', '😀', 'é€😀\u007f'].flatMap((c) => Array.from({ length: 8 }, (_, k) => `${'m'.repeat(k)}${c}${c}`));
    for (const model of [...Array.from({ length: 8 }, (_, k) => 'm'.repeat(k + 1)), ...wide]) {
      const s = new ChatStream('id', model);
      const shape = deltaShape(s.delta('first').slice(6, -2), 'first', model)!;
      const wire = Buffer.from(s.delta('ab') + s.delta('cd'));
      const out: string[] = [];
      expect(shapedRun(wire, 0, shape, out)).toBe(wire.length);
      expect(out.join('')).toBe('abcd');
      const bodies = [wire.indexOf('"ab"') + 1, wire.indexOf('"cd"') + 1];
      for (let i = 0; i < wire.length; i++) {
        if (bodies.some((b) => i === b || i === b + 1)) continue;
        const odd = Buffer.from(wire);
        odd[i] ^= 1;
        expect([i, shapedRun(odd, 0, shape, []) <= i]).toEqual([i, true]);
      }
    }
  });
});
