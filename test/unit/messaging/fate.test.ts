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

  it('gives each code its verb on a first delivery (written out here, not read from the catalogue)', () => {
    const expected: Record<ErrorCode, 'reject' | 'nak' | 'nak0'> = {
      ALT_EMPTY: 'reject', ALT_ENCODING: 'reject', ALT_SYNTAX: 'reject', ALT_UNKNOWN_FORMAT: 'reject', ALT_UNSUPPORTED_VERSION: 'reject',
      ALT_SCHEMA: 'reject', ALT_DUPLICATE_TASK: 'reject', ALT_UNKNOWN_DEPENDENCY: 'reject', ALT_SELF_DEPENDENCY: 'reject', ALT_CYCLE: 'reject',
      ALT_REFERENCE: 'reject', ALT_LIMIT: 'reject', ALT_DECRYPT: 'reject', ALT_FALLBACK: 'reject', ALT_APPROVAL: 'reject', TASK_KIND_FORBIDDEN: 'reject',
      // Task-level codes end a task, not a job; should one reach the fate table, the message must not loop.
      TASK_FAILED: 'reject', TASK_TIMEOUT: 'reject', TASK_CANCELLED: 'reject', LOOP_LIMIT: 'reject', LOOP_ITERABLE: 'reject', CALL_DEPTH: 'reject',
      INSTANCE_LIMIT: 'reject', VARIABLE_TYPE: 'reject', FUNCTION_RETURN: 'reject', AI_REJECTED: 'reject', AI_BAD_RESPONSE: 'reject', AI_RESPONSE_TOO_LARGE: 'reject', JOB_CANCELLED: 'reject',
      AI_UNAVAILABLE: 'nak', MAX_DELIVER_EXCEEDED: 'reject', STRANDED: 'reject', JOB_ABORTED: 'nak0', LEASE_LOST: 'nak', LAST_UNREADABLE: 'nak', CHECKPOINTS_UNAVAILABLE: 'nak',
      LAST_TOO_LARGE: 'reject', LAST_PUBLISH_FAILED: 'nak', CONFIG_INVALID: 'reject', TOPOLOGY_MISMATCH: 'reject', PERMISSION_DENIED: 'reject',
      NATS_UNREACHABLE: 'nak', STREAM_MISSING: 'reject', WORKER_NOT_FOUND: 'reject', WORKER_GONE: 'reject', WORKER_NOT_ANSWERING: 'reject', PAYLOAD_TOO_LARGE: 'reject', INTERNAL: 'nak',
      BUDGET_EXCEEDED: 'reject', BUDGET_WAIT: 'nak', AI_LIMIT_WAIT: 'nak', AI_LIMIT_EXCEEDED: 'reject',
      JOB_PARKED: 'reject', APPROVAL_REJECTED: 'reject', APPROVAL_TIMEOUT: 'reject', APPROVAL_NOT_WAITING: 'reject', APPROVAL_DECIDED: 'reject', APPROVAL_TIMED_OUT: 'reject', REPLAY_INVALID: 'reject',
    };
    expect(Object.keys(expected).sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const [code, want] of Object.entries(expected) as [ErrorCode, string][]) {
      const got = decideFate(input(code, 1));
      const verb = got.verb === 'nak' ? (got.delayMs === 0 ? 'nak0' : 'nak') : got.verb;
      expect([code, verb]).toEqual([code, want]);
    }
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

  it('hands a job whose tenant\'s period is spent back until the period turns, past the cap of the nak delay', () => {
    const wait = (deliveries: number) => ({ ...input(null, deliveries), error: new AltlasError('BUDGET_WAIT', 'wait', { context: { retryInMs: 3_599_000.5 } }) });
    expect(decideFate(wait(1))).toEqual({ verb: 'nak', delayMs: 3_599_001 });
    expect(decideFate(wait(5))).toEqual({ verb: 'reject' });
  });

  it('hands an aborted job back without delay', () => {
    expect(decideFate(input('JOB_ABORTED', 5))).toEqual({ verb: 'nak', delayMs: 0 });
  });

  it('caps the nak delay', () => {
    expect(nakDelay(40, 1000, 60_000)).toBe(60_000);
    expect(nakDelay(0, 1000, 60_000)).toBe(1000);
  });
});
