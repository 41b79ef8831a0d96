import { describe, expect, it } from '@jest/globals';
import { BrokenCircuitError, BulkheadRejectedError } from 'cockatiel';
import {
  AI_FAILURES, AiBadResponseError, AiHttpError, AiTooLargeError, AiTransportError, ForeignError, attemptFailure, callError, failureOf, isProviderFailure, isTransient,
} from '../../../src/ai/errors.ts';
import { AltlasError } from '../../../src/errors.ts';

const facts = { provider: 'openai', model: 'm', attempts: 4, maxConcurrency: 2, maxQueue: 3 };

describe('failure classes', () => {
  it('names the class of each attempt error', () => {
    expect([
      new AiHttpError(429, ''), new AiHttpError(408, ''), new AiHttpError(503, ''), new AiHttpError(400, ''),
      new AiTransportError('ETIMEDOUT', ''), new AiTransportError('STREAM_CUT', ''), new AiTransportError('ECONNRESET', ''),
      new AiTooLargeError(10, 'x'), new AiBadResponseError('x'), new Error('x'),
    ].map(attemptFailure)).toEqual(['rate_limited', 'timeout', 'server_error', 'rejected', 'timeout', 'stream_cut', 'unreachable', 'too_large', 'bad_response', null]);
  });

  it('retries only what a later attempt may not meet', () => {
    expect([new AiTransportError('STREAM_CUT', ''), new AiTooLargeError(1, ''), new AiBadResponseError(''), new ForeignError(new Error('x'))].map(isTransient)).toEqual([true, false, false, false]);
  });

  it('makes each failed call an AltlasError whose code gives the fate and whose context names the class', () => {
    const cases: [unknown, string, string][] = [
      [new BrokenCircuitError(), 'AI_UNAVAILABLE', 'breaker_open'],
      [new BulkheadRejectedError(2, 3), 'AI_UNAVAILABLE', 'overloaded'],
      [new AiHttpError(429, 'slow down'), 'AI_UNAVAILABLE', 'rate_limited'],
      [new AiHttpError(502, 'bad gateway'), 'AI_UNAVAILABLE', 'server_error'],
      [new AiTransportError('ETIMEDOUT', 'no answer'), 'AI_UNAVAILABLE', 'timeout'],
      [new AiTransportError('ECONNREFUSED', 'refused'), 'AI_UNAVAILABLE', 'unreachable'],
      [new AiTransportError('STREAM_CUT', 'cut'), 'AI_UNAVAILABLE', 'stream_cut'],
      [new AiHttpError(401, 'no'), 'AI_REJECTED', 'rejected'],
      [new AiBadResponseError('x'), 'AI_BAD_RESPONSE', 'bad_response'],
      [new AiTooLargeError(1024, 'the answer'), 'AI_RESPONSE_TOO_LARGE', 'too_large'],
      [new TypeError('odd'), 'AI_BAD_RESPONSE', 'bad_response'],
    ];
    for (const [e, code, failure] of cases) {
      const out = callError(e, facts) as AltlasError;
      expect([failure, out.code, failureOf(out), out.context.provider, out.context.model]).toEqual([failure, code, failure, 'openai', 'm']);
    }
    expect((callError(new AiHttpError(503, 'x'), facts) as AltlasError).message).toMatch(/after 4 attempts/);
    expect((callError(new AiHttpError(503, 'x'), facts) as AltlasError).context.httpStatus).toBe(503);
  });

  it('passes a foreign error (guard, chunk observer) through as it is', () => {
    const own = new Error('lease lost');
    expect(callError(new ForeignError(own), facts)).toBe(own);
  });

  it('tells the provider\'s failures, which another model may not meet, from the request\'s', () => {
    expect(AI_FAILURES.filter(isProviderFailure)).toEqual(['rate_limited', 'server_error', 'timeout', 'unreachable', 'stream_cut', 'breaker_open']);
    expect(failureOf(new AltlasError('AI_UNAVAILABLE', 'x', { context: { failure: 'nonsense' } }))).toBeNull();
    expect(failureOf(new Error('x'))).toBeNull();
  });
});
