import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createParser } from 'eventsource-parser';
import { AiBadResponseError, AiTooLargeError } from '../../../src/ai/errors.ts';
import { ChatStream, fakeUsage, tokens } from '../../../src/ai/fake-answers.ts';
import { openaiStreamReader, type StreamReader } from '../../../src/ai/openai-stream.ts';
import { sseScanner } from '../../../src/ai/sse.ts';
import { sseReader } from '../../../src/ai/transport.ts';

/** The events eventsource-parser (the WHATWG parser the scanner replaced) gives for `pieces`: the reference. */
function referenceEvents(pieces: string[]): string[] {
  const events: string[] = [];
  const p = createParser({ onEvent: (e) => void events.push(e.data) });
  for (const piece of pieces) p.feed(piece);
  p.reset({ consume: true });
  return events;
}

function scannedEvents(pieces: Buffer[]): string[] {
  const events: string[] = [];
  const s = sseScanner({ onEvent: (d) => void events.push(d), maxBufferSize: 1 << 20, tooLarge: () => new Error('too large') });
  for (const piece of pieces) s.feed(piece);
  return events;
}

/** The UTF-8 bytes of `text` cut at `cuts` (inside characters too). */
const cutBytes = (text: string | Buffer, cuts: number[]) => cut(Buffer.from(text).toString('latin1'), cuts).map((p) => Buffer.from(p, 'latin1'));

/** `text` cut at `cuts` (positions taken modulo its length). */
function cut(text: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => (text.length === 0 ? 0 : c % (text.length + 1))))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const c of at) {
    pieces.push(text.slice(from, c));
    from = c;
  }
  pieces.push(text.slice(from));
  return pieces;
}

const EOL = fc.constantFrom('\n', '\r\n', '\r');
const value = fc.string({ unit: fc.constantFrom('a', 'b', ' ', ':', 'é', '"', '{', '}', 'data', '\u2028'), maxLength: 8 });
/** A line of an event stream (without its end): data fields in their spellings, other fields, comments, odd lines. */
const line = fc.oneof(
  { weight: 5, arbitrary: value.map((v) => `data: ${v}`) },
  value.map((v) => `data:${v}`),
  fc.constant('data'),
  fc.constant('data :x'),
  value.map((v) => `event: ${v}`),
  value.map((v) => `id: ${v}`),
  fc.constant('retry: 10'),
  value.map((v) => `: ${v}`),
  value.map((v) => `dat${v}`),
  value.map((v) => `other: ${v}`),
  { weight: 4, arbitrary: fc.constant('') },
);
const stream = fc.tuple(fc.array(fc.tuple(line, EOL), { maxLength: 30 }), fc.boolean()).map(([lines, bom]) => (bom ? '\uFEFF' : '') + lines.map(([l, e]) => l + e).join(''));

describe('sseScanner', () => {
  it('gives the events eventsource-parser gives, however the bytes are cut', () => {
    fc.assert(fc.property(stream, fc.array(fc.nat(), { maxLength: 8 }), (text, cuts) => {
      const want = referenceEvents([text]);
      expect(scannedEvents(cutBytes(text, cuts))).toEqual(want);
      expect(referenceEvents(cut(text, cuts))).toEqual(want);
    }), { numRuns: 2_000 });
  });

  it('reads bytes that are not UTF-8 as TextDecoder does', () => {
    const bytes = Buffer.concat([Buffer.from('data: a'), Buffer.from([0xc3]), Buffer.from('\ndata: '), Buffer.from([0xe2, 0x82, 0xff, 0xf0, 0x9f]), Buffer.from('\n\n')]);
    for (let c = 0; c <= bytes.length; c++) expect(scannedEvents([bytes.subarray(0, c), bytes.subarray(c)])).toEqual(referenceEvents([new TextDecoder().decode(bytes)]));
  });

  it('takes the runs its reader recognises, and the rest event by event, in order', () => {
    // A reader that recognises events `data: <digit>\n\n` only.
    const seen: string[] = [];
    const s = sseScanner({
      onEvent: (d) => void seen.push(`event ${d}`),
      run: (bytes, at, out) => {
        let i = at;
        while (/^data: \d\n\n/.test(bytes.toString('latin1', i, i + 9))) {
          out.push(`run ${String.fromCharCode(bytes[i + 6])}`);
          i += 9;
        }
        return i;
      },
      out: seen,
      maxBufferSize: 1 << 20,
      tooLarge: () => new Error('too large'),
    });
    for (const piece of ['data: 1\n\ndata: 2\n', '\ndata: x\n\ndata: 3\n\n: c\ndata: 4\n\nevent: e\ndata: 5\n\ndata: 6\ndata: 7\n\n']) s.feed(Buffer.from(piece));
    expect(seen).toEqual(['run 1', 'event 2', 'event x', 'run 3', 'run 4', 'run 5', 'event 6\n7']);
  });

  it('throws past its buffer: a line without its end, or an event\'s data', () => {
    const options = { onEvent: () => undefined, maxBufferSize: 10, tooLarge: () => new AiTooLargeError(10, 'a streamed event') };
    const a = sseScanner(options);
    a.feed(Buffer.from('data: 1234'));
    expect(() => a.feed(Buffer.from('56789'))).toThrow(AiTooLargeError);
    const b = sseScanner(options);
    expect(() => b.feed(Buffer.from('data: 123456\ndata: 7890\n'))).toThrow(AiTooLargeError);
    const c = sseScanner(options);
    c.feed(Buffer.from('data: 12345678\n\ndata: 1234\n\n'));
  });
});

/** An answer's events: mostly deltas of one shape (texts with quotes, backslashes, line ends, any Unicode), with odd events among them. */
const oddEvent = fc.constantFrom(
  'data: {"choices":[{"index":0,"delta":{"content":"odd"},"finish_reason":null}],"model":"other"}\n\n',
  'data: {"choices":[{"index":0,"delta":{"content":"two"},\ndata: "finish_reason":null}]}\n\n',
  ': keep-alive\n\n',
  'event: message\ndata: {"choices":[{"index":0,"delta":{"content":"typed"}}]}\n\n',
  'data:{"choices":[{"index":0,"delta":{"content":"nospace"}}]}\r\n\r\n',
  'data: {"choices":[{"index":0,"delta":{"content":"x"}}],"usage":{"total_tokens":3}}\n\n',
  // Of the shape of the one above but for a line the stream does not count as data: not JSON.
  'data: {"choices":[{"index":0,"delta":{"content":"two"},\n"finish_reason":null}]}\n\n',
);
/** Deltas of the common shape whose text is not one JSON string: a control character, a quote, a bad escape, a backslash before the closing quote. */
const broken = fc.constantFrom('a\u0001b', 'a"b', 'a\\xb', 'a\\', '\\"');

function referenceReader(reader: StreamReader, chunks: string[]) {
  // What the transport did before: eventsource-parser, then the reader's event for each event.
  const decoder = new TextDecoder();
  const read: string[] = [];
  const p = createParser({ onEvent: (e) => {
    const d = reader.event(e.data);
    if (d) read.push(d);
  } });
  return {
    push(b: Buffer) {
      p.feed(decoder.decode(b, { stream: true }));
      if (read.length) chunks.push(read.splice(0).join(''));
    },
    end() {
      p.feed(decoder.decode());
      p.reset({ consume: true });
      if (read.length) chunks.push(read.splice(0).join(''));
      return reader.end(chunks.join(''));
    },
  };
}

/** Everything a reader gave: the chunks, then the answer or the error's class. */
function outcome(r: { push(b: Buffer): void; end(): { text: string; model: string; tokens: number | null } }, chunks: string[], reads: Buffer[]): unknown {
  try {
    for (const b of reads) r.push(b);
    const a = r.end();
    return { chunks, text: a.text, model: a.model, tokens: a.tokens };
  } catch (e) {
    return { chunks, error: (e as Error).constructor.name };
  }
}

describe('sseReader with the OpenAI reader', () => {
  it('gives the chunks, text, model and usage that parsing every event whole gave, however the bytes are cut', () => {
    const text = fc.string({ unit: fc.oneof(fc.constantFrom('a', ' ', '"', '\\', '\n', '\r', 'é', '✓', '😀', '\u2028', '/'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), minLength: 1, maxLength: 6 });
    // Deltas of another model, and refusals, their heads as long as the common one's: the same shape but for its head.
    const other = fc.tuple(text, fc.boolean()).map(([t, refusal]) => (refusal ? { refusal: t } : { other: t }));
    const events = fc.array(fc.oneof({ weight: 8, arbitrary: text }, oddEvent, other, broken.map((b) => ({ broken: b }))), { maxLength: 40 });
    fc.assert(fc.property(events, fc.array(fc.nat(), { maxLength: 10 }), fc.boolean(), (picked, cuts, ended) => {
      const s = new ChatStream('chatcmpl-1', 'm-2025');
      const s2 = new ChatStream('chatcmpl-1', 'm-2026');
      const event = (e: string | { broken: string } | { other: string } | { refusal: string }) => {
        if (typeof e !== 'string') {
          if ('other' in e) return s2.delta(e.other);
          if ('refusal' in e) return s.delta(e.refusal).replace('"content":"', '"refusal":"');
          return s.delta('@@').replace('"@@"', `"${e.broken}"`);
        }
        return e.startsWith('data') || e.startsWith(':') || e.startsWith('event') ? e : s.delta(e);
      };
      const wire = s.start() + picked.map(event).join('') + (ended ? s.end(fakeUsage('p', 10, {})) : '');
      const bytes = Buffer.from(wire);
      const reads = cutBytes(bytes, cuts);
      const mine: string[] = [];
      const theirs: string[] = [];
      const got = outcome(sseReader(1 << 20, openaiStreamReader('asked'), { chunk: (t) => void mine.push(t) }), mine, reads);
      const want = outcome(referenceReader(openaiStreamReader('asked'), theirs), theirs, reads);
      expect(got).toEqual(want);
    }), { numRuns: 1_000 });
  });

  it('reads a fast model\'s answer in runs: one JSON.parse for the shape, not one an event', () => {
    const s = new ChatStream('id', 'fake-small');
    const text = 'abcd'.repeat(250);
    const wire = Buffer.from(s.start() + tokens(text).map((t) => s.delta(t)).join('') + s.end(fakeUsage('p', 1_000, {})));
    const parse = jestSpy();
    try {
      const chunks: string[] = [];
      const r = sseReader(1 << 20, openaiStreamReader('asked'), { chunk: (t) => void chunks.push(t) });
      r.push(wire);
      expect(r.end()).toMatchObject({ text, model: 'fake-small' });
      expect(chunks).toEqual([text]);
      // The role event, the first delta and the probe of its shape, the finish, the usage.
      expect(parse.calls).toBe(5);
    } finally {
      parse.restore();
    }
  });

  it('refuses an event of the shape whose text is not JSON, as parsing it whole did', () => {
    const s = new ChatStream('id', 'm');
    const bad = s.delta('ab').replace('ab', 'a\\xb');
    const r = sseReader(1 << 20, openaiStreamReader('asked'), { chunk: () => undefined });
    expect(() => r.push(Buffer.from(s.start() + s.delta('first') + s.delta('second') + bad))).toThrow(AiBadResponseError);
  });
});

/** Counts JSON.parse calls. */
function jestSpy(): { readonly calls: number; restore(): void } {
  const original = JSON.parse;
  let calls = 0;
  JSON.parse = ((...args: Parameters<typeof JSON.parse>) => {
    calls++;
    return original(...args);
  }) as typeof JSON.parse;
  return { get calls() { return calls; }, restore: () => void (JSON.parse = original) };
}
