import { describe, expect, it } from '@jest/globals';
import { ClosedConnectionError, NoRespondersError, PermissionViolationError, TimeoutError } from '@nats-io/nats-core';
import { JetStreamApiError } from '@nats-io/jetstream';
import { AltlasError, toAltlasError } from '../../../src/errors.ts';
import { isPassingNatsError } from '../../../src/nats-errors.ts';
import { startRetrying } from '../../../src/start-retry.ts';
import { storeError } from '../../../src/status/open.ts';

describe('passing NATS failures', () => {
  it('a timeout, a closed connection and JetStream "temporarily unavailable" are passing, also as a cause', () => {
    expect(isPassingNatsError(new TimeoutError())).toBe(true);
    expect(isPassingNatsError(new ClosedConnectionError())).toBe(true);
    expect(isPassingNatsError(new Error('wrapped', { cause: new TimeoutError() }))).toBe(true);
    expect(isPassingNatsError(new JetStreamApiError({ code: 503, err_code: 10008, description: 'JetStream system temporarily unavailable' }))).toBe(true);
  });

  it('a missing bucket, a permission and "no responders" (a server without JetStream) are not', () => {
    expect(isPassingNatsError(new JetStreamApiError({ code: 404, err_code: 10059, description: 'stream not found' }))).toBe(false);
    expect(isPassingNatsError(new PermissionViolationError('Permissions Violation for Publish to "$JS.API.>"', 'publish', '$JS.API.>'))).toBe(false);
    expect(isPassingNatsError(new NoRespondersError('$JS.API.INFO'))).toBe(false);
    expect(isPassingNatsError(new Error('bucket not found'))).toBe(false);
  });

  it('a bucket that cannot be reached is NATS_UNREACHABLE, a missing one TOPOLOGY_MISMATCH', () => {
    expect(storeError('job status', 'B', new TimeoutError()).code).toBe('NATS_UNREACHABLE');
    expect(storeError('job status', 'B', new Error('stream not found')).code).toBe('TOPOLOGY_MISMATCH');
  });
});

describe('startRetrying', () => {
  it('retries passing failures with a doubling wait and returns what the start returned', async () => {
    const failures = [new TimeoutError(), new ClosedConnectionError()];
    const waits: number[] = [];
    let calls = 0;
    const got = await startRetrying(async () => {
      calls++;
      const f = failures.shift();
      if (f) throw f;
      return 'started';
    }, { classify: toAltlasError, firstDelayMs: 1, maxDelayMs: 3, onRetry: (_e, _a, ms) => waits.push(ms) });
    expect(got).toBe('started');
    expect(calls).toBe(3);
    expect(waits).toEqual([1, 2]);
  });

  it('retries an error already classified NATS_UNREACHABLE', async () => {
    let calls = 0;
    await startRetrying(async () => {
      if (++calls === 1) throw new AltlasError('NATS_UNREACHABLE', 'no answer');
    }, { classify: toAltlasError, firstDelayMs: 1 });
    expect(calls).toBe(2);
  });

  it('ends at once on what an operator must fix', async () => {
    let calls = 0;
    const e = new AltlasError('TOPOLOGY_MISMATCH', 'stream ALT does not exist');
    await expect(startRetrying(async () => {
      calls++;
      throw e;
    }, { classify: toAltlasError, firstDelayMs: 1 })).rejects.toBe(e);
    expect(calls).toBe(1);
  });

  it('stops waiting when the signal aborts, and throws the last failure', async () => {
    const ac = new AbortController();
    const e = new TimeoutError();
    const p = startRetrying(async () => {
      throw e;
    }, { classify: toAltlasError, signal: ac.signal, firstDelayMs: 60_000, onRetry: () => ac.abort() });
    await expect(p).rejects.toBe(e);
  });
});
