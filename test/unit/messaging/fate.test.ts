import { describe, expect, it } from '@jest/globals';
import { AltlasError, ERROR_CODES, type ErrorCode } from '../../../src/errors.ts';
import { decideFate, nakDelay } from '../../../src/messaging/fate.ts';

const input = (code: ErrorCode | null, deliveries = 1) => ({
  error: code === null ? null : new AltlasError(code, code), deliveries, maxDeliver: 5, nakDelayMs: 1000, nakMaxDelayMs: 8000,
});

describe('decideFate', () => {
  it('acks a job whose .last is stored', () => {
    expect(decideFate(input(null))).toEqual({ verb: 'ack' });
  });

  it('rejects every invalid-input code at once, whatever the delivery', () => {
    const rejects = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => ERROR_CODES[c].fate === 'reject');
    expect(rejects).toEqual(expect.arrayContaining(['ALT_SCHEMA', 'ALT_CYCLE', 'ALT_LIMIT', 'TASK_KIND_FORBIDDEN']));
    for (const code of rejects) expect([code, decideFate(input(code, 1))]).toEqual([code, { verb: 'reject' }]);
  });

  it('naks transient failures with a delay that grows with the delivery count', () => {
    expect([1, 2, 3, 4].map((d) => decideFate(input('AI_UNAVAILABLE', d)))).toEqual([
      { verb: 'nak', delayMs: 1000 }, { verb: 'nak', delayMs: 2000 }, { verb: 'nak', delayMs: 4000 }, { verb: 'nak', delayMs: 8000 },
    ]);
    expect(decideFate(input('LAST_PUBLISH_FAILED', 2))).toEqual({ verb: 'nak', delayMs: 2000 });
  });

  it('rejects a transient failure on the last allowed delivery', () => {
    expect(decideFate(input('AI_UNAVAILABLE', 5))).toEqual({ verb: 'reject' });
    expect(decideFate(input('LAST_PUBLISH_FAILED', 6))).toEqual({ verb: 'reject' });
  });

  it('hands an aborted job back without delay', () => {
    expect(decideFate(input('JOB_ABORTED', 5))).toEqual({ verb: 'nak', delayMs: 0 });
  });

  it('caps the nak delay', () => {
    expect(nakDelay(40, 1000, 60_000)).toBe(60_000);
    expect(nakDelay(0, 1000, 60_000)).toBe(1000);
  });
});
