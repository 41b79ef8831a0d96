import { describe, expect, it } from '@jest/globals';
import { ChatStream, fakeUsage, tokens } from '../../../src/ai/fake-answers.ts';
import { AiTooLargeError } from '../../../src/ai/errors.ts';
import { openaiStreamReader } from '../../../src/ai/openai-stream.ts';
import { sseReader } from '../../../src/ai/transport.ts';

/** The wire of a streamed answer of `text`, a token an event. */
function wire(text: string): Buffer {
  const s = new ChatStream('id', 'fake-small');
  return Buffer.from(s.start() + tokens(text).map((t) => s.delta(t)).join('') + s.end(fakeUsage('p', text.length, {})));
}

function reader(cap = 1 << 20) {
  const chunks: string[] = [];
  return { chunks, r: sseReader(cap, openaiStreamReader('asked'), { chunk: (t) => void chunks.push(t) }) };
}

describe('sseReader', () => {
  it('hands on the text of one network read as one chunk, after the read, and the answer whole at its end', () => {
    const text = 'The events of one read make one chunk, however many deltas it carries ✓.';
    const bytes = wire(text);
    const { chunks, r } = reader();
    // Three reads: the first ends inside an event (whose text goes with the read that completes it), the last is the rest.
    const eventAt = (n: number) => {
      let at = -1;
      for (let k = 0; k <= n; k++) at = bytes.indexOf('data: ', at + 1);
      return at;
    };
    // Inside the 6th delta, and inside the 12th.
    const cuts = [eventAt(6) + 20, eventAt(12) + 20];
    r.push(bytes.subarray(0, cuts[0]));
    expect(chunks.length).toBe(1);
    r.push(bytes.subarray(cuts[0], cuts[1]));
    expect(chunks.length).toBe(2);
    r.push(bytes.subarray(cuts[1]));
    expect(chunks.length).toBe(3);
    expect(chunks.join('')).toBe(text);
    // The 5 deltas before the first cut, then the 6 completed by the second read.
    expect(chunks.slice(0, 2)).toEqual([text.slice(0, 20), text.slice(20, 44)]);
    expect(r.end()).toMatchObject({ text, model: 'fake-small', streamed: true });
  });

  it('makes no chunk of a read without text', () => {
    const { chunks, r } = reader();
    r.push(Buffer.from(': a comment\n\ndata: {"choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n'));
    r.push(Buffer.from('data: {"choices":[{"index":0,"delta":{"content":"a"}'));
    expect(chunks).toEqual([]);
    r.push(Buffer.from(',"finish_reason":null}]}\n\ndata: [DONE]\n\n'));
    expect(chunks).toEqual(['a']);
    expect(r.end().text).toBe('a');
  });

  it('ends the attempt at the read whose text would pass the cap, before its chunk; the chunks under it went', () => {
    const text = 'x'.repeat(400);
    const bytes = wire(text);
    const { chunks, r } = reader(300);
    const half = bytes.indexOf('"content":"', bytes.length / 2);
    r.push(bytes.subarray(0, half));
    expect(chunks.join('').length).toBeLessThanOrEqual(300);
    expect(chunks.length).toBe(1);
    expect(() => r.push(bytes.subarray(half))).toThrow(AiTooLargeError);
    expect(chunks.length).toBe(1);
  });

  it('gives a chunk observer\'s error to the attempt', () => {
    const mine = new Error('budget spent mid-answer');
    const r = sseReader(1 << 20, openaiStreamReader('m'), { chunk: () => { throw mine; } });
    expect(() => r.push(wire('some text'))).toThrow(mine);
  });
});
