/**
 * The record of one delivery against an in-memory bucket: its claim and the "a newer delivery
 * holds it" check the settler fences on, which checkpoints it writes, and what its end removes.
 */
import { describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import type { TaskResult } from '../../../src/engine/types.ts';
import { CheckpointStore } from '../../../src/status/checkpoints.ts';
import { Recorder } from '../../../src/status/recorder.ts';
import type { HistoryEntry, HistoryEvent, HistoryShared, HistoryWriter } from '../../../src/status/history.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { makeJob } from '../../helpers/engine.ts';
import { FakeKv, FakeStreams, fakeObjectStore } from '../../helpers/fake-store.ts';

const result = (id: string, text: string, durationMs = 10, status: TaskResult['status'] = 'completed'): TaskResult => ({
  task_id: id, status, start_time: null, end_time: null, duration_ms: durationMs, error: null, error_code: null, attempts: 1, metadata: {},
  output: { text, model_used: 'm', tokens_used: 1, processing_time_ms: 1 },
});

function setup(o: { budgetMs?: number; maxValue?: number; currency?: string; statusFails?: boolean; history?: boolean } = {}) {
  const s = new FakeStreams();
  const kv = new FakeKv(s, 'CP');
  const jsm = s.jsm();
  const info = jsm.streams.info.bind(jsm.streams);
  const listing = { fail: false };
  (jsm.streams as { info: typeof info }).info = ((...a: Parameters<typeof info>) => (listing.fail ? Promise.reject(new Error('no responders')) : info(...a))) as typeof info;
  const checkpoints = new CheckpointStore({ kv: kv.asKv(), bucket: 'CP', obj: fakeObjectStore(s, 'OBJ'), objBucket: 'OBJ', jsm, maxValue: o.maxValue ?? 4_096 });
  const statusWrites: { key: string; value: Record<string, unknown> }[] = [];
  const lines: Record<string, unknown>[] = [];
  // The job's history as the writer is handed it (the writer itself is tested in history.test.ts).
  const events: HistoryEvent[] = [];
  const history = o.history
    ? ({ add: (altId: string, shared: HistoryShared, entry: HistoryEntry) => void events.push({ at: '', alt_id: altId, ...shared, ...entry }) } as unknown as HistoryWriter)
    : undefined;
  const stream = new PassThrough();
  stream.on('data', (c: Buffer) => c.toString().split('\n').filter(Boolean).forEach((l) => lines.push(JSON.parse(l) as Record<string, unknown>)));
  const recorder = new Recorder({
    status: {
      put: async (key, value) => {
        if (o.statusFails) throw new Error('status bucket full');
        statusWrites.push({ key, value: JSON.parse(Buffer.from(value).toString()) as Record<string, unknown> });
      },
    },
    checkpoints, workerId: 'w1', flushMs: 60_000, budgetMs: o.budgetMs ?? 0, logger: createLogger({ level: 'debug', stream, pretty: false }),
    ...(o.currency ? { currency: o.currency } : {}),
    ...(history ? { history } : {}),
  });
  const begin = (deliveries = 1, seq = 7, subject = 'alt.x') => recorder.begin({ data: new Uint8Array(), subject, stream: 'ALT', seq, deliveries });
  const flushLogs = () => new Promise((r) => setImmediate(r));
  return { s, kv, checkpoints, recorder, begin, statusWrites, lines, flushLogs, listing, events };
}

const finished = (r: TaskResult, kind = 'ai') => ({ type: 'task_finished' as const, taskId: r.task_id, result: r, at: 0, kind });

describe('DeliveryRecord: claim and current', () => {
  it('claims for its own delivery and worker', async () => {
    const { kv, begin, checkpoints } = setup();
    expect(await begin(3).claim()).toBe(true);
    expect(kv.value('ALT.7.claim')).toMatchObject({ deliveries: 3, worker: 'w1' });
    expect(await checkpoints.claimedBy('ALT', 7)).toBe(3);
    expect(await begin(2).claim()).toBe(false);
  });

  it('is current while no newer delivery holds the claim (none, or its own, or an older one); not once a newer one does', async () => {
    const { begin } = setup();
    const r2 = begin(2);
    expect(await r2.current(2)).toBe(true);
    await r2.claim();
    expect(await r2.current(2)).toBe(true);
    expect(await r2.current(3)).toBe(true);
    await begin(3).claim();
    expect(await r2.current(2)).toBe(false);
    expect(await begin(3).current(3)).toBe(true);
  });

  it('fails when the claim cannot be read (the settler then publishes nothing)', async () => {
    const { kv, begin } = setup();
    kv.failing = new Error('timeout');
    await expect(begin(2).current(2)).rejects.toThrow('timeout');
  });
});

describe('DeliveryRecord: records to remove', () => {
  it('a first delivery that wrote and claimed nothing holds no records; a claim, a batch, a redelivery or loaded objects do', async () => {
    const { begin, checkpoints } = setup({ budgetMs: 60_000, maxValue: 40 });
    expect(await begin(1).holdsRecords()).toBe(false);
    const claimed = begin(1);
    await claimed.claim();
    expect(await claimed.holdsRecords()).toBe(true);
    expect(await begin(2, 8).holdsRecords()).toBe(true);
    const wrote = begin(1, 9);
    wrote.onEvent(finished(result('a', 'A')));
    await wrote.flushCheckpoints();
    expect(await wrote.holdsRecords()).toBe(true);
    // An earlier delivery's checkpoint that moved its output to the object store.
    await checkpoints.saveBatch('ALT', 10, 1, 0, [result('big', 'z'.repeat(50))]);
    const resumed = begin(1, 10);
    expect([...(await resumed.loadResume()).keys()]).toEqual(['big']);
    expect(await resumed.holdsRecords()).toBe(true);
  });

  it('checkpoints completed AI results only, numbering its batches', async () => {
    const { kv, begin } = setup({ budgetMs: 0 });
    const r = begin(2);
    r.onEvent(finished(result('a', 'A')));
    r.onEvent(finished(result('b', 'B'), 'approval'));
    r.onEvent(finished(result('c', 'C', 10, 'failed')));
    r.onEvent(finished({ ...result('d', ''), output: null }));
    r.onEvent(finished(result('e', 'E')));
    await r.flushCheckpoints();
    expect(r.checkpointBatches).toBe(2);
    expect(kv.calls.filter((c) => c.op === 'put').map((c) => c.key)).toEqual(['ALT.7.c.2-0', 'ALT.7.c.2-1']);
    expect([...(await r.loadResume()).keys()].sort()).toEqual(['a', 'e']);
  });

  it('a checkpoint that cannot be written is logged, not thrown', async () => {
    const { kv, begin, lines, flushLogs } = setup({ budgetMs: 0 });
    const r = begin(1);
    kv.failing = new Error('bucket gone');
    r.onEvent(finished(result('a', 'A')));
    await expect(r.flushCheckpoints()).resolves.toBeUndefined();
    await flushLogs();
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', message: 'could not store checkpoints; those tasks would run again after a crash', alt_stream_seq: 7, tasks: 1, error: 'bucket gone' }));
  });

  it('release removes every record of the message, the objects included; a failure is logged', async () => {
    const { s, begin, lines, flushLogs, checkpoints, listing } = setup({ budgetMs: 0, maxValue: 40 });
    const r = begin(2);
    await r.claim();
    r.onEvent(finished(result('big', 'z'.repeat(50))));
    await r.flushCheckpoints();
    expect(s.messages('OBJ_OBJ')).toHaveLength(2);
    await r.release();
    expect((await checkpoints.load('ALT', 7)).results.size).toBe(0);
    expect(await checkpoints.claimedBy('ALT', 7)).toBe(0);
    expect(s.messages('OBJ_OBJ')).toHaveLength(0);
    // The bucket cannot be listed: the release is logged and the records expire.
    listing.fail = true;
    const r2 = begin(2, 8);
    await expect(r2.release()).resolves.toBeUndefined();
    await flushLogs();
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', message: 'could not remove checkpoints; they expire', alt_stream_seq: 8, error: 'no responders' }));
  });
});

describe('DeliveryRecord: status', () => {
  it('writes nothing for a delivery whose job id is unknown; writes the state with a redacted error once it is known', async () => {
    const { begin, statusWrites } = setup();
    const r = begin(1);
    await r.settled({ state: 'failed', code: 'ALT_INVALID', message: 'bad' });
    expect(statusWrites).toHaveLength(0);
    expect(r.tracker).toBeNull();
    await r.settled({ state: 'failed', code: 'ALT_INVALID', message: 'key sk-abcdefghijklmnopqrstuvwxyz0123456789 is bad', altId: 'job-9' });
    expect(statusWrites).toHaveLength(1);
    expect(statusWrites[0].value).toMatchObject({ alt_id: 'job-9', state: 'failed', deliveries: 1, worker_id: 'w1', alt_stream: 'ALT', alt_stream_seq: 7 });
    expect(JSON.stringify(statusWrites[0].value.error)).not.toContain('sk-abcdefghijklmnopqrstuvwxyz0123456789');
    expect(statusWrites[0].value.error).toMatchObject({ code: 'ALT_INVALID' });
    await r.close();
  });

  it('a started job writes under its own id, with no error when the state has no code', async () => {
    const { begin, statusWrites } = setup();
    const r = begin(2);
    r.started(makeJob([{ id: 't1' }]));
    expect(r.tracker?.entry.alt_id).toBe('job-1');
    await r.settled({ state: 'retrying', altId: 'other' });
    expect(statusWrites.at(-1)?.value).toMatchObject({ alt_id: 'job-1', state: 'retrying', error: null, last_status: null });
    await r.close();
  });
});

describe('Recorder', () => {
  it('routes each engine event to the record its run carries, and ignores events of runs without one', async () => {
    const { recorder, begin, kv } = setup({ budgetMs: 0 });
    const r = begin(1);
    recorder.observe(finished(result('a', 'A')), { record: r });
    recorder.observe(finished(result('b', 'B')), undefined);
    recorder.observe(finished(result('c', 'C')), {});
    await r.flushCheckpoints();
    expect(r.checkpointBatches).toBe(1);
    expect(kv.calls.filter((c) => c.op === 'put')).toHaveLength(1);
  });

  it('events other than a finished AI task write no checkpoint, and one without a result does not break it', async () => {
    const { begin } = setup({ budgetMs: 0 });
    const r = begin(1);
    r.onEvent({ type: 'instance_created', taskId: 'a', segmentId: 'a', kind: 'ai', iteration: null, at: 0, dependencies: [], owner: null });
    r.onEvent({ type: 'task_started', taskId: 'a', attempt: 1, at: 0 } as never);
    await r.flushCheckpoints();
    expect(r.checkpointBatches).toBe(0);
  });
});

describe('DeliveryRecord: status details', () => {
  it('an error code without a message is written with an empty message', async () => {
    const { begin, statusWrites } = setup();
    const r = begin(1);
    await r.settled({ state: 'retrying', code: 'AI_UNAVAILABLE', altId: 'job-3' });
    expect(statusWrites[0].value.error).toEqual({ code: 'AI_UNAVAILABLE', message: '' });
    await r.close();
  });

  it('the entry takes the tasks of the .last it ended with', async () => {
    const { begin, statusWrites } = setup();
    // A redelivery: a first delivery that ends within RUNNER_STATUS_FLUSH_MS writes no entry (its .last is its record).
    const r = begin(2);
    r.started(makeJob([{ id: 't1' }, { id: 't2' }]));
    await r.settled({ state: 'completed', lastStatus: 'partialsuccess', last: { alt_file_id: 'job-1', title: 'Test', start_time: '2025-01-01T00:00:00.000Z', task_results: { t1: { status: 'completed', start_time: 'a', end_time: 'b', metadata: { attempts: 2 } }, t2: { status: 'failed', start_time: 'a', end_time: 'b', metadata: { attempts: 1, error_code: 'AI_TIMEOUT' } } } } });
    const tasks = statusWrites.at(-1)?.value.tasks as Record<string, Record<string, unknown>>;
    expect(tasks.t1).toMatchObject({ state: 'completed', attempts: 2 });
    expect(tasks.t2).toMatchObject({ state: 'failed', error_code: 'AI_TIMEOUT' });
    await r.close();
  });

  it('names the price table\'s currency in its usage, none without one', async () => {
    const priced = setup({ currency: 'EUR' });
    const r = priced.begin(1);
    await r.settled({ state: 'failed', code: 'X', altId: 'job-4' });
    expect(priced.statusWrites[0].value.usage).toMatchObject({ currency: 'EUR' });
    const plain = setup();
    const p = plain.begin(1);
    await p.settled({ state: 'failed', code: 'X', altId: 'job-4' });
    expect(plain.statusWrites[0].value.usage).toMatchObject({ currency: null });
  });

  it('a status write that fails is logged, not thrown', async () => {
    const { begin, lines, flushLogs } = setup({ statusFails: true });
    const r = begin(1);
    await expect(r.settled({ state: 'failed', code: 'X', altId: 'job-5' })).resolves.toBeUndefined();
    await r.close();
    await flushLogs();
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', message: 'could not write the job status', error: 'status bucket full' }));
  });
});

describe('DeliveryRecord: close', () => {
  it('waits for the checkpoint writes in flight; a record that never started closes too', async () => {
    const { kv, begin } = setup({ budgetMs: 0 });
    const r = begin(2);
    kv.between('put', () => new Promise((resolve) => setTimeout(resolve, 30)));
    r.onEvent(finished(result('a', 'A')));
    await r.close();
    expect(kv.value('ALT.7.c.2-0')).not.toBeNull();
    await expect(begin(1, 8).close()).resolves.toBeUndefined();
  });
});


describe('DeliveryRecord: the job history', () => {
  /** The events as (type, chosen fields), for comparing whole sequences. */
  const seen = (events: HistoryEvent[]) => events.map(({ at: _at, ...rest }) => rest);
  const where = { worker_id: 'w1', alt_stream_seq: 7 };

  it('says nothing before the job id is known, then each step of a run in order, with the worker, the message and its delivery', async () => {
    const { begin, events } = setup({ history: true, budgetMs: 0 });
    const r = begin(2);
    r.ended({ verb: 'nak', code: 'AI_UNAVAILABLE' });
    r.handedBack('X');
    expect(events).toEqual([]);
    expect(await r.claim()).toBe(true);
    expect(events).toEqual([]);
    r.started(makeJob([{ id: 't1' }, { id: 't2' }]), undefined, null, ['t0']);
    r.onEvent({ type: 'attempt_failed', taskId: 't1', attempt: 1, code: 'AI_TIMEOUT', error: 'slow', at: 0 } as never);
    r.onEvent(finished(result('t1', 'A')));
    r.onEvent(finished({ ...result('t2', 'B', 10, 'failed'), error_code: 'AI_REJECTED', attempts: 3 }));
    r.onEvent({ type: 'task_started', taskId: 't1', attempt: 1, at: 0 } as never);
    await r.flushCheckpoints();
    r.stored('partialsuccess', 'AI_REJECTED');
    r.stored('success', undefined, null, true);
    // The checkpoint is said once it is written: after the event the engine went on to.
    expect(seen(events)).toEqual([
      { type: 'delivered', alt_id: 'job-1', ...where, deliveries: 2 },
      { type: 'started', alt_id: 'job-1', ...where, deliveries: 2, detail: { tasks: 2, from_checkpoints: ['t0'] } },
      { type: 'attempt_failed', alt_id: 'job-1', ...where, deliveries: 2, task_id: 't1', attempt: 1, code: 'AI_TIMEOUT', error: 'slow' },
      { type: 'task_finished', alt_id: 'job-1', ...where, deliveries: 2, task_id: 't1', status: 'completed', attempt: 1 },
      { type: 'task_finished', alt_id: 'job-1', ...where, deliveries: 2, task_id: 't2', status: 'failed', attempt: 3, code: 'AI_REJECTED' },
      { type: 'checkpointed', alt_id: 'job-1', ...where, deliveries: 2, detail: { tasks: 1 } },
      { type: 'last_stored', alt_id: 'job-1', ...where, deliveries: 2, status: 'partialsuccess', code: 'AI_REJECTED' },
      { type: 'last_stored', alt_id: 'job-1', ...where, deliveries: 2, status: 'success', detail: { duplicate: true } },
    ]);
    await r.close();
  });

  it('a claim won is in the history, one lost is not; a first run names no checkpointed tasks', async () => {
    const a = setup({ history: true });
    const first = a.begin(1);
    first.identified('job-c');
    expect(await first.claim()).toBe(true);
    a.begin(1);
    const lost = a.begin(1);
    lost.identified('job-c');
    expect(await lost.claim()).toBe(false);
    first.started(makeJob([{ id: 't1' }], { id: 'job-c' }));
    expect(seen(a.events).map((e) => e.type)).toEqual(['delivered', 'claimed', 'delivered', 'started']);
    expect(a.events[3].detail).toEqual({ tasks: 1 });
  });

  it('delivered once per job id, held with its reason; a decoded job naming another id is delivered under it', () => {
    const { begin, events } = setup({ history: true });
    const r = begin(1);
    r.identified('job-h', 'paused');
    r.identified('job-h');
    r.started(makeJob([{ id: 't1' }], { id: 'job-h' }));
    r.identified('job-other');
    expect(seen(events)).toEqual([
      { type: 'delivered', alt_id: 'job-h', ...where, deliveries: 1, detail: { held: 'paused' } },
      { type: 'started', alt_id: 'job-h', ...where, deliveries: 1, detail: { tasks: 1 } },
      { type: 'delivered', alt_id: 'job-other', ...where, deliveries: 1 },
    ]);
  });

  it('says how each delivery ended: parked (approval or budget), handed back, lease lost, dead-lettered; a plain ack says nothing', () => {
    const { begin, events } = setup({ history: true });
    const ends = [
      { verb: 'ack', code: 'JOB_PARKED', task: 'review' },
      { verb: 'ack', code: 'BUDGET_WAIT' },
      { verb: 'ack', code: 'SOMETHING_ELSE' },
      { verb: 'ack' },
      { verb: 'nak', code: 'AI_UNAVAILABLE', status: 'retrying' },
      { verb: 'nak', code: 'LEASE_LOST' },
      { verb: 'reject', code: 'ALT_INVALID', status: 'failure' },
      { verb: 'abandon', code: 'LEASE_LOST' },
      { verb: 'abandon', code: 'SHUTDOWN' },
      { verb: 'nak', code: 'JOB_PARKED' },
      { verb: 'ack', code: 'LEASE_LOST' },
      { verb: 'ack', code: 'DONE_BEFORE' },
      { verb: 'nak', code: 'DONE_BEFORE' },
    ] as const;
    ends.forEach((e, i) => begin(1, 10 + i).ended({ ...e, altId: `job-${i}` }));
    const said = events.filter((e) => e.type !== 'delivered').map(({ at: _at, worker_id: _w, deliveries: _d, ...rest }) => rest);
    expect(said).toEqual([
      { type: 'parked', alt_id: 'job-0', alt_stream_seq: 10, code: 'JOB_PARKED', detail: { task: 'review' } },
      { type: 'parked', alt_id: 'job-1', alt_stream_seq: 11, code: 'BUDGET_WAIT', detail: { task: null } },
      { type: 'handed_back', alt_id: 'job-4', alt_stream_seq: 14, code: 'AI_UNAVAILABLE', status: 'retrying' },
      { type: 'lease_lost', alt_id: 'job-5', alt_stream_seq: 15, code: 'LEASE_LOST' },
      { type: 'dead_lettered', alt_id: 'job-6', alt_stream_seq: 16, code: 'ALT_INVALID', status: 'failure' },
      { type: 'lease_lost', alt_id: 'job-7', alt_stream_seq: 17, code: 'LEASE_LOST' },
      { type: 'handed_back', alt_id: 'job-9', alt_stream_seq: 19, code: 'JOB_PARKED' },
      { type: 'done_before', alt_id: 'job-11', alt_stream_seq: 21, code: 'DONE_BEFORE' },
      { type: 'handed_back', alt_id: 'job-12', alt_stream_seq: 22, code: 'DONE_BEFORE' },
    ]);
    // Every delivery whose id was given was delivered, in order.
    expect(events.filter((e) => e.type === 'delivered').map((e) => e.alt_id)).toEqual(ends.map((_, i) => `job-${i}`));
    // An ending without an id and before one was known says nothing; after one was known, it names it.
    const before = events.length;
    begin(1, 99).ended({ verb: 'reject', code: 'ALT_INVALID' });
    expect(events).toHaveLength(before);
    const known = begin(1, 98);
    known.identified('job-known');
    known.ended({ verb: 'nak', code: 'AI_UNAVAILABLE' });
    expect(events.slice(before).map((e) => [e.type, e.alt_id])).toEqual([['delivered', 'job-known'], ['handed_back', 'job-known']]);
  });

  it('a held delivery handed back unrun; a .last stored for a job that did not decode names the recovered id', () => {
    const { begin, events } = setup({ history: true });
    const held = begin(1);
    held.identified('job-d', 'draining');
    held.handedBack('WORKER_DRAINING');
    const bad = begin(3, 8);
    bad.stored('failure', 'ALT_INVALID', 'job-x');
    bad.stored('failure', 'ALT_INVALID', 'job-x');
    expect(seen(events)).toEqual([
      { type: 'delivered', alt_id: 'job-d', ...where, deliveries: 1, detail: { held: 'draining' } },
      { type: 'handed_back', alt_id: 'job-d', ...where, deliveries: 1, code: 'WORKER_DRAINING' },
      { type: 'delivered', alt_id: 'job-x', worker_id: 'w1', alt_stream_seq: 8, deliveries: 3 },
      { type: 'last_stored', alt_id: 'job-x', worker_id: 'w1', alt_stream_seq: 8, deliveries: 3, status: 'failure', code: 'ALT_INVALID' },
      { type: 'last_stored', alt_id: 'job-x', worker_id: 'w1', alt_stream_seq: 8, deliveries: 3, status: 'failure', code: 'ALT_INVALID' },
    ]);
  });

  it('dead-lettered with no run here names no worker; its failure .last after the DLQ copy too; an id known first is kept', () => {
    const { begin, events } = setup({ history: true });
    begin(5, 3).deadLettered('job-dl', 'MAX_DELIVERIES', 'gave up with it', true);
    begin(5, 4).deadLettered('job-dl2', 'MAX_DELIVERIES', 'gave up');
    const known = begin(5, 5);
    known.identified('job-first');
    known.deadLettered('job-second', 'MAX_DELIVERIES', 'gave up');
    expect(seen(events)).toEqual([
      { type: 'dead_lettered', alt_id: 'job-dl', alt_stream_seq: 3, deliveries: 5, code: 'MAX_DELIVERIES', error: 'gave up with it' },
      { type: 'last_stored', alt_id: 'job-dl', alt_stream_seq: 3, deliveries: 5, status: 'failure', code: 'MAX_DELIVERIES' },
      { type: 'dead_lettered', alt_id: 'job-dl2', alt_stream_seq: 4, deliveries: 5, code: 'MAX_DELIVERIES', error: 'gave up' },
      { type: 'delivered', alt_id: 'job-first', ...where, alt_stream_seq: 5, deliveries: 5 },
      { type: 'dead_lettered', alt_id: 'job-first', alt_stream_seq: 5, deliveries: 5, code: 'MAX_DELIVERIES', error: 'gave up' },
    ]);
    expect('worker_id' in events[0]).toBe(false);
  });

  it('a resume is in the history with what it goes on from; without a history nothing is written anywhere', async () => {
    const { begin, events } = setup({ history: true });
    const r = begin(1);
    r.identified('job-r');
    r.resumed(2);
    r.resumed(3, 'budget');
    expect(seen(events).slice(1)).toEqual([
      { type: 'resumed', alt_id: 'job-r', ...where, deliveries: 1, detail: { completed: 2, reason: 'approval' } },
      { type: 'resumed', alt_id: 'job-r', ...where, deliveries: 1, detail: { completed: 3, reason: 'budget' } },
    ]);
    const quiet = setup({ budgetMs: 0 });
    const q = quiet.begin(2);
    q.started(makeJob([{ id: 't1' }]));
    q.onEvent(finished(result('t1', 'A')));
    await q.flushCheckpoints();
    q.stored('success');
    q.ended({ verb: 'nak', code: 'X' });
    q.deadLettered('job-1', 'MAX_DELIVERIES', 'm', true);
    q.resumed(1);
    expect(quiet.events).toEqual([]);
    await q.close();
  });
});

describe('DeliveryRecord: a short job\'s status entry', () => {
  const last = { last: { alt_file_id: 'job-1', title: 'Test', start_time: '2025-01-01T00:00:00.000Z', task_results: { t1: { status: 'completed', start_time: 'a', end_time: 'b', metadata: { attempts: 1 } } } } };
  it('a first delivery that ends within the flush time writes no entry; a resumed one (it has an entry) writes its final state, also when resumed after it started', async () => {
    const short = setup();
    const s = short.begin(1, 7, 'alt.high.acme');
    s.started(makeJob([{ id: 't1' }]));
    await s.settled({ state: 'completed', lastStatus: 'success', ...last });
    await s.close();
    expect(short.statusWrites).toEqual([]);
    const resumed = setup();
    const r = resumed.begin(1, 7, 'alt.high.acme');
    r.resumed(1);
    r.started(makeJob([{ id: 't1' }]));
    await r.settled({ state: 'completed', lastStatus: 'success', ...last });
    await r.close();
    expect(resumed.statusWrites.at(-1)?.value).toMatchObject({ alt_id: 'job-1', state: 'completed', tenant: 'acme' });
    const late = setup();
    const l = late.begin(1);
    l.started(makeJob([{ id: 't1' }]));
    l.resumed(1);
    await l.settled({ state: 'completed', lastStatus: 'success', ...last });
    await l.close();
    expect(late.statusWrites.at(-1)?.value).toMatchObject({ alt_id: 'job-1', state: 'completed', tenant: '_' });
  });
});
