import { describe, expect, it } from '@jest/globals';
import { fakeUsage, tokenDueAt, tokensDue } from '../../../src/ai/fake-answers.ts';

describe('the fake AI\'s answers', () => {
  it('sends tokens at the set rate after the time to first token', () => {
    // First token due at 1000 ms, then 20 tokens a second (one each 50 ms), 10 in all.
    expect([999, 1000, 1049, 1050, 1449, 1450, 9999].map((now) => tokensDue(now, 1000, 20, 10))).toEqual([0, 1, 1, 2, 9, 10, 10]);
    expect(tokensDue(1000, 1000, 0, 10)).toBe(10);
    expect([0, 1, 9].map((i) => tokenDueAt(i, 20))).toEqual([0, 50, 450]);
  });

  it('reports usage with cached and reasoning details, counting four characters a token', () => {
    expect(fakeUsage('p'.repeat(40), 9, { cachedTokens: 100, reasoningTokens: 2 })).toEqual({
      prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 10 }, completion_tokens_details: { reasoning_tokens: 2 },
    });
  });
});

describe('ChatStream', () => {
  it('writes a text delta as the event of a chunk object with that content, whatever the text', async () => {
    const { ChatStream } = await import('../../../src/ai/fake-answers.ts');
    const fc = (await import('fast-check')).default;
    const s = new ChatStream('chatcmpl-1', 'fake-small');
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 20 }), (text) => {
      const event = s.delta(text);
      expect(event.startsWith('data: ') && event.endsWith('\n\n')).toBe(true);
      expect(JSON.parse(event.slice(6, -2))).toEqual({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: expect.any(Number), model: 'fake-small', choices: [{ index: 0, delta: { content: text }, finish_reason: null }] });
    }));
  });
});
