/**
 * A decision is its job's and its task's (src/approval/kind.ts isDecisionOf): a value that got under
 * a decision's key another way (a JetStream API answer stored there through a reply subject,
 * another job's decision copied there, something not JSON) decides nothing and blocks nobody: the
 * worker's read of a job's decisions passes over it, `altlas approve` (and a timeout) replaces it by
 * compare-and-set, and the sweep neither takes it for a decision nor stops at it. Decisions carry
 * their job's id. On an in-memory bucket and object store, no server.
 */
import { describe, expect, it } from '@jest/globals';
import type { JetStreamClient } from '@nats-io/jetstream';
import { isDecisionOf, type Decision } from '../../../src/approval/kind.ts';
import { bodyObject, decide, decisionKey, parkKey, readDecisions, type ParkRecord } from '../../../src/approval/park.ts';
import { sweepParks } from '../../../src/approval/sweep.ts';
import { cancelKey } from '../../../src/status/status.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { FakeKv, FakeStreams, fakeObjectStore } from '../../helpers/fake-store.ts';

const BUCKET = 'ALT_RUNS';
const OBJ = 'ALT_OBJ';
const NOW = Date.parse('2026-12-07T12:00:00.000Z');
const API_ANSWER = { type: 'io.nats.jetstream.api.v1.stream_info_response', error: { code: 404, description: 'stream not found' } };

const decision = (o: Partial<Decision> = {}): Decision => ({ task: 'r', decision: 'approved', comment: null, by: 'ops@host', decided_at: '2026-12-07T11:00:00.000Z', alt_id: 'job-a', ...o });

describe('isDecisionOf', () => {
  it('takes a decision of that task of that job, and one written before decisions named their job', () => {
    expect(isDecisionOf(decision(), 'job-a', 'r')).toBe(true);
    expect(isDecisionOf(decision({ decision: 'rejected', comment: 'no' }), 'job-a', 'r')).toBe(true);
    expect(isDecisionOf(decision({ decision: 'failed', by: 'timeout' }), 'job-a', 'r')).toBe(true);
    expect(isDecisionOf(decision({ alt_id: undefined }), 'job-a', 'r')).toBe(true);
  });

  it.each([
    ['null', null],
    ['a list', [decision()]],
    ['a string', 'approved'],
    ['an API answer', API_ANSWER],
    ['another task\'s', decision({ task: 's' })],
    ['another job\'s', decision({ alt_id: 'job-b' })],
    ['an unknown decision', decision({ decision: 'maybe' as Decision['decision'] })],
    ['no by', { ...decision(), by: undefined }],
    ['a by that is no string', { ...decision(), by: 7 }],
    ['no decided_at', { ...decision(), decided_at: undefined }],
    ['a decided_at that is no string', { ...decision(), decided_at: NOW }],
    ['no comment', { ...decision(), comment: undefined }],
    ['a comment that is no string', { ...decision(), comment: 3 }],
  ])('refuses %s', (_what, value) => {
    expect(isDecisionOf(value, 'job-a', 'r')).toBe(false);
  });
});

/** A status bucket and an object store holding job-a parked at task `r` (its body stored), and what is published. */
async function parked(park: Partial<ParkRecord> = {}) {
  const streams = new FakeStreams();
  const kv = new FakeKv(streams, BUCKET);
  const body = bodyObject('ALT', 5);
  await fakeObjectStore(streams, OBJ).putBlob({ name: body }, Buffer.from('{"id":"job-a"}'));
  const record: ParkRecord = {
    alt_id: 'job-a', task: 'r', question: 'Send it?', stream: 'ALT', seq: 5, subject: 'alt.job-a', headers: [], body, body_bucket: OBJ,
    parked_at: '2026-12-07T10:00:00.000Z', timeout_at: null, on_timeout: 'fail', ...park,
  };
  await kv.put(parkKey('job-a'), Buffer.from(JSON.stringify(record)));
  const published: string[] = [];
  const js = { publish: async (subject: string) => ((published.push(subject)), { seq: 99 }) } as unknown as JetStreamClient;
  const stores = { kv: kv.asKv(), jsm: streams.jsm(), js, objBucket: OBJ, now: () => NOW };
  const put = (key: string, value: unknown) => kv.put(key, Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));
  return { streams, kv, stores, published, put };
}

describe('readDecisions', () => {
  it('reads a job\'s decisions, passing over what is not a decision of the task its key names', async () => {
    const { streams, stores, put } = await parked();
    await put(decisionKey('job-a', 'r'), decision());
    await put(decisionKey('job-a', 's'), API_ANSWER);
    await put(decisionKey('job-a', 't'), '{"task": "t", ');
    await put(decisionKey('job-a', 'u'), decision({ task: 'r', decided_at: 'copied' }));
    await put(decisionKey('job-a', 'v'), decision({ task: 'v', alt_id: 'job-b' }));
    await put(decisionKey('job-a', 'w'), 'null');
    await put(decisionKey('job-a', 'z'), { ...decision(), task: 7 });
    await put(decisionKey('job-b', 'x'), decision({ task: 'x', alt_id: 'job-b' }));
    streams.append(`KV_${BUCKET}`, `$KV.${BUCKET}.${decisionKey('job-a', 'y')}`, Buffer.from(JSON.stringify(decision({ task: 'y' }))), 'DEL');
    expect(await readDecisions(stores.jsm, BUCKET, 'job-a')).toEqual(new Map([['r', decision()]]));
  });
});

describe('decide', () => {
  it.each([
    ['an API answer', API_ANSWER],
    ['a value that is not JSON', 'stream not found'],
    ['another job\'s decision', decision({ alt_id: 'job-b', decision: 'rejected' })],
  ])('replaces %s under the decision key by compare-and-set, and resumes the job', async (_what, junk) => {
    const { kv, stores, published, put } = await parked();
    await put(decisionKey('job-a', 'r'), junk);
    const r = await decide(stores, { altId: 'job-a', task: 'r', decision: 'approved', comment: 'ok', by: 'ops@host' });
    expect(r.decision).toEqual({ task: 'r', decision: 'approved', comment: 'ok', by: 'ops@host', decided_at: new Date(NOW).toISOString(), alt_id: 'job-a' });
    expect(kv.value(decisionKey('job-a', 'r'))).toEqual(r.decision);
    expect(kv.calls.filter((c) => c.op === 'update' || c.op === 'create').map((c) => c.op)).toEqual(['update']);
    expect(published).toEqual(['alt.job-a']);
  });

  it('creates the decision over a delete marker, whatever the marker\'s body', async () => {
    const { kv, streams, stores } = await parked();
    streams.append(kv.stream, `$KV.${BUCKET}.${decisionKey('job-a', 'r')}`, Buffer.from(JSON.stringify(decision())), 'DEL');
    await decide(stores, { altId: 'job-a', task: 'r', decision: 'rejected', comment: null, by: 'ops@host' });
    expect(kv.value<Decision>(decisionKey('job-a', 'r'))?.decision).toBe('rejected');
  });

  it('refuses a person\'s decision from the timeout on (APPROVAL_TIMED_OUT), not the timeout\'s own, nor one before', async () => {
    const at = (ms: number) => parked({ timeout_at: new Date(NOW + ms).toISOString(), on_timeout: 'reject' });
    const late = await at(0);
    await expect(decide(late.stores, { altId: 'job-a', task: 'r', decision: 'approved', comment: null, by: 'ops@host' })).rejects.toMatchObject({
      code: 'APPROVAL_TIMED_OUT', message: `the approval of task r of job job-a timed out at ${new Date(NOW).toISOString()} (on_timeout: reject)`, context: { altId: 'job-a', taskId: 'r' },
    });
    expect(late.published).toEqual([]);
    expect((await decide((await at(0)).stores, { altId: 'job-a', task: 'r', decision: 'rejected', comment: null, by: 'timeout' })).decision.by).toBe('timeout');
    expect((await decide((await at(1)).stores, { altId: 'job-a', task: 'r', decision: 'approved', comment: null, by: 'ops@host' })).decision.by).toBe('ops@host');
  });

  it('creates the decision where there is none, or a delete marker', async () => {
    const { kv, stores, published } = await parked();
    await kv.delete(decisionKey('job-a', 'r'));
    await decide(stores, { altId: 'job-a', task: 'r', decision: 'rejected', comment: null, by: 'ops@host' });
    expect(kv.calls.filter((c) => c.op === 'update' || c.op === 'create').map((c) => c.op)).toEqual(['create']);
    expect(kv.value<Decision>(decisionKey('job-a', 'r'))?.decision).toBe('rejected');
    expect(published).toEqual(['alt.job-a']);
  });

  it.each([
    ['a decision of this job', decision()],
    ['a decision written before decisions named their job', decision({ alt_id: undefined })],
  ])('refuses with APPROVAL_DECIDED over %s, writing and publishing nothing', async (_what, held) => {
    const { kv, stores, published, put } = await parked();
    await put(decisionKey('job-a', 'r'), held);
    await expect(decide(stores, { altId: 'job-a', task: 'r', decision: 'rejected', comment: null, by: 'other' })).rejects.toMatchObject({
      code: 'APPROVAL_DECIDED', message: 'task r of job job-a was decided already', context: { altId: 'job-a', taskId: 'r' },
    });
    expect(kv.value(decisionKey('job-a', 'r'))).toEqual(held);
    expect(published).toEqual([]);
  });

  it('refuses with APPROVAL_DECIDED when a decision is written between its read and its replacing the junk', async () => {
    const { kv, stores, published, put } = await parked();
    await put(decisionKey('job-a', 'r'), API_ANSWER);
    kv.between('update', async () => {
      await put(decisionKey('job-a', 'r'), decision({ by: 'first' }));
    });
    await expect(decide(stores, { altId: 'job-a', task: 'r', decision: 'rejected', comment: null, by: 'second' })).rejects.toMatchObject({ code: 'APPROVAL_DECIDED' });
    expect(kv.value<Decision>(decisionKey('job-a', 'r'))?.by).toBe('first');
    expect(published).toEqual([]);
  });
});

describe('sweepParks', () => {
  const sweep = (stores: Awaited<ReturnType<typeof parked>>['stores']) => sweepParks({ ...stores, statusBucket: BUCKET, logger: silentLogger(), graceMs: 60_000 });

  it('applies a timeout over junk under the decision key (junk blocks nobody)', async () => {
    const { kv, stores, published, put } = await parked({ timeout_at: new Date(NOW - 1).toISOString(), on_timeout: 'approve' });
    await put(decisionKey('job-a', 'r'), API_ANSWER);
    expect(await sweep(stores)).toBe(1);
    expect(kv.value(decisionKey('job-a', 'r'))).toMatchObject({ decision: 'approved', by: 'timeout', alt_id: 'job-a' });
    expect(published).toEqual(['alt.job-a']);
  });

  it('takes no junk for a decision to resume with, and resumes a decision left unpublished past the grace', async () => {
    const junk = await parked();
    await junk.put(decisionKey('job-a', 'r'), { ...API_ANSWER, decided_at: '2026-12-07T11:00:00.000Z' });
    expect(await sweep(junk.stores)).toBe(0);
    expect(junk.published).toEqual([]);
    const real = await parked();
    await real.put(decisionKey('job-a', 'r'), decision());
    expect(await sweep(real.stores)).toBe(1);
    expect(real.published).toEqual(['alt.job-a']);
  });

  it('resumes a parked job cancelled by a cancel record of its own, not by junk or a record copied from another job', async () => {
    const junk = await parked();
    await junk.put(cancelKey('job-a'), API_ANSWER);
    await junk.put(cancelKey('job-b'), { alt_id: 'job-a' });
    await junk.put(cancelKey('job-c'), '{"alt_id"');
    expect(await sweep(junk.stores)).toBe(0);
    // A cancel covers the messages stored before it: the parked message (ALT 5) is one, not so a later one.
    const later = await parked();
    await later.put(cancelKey('job-a'), { alt_id: 'job-a', by: 'ops', alt_stream: 'ALT', alt_stream_seq: 4 });
    expect(await sweep(later.stores)).toBe(0);
    const own = await parked();
    await own.put(cancelKey('job-a'), { alt_id: 'job-a', by: 'ops', alt_stream: 'ALT', alt_stream_seq: 5 });
    expect(await sweep(own.stores)).toBe(1);
    expect(own.published).toEqual(['alt.job-a']);
  });

  it('takes a delete marker for no value, whatever its body: no decision, no cancel, no park', async () => {
    const del = (streams: FakeStreams, key: string, value: unknown) => streams.append(`KV_${BUCKET}`, `$KV.${BUCKET}.${key}`, Buffer.from(JSON.stringify(value)), 'DEL');
    const decided = await parked();
    del(decided.streams, decisionKey('job-a', 'r'), decision());
    del(decided.streams, cancelKey('job-a'), { alt_id: 'job-a' });
    expect(await sweep(decided.stores)).toBe(0);
    const gone = await parked();
    await gone.put(decisionKey('job-b', 'r'), decision({ alt_id: 'job-b' }));
    del(gone.streams, parkKey('job-b'), { alt_id: 'job-b', task: 'r', stream: 'ALT', seq: 6, subject: 'alt.job-b', headers: [], body: bodyObject('ALT', 5), body_bucket: OBJ, timeout_at: null, on_timeout: 'fail' });
    expect(await sweep(gone.stores)).toBe(0);
    expect([decided.published, gone.published]).toEqual([[], []]);
  });

  it('passes over a cancel record whose job id is no string', async () => {
    const { stores, put } = await parked();
    await put(cancelKey('job-a'), { alt_id: 7 });
    expect(await sweep(stores)).toBe(0);
  });

  it('resumes a decided job once: not from a park already taken by its resume, nor from a copy of its park under another key', async () => {
    const taken = await parked({ resumed_seq: 12 });
    await taken.put(decisionKey('job-a', 'r'), decision());
    expect(await sweep(taken.stores)).toBe(0);
    const copied = await parked();
    await copied.put(decisionKey('job-a', 'r'), decision());
    await copied.put(parkKey('job-9'), copied.kv.value(parkKey('job-a')));
    expect(await sweep(copied.stores)).toBe(1);
    expect(copied.published).toEqual(['alt.job-a']);
  });

  it('passes over park records that are not JSON, not a park, or under another job\'s key, and goes on with the rest', async () => {
    const { stores, published, put } = await parked({ timeout_at: new Date(NOW - 1).toISOString() });
    await put(parkKey('job-0'), 'not json');
    await put(parkKey('job-1'), API_ANSWER);
    await put(parkKey('job-2'), { alt_id: 'job-2', task: 7 });
    await put(parkKey('job-3'), { alt_id: 7, task: 'r' });
    await put(parkKey('job-4'), { alt_id: 'job-a', task: 'r', timeout_at: new Date(NOW - 1).toISOString(), on_timeout: 'fail' });
    expect(await sweep(stores)).toBe(1);
    expect(published).toEqual(['alt.job-a']);
  });
});
