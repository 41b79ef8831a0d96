/** The pure settlement rules: outcomes of errors, the failure `.last` they carry, and the verb of a run that lost its lease. */
import { describe, expect, it } from '@jest/globals';
import { AltlasError } from '../../../src/errors.ts';
import { decideFate } from '../../../src/messaging/fate.ts';
import { deliveryMeta, failureLast, lastIds, lostLeaseVerb, outcomeOf, type SettleRules } from '../../../src/messaging/settle.ts';
import { makeJob } from '../../helpers/engine.ts';

const RULES: SettleRules = { maxDeliver: 3, nakDelayMs: 100, nakMaxDelayMs: 1_000 };
const d = { data: new Uint8Array(), subject: 'alt.submit', stream: 'ALT', seq: 9, deliveries: 2 };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('lostLeaseVerb', () => {
  it('naks only with no AI call, no newer claim, no shutdown, and the server\'s lease surely running', () => {
    const base = { newer: false, aiCalls: 0, stopping: false, maySettle: true };
    expect(lostLeaseVerb(base)).toBe('nak');
    expect(lostLeaseVerb({ ...base, newer: true })).toBe('none');
    expect(lostLeaseVerb({ ...base, aiCalls: 1 })).toBe('none');
    expect(lostLeaseVerb({ ...base, stopping: true })).toBe('none');
    expect(lostLeaseVerb({ ...base, maySettle: false })).toBe('none');
  });
});

describe('outcomeOf', () => {
  const job = makeJob([{ id: 't' }], { id: 'job-7' });
  it('a lost lease abandons, newer only when the error says so', () => {
    expect(outcomeOf(new AltlasError('LEASE_LOST', 'x', { context: { newer: true } }), d, RULES, { job, altId: null, startMs: 0 })).toMatchObject({ kind: 'abandoned', newer: true, job });
    expect(outcomeOf(new AltlasError('LEASE_LOST', 'x'), d, RULES, { job: null, altId: null, startMs: 0 })).toMatchObject({ kind: 'abandoned', newer: false, job: null });
  });

  it('a transient error with deliveries left is handed back with the table\'s delay', () => {
    expect(outcomeOf(new AltlasError('AI_UNAVAILABLE', 'down'), d, RULES, { job, altId: null, startMs: 0 })).toMatchObject({ kind: 'handback', delayMs: 200, job });
  });

  it('a rejection carries a failure .last under the job\'s id (or the id recovered), none without an id', () => {
    const e = new AltlasError('ALT_SCHEMA', 'bad');
    const byJob = outcomeOf(e, d, RULES, { job, altId: 'other', startMs: 1_000, now: 3_000 });
    expect(byJob).toMatchObject({ kind: 'rejected', altId: 'job-7', job });
    expect(byJob.kind === 'rejected' && byJob.last).toMatchObject({ alt_file_id: 'job-7', status: 'failure', execution_time_ms: 2_000, title: 'Test' });
    const byId = outcomeOf(e, d, RULES, { job: null, altId: 'recovered', startMs: 0, header: { ...job, title: 'From the header' } });
    expect(byId).toMatchObject({ kind: 'rejected', altId: 'recovered', job: null });
    expect(byId.kind === 'rejected' && byId.last?.title).toBe('From the header');
    expect(outcomeOf(e, d, RULES, { job: null, altId: null, startMs: 0 })).toMatchObject({ kind: 'rejected', altId: null, last: null });
  });
});

describe('failureLast', () => {
  it('records where the delivery came from, its error, and its times; keeps an execution id given', () => {
    const last = failureLast(d, 'job-1', new AltlasError('LAST_TOO_LARGE', 'too big'), 1_000, { executionId: 'exec-1', now: 4_000 });
    expect(last.metadata).toMatchObject({ source_stream: 'ALT', source_stream_seq: 9, source_subject: 'alt.submit', deliveries: 2, error_code: 'LAST_TOO_LARGE' });
    expect(last.execution_id).toBe('exec-1');
    expect(last.end_time).toBe(new Date(4_000).toISOString());
    expect(last.id).toMatch(UUID);
    expect(failureLast(d, 'job-1', new AltlasError('ALT_SCHEMA', 'x'), 0).execution_id).toMatch(UUID);
  });

  it('deliveryMeta names no key with the alt_ prefix', () => {
    expect(deliveryMeta(d)).toEqual({ source_stream: 'ALT', source_stream_seq: 9, source_subject: 'alt.submit', deliveries: 2, tenant: '_' });
    expect(deliveryMeta({ ...d, subject: 'alt.high.acme' }).tenant).toBe('acme');
  });

  it('lastIds: fresh ids, the execution id given or new', () => {
    const ids = lastIds(5, 'e');
    expect([ids.executionId, ids.now]).toEqual(['e', 5]);
    expect(ids.id).toMatch(UUID);
    expect(ids.uuid()).toMatch(UUID);
    expect(lastIds(5).executionId).toMatch(UUID);
    expect(lastIds(5).id).not.toBe(lastIds(5).id);
  });
});

describe('decideFate: a tenant\'s wait', () => {
  const rules = { deliveries: 1, maxDeliver: 5, nakDelayMs: 1_000, nakMaxDelayMs: 60_000 };
  it('takes the wait only from BUDGET_WAIT, and only a finite wait of 0 or more', () => {
    const wait = (retryInMs: unknown) => decideFate({ ...rules, error: new AltlasError('BUDGET_WAIT', 'wait', { context: { retryInMs } }) });
    expect(wait(0)).toEqual({ verb: 'nak', delayMs: 0 });
    expect(wait(-5)).toEqual({ verb: 'nak', delayMs: 1_000 });
    expect(wait('soon')).toEqual({ verb: 'nak', delayMs: 1_000 });
    // Another transient error carrying a retryInMs of its own gets the table's delay.
    expect(decideFate({ ...rules, error: new AltlasError('AI_UNAVAILABLE', 'down', { context: { retryInMs: 7 } }) })).toEqual({ verb: 'nak', delayMs: 1_000 });
  });
});
