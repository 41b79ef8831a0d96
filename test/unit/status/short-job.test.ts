/** A job's status writes: none for a job that ends with its `.last` within the flush time on its first delivery. */
import { describe, expect, it } from '@jest/globals';
import { entryFromLast, StatusTracker, type LastOutcome, type StatusEntry } from '../../../src/status/status.ts';
import type { TaskResult } from '../../../src/engine/types.ts';

const result = (id: string): TaskResult => ({ task_id: id, status: 'completed', start_time: '2026-01-01T00:00:00.000Z', end_time: '2026-01-01T00:00:01.000Z', duration_ms: 1000, output: { text: `answer ${id}`, model_used: 'm', tokens_used: 3, processing_time_ms: 5 }, error: null, error_code: null, attempts: 1, metadata: {} });
const last: LastOutcome = { alt_file_id: 'j', title: 'job j', start_time: '2026-01-01T00:00:00.000Z', task_results: { a: { status: 'completed', start_time: '2026-01-01T00:00:00.000Z', end_time: '2026-01-01T00:00:01.000Z', metadata: { attempts: 1 } } } };

function tracker(deliveries: number, flushMs: number) {
  const writes: StatusEntry[] = [];
  const t = new StatusTracker({ put: async (_k: string, v: Uint8Array) => void writes.push(JSON.parse(Buffer.from(v).toString()) as StatusEntry) }, { alt_id: 'j', alt_stream: 'ALT', alt_stream_seq: 7, deliveries, worker_id: 'w' }, flushMs, () => {});
  const job = { id: 'j', title: 'job j', tasks: [{ id: 'a', dependencies: [] }], source: { form: 'runner' } } as never;
  t.running(job);
  t.onEvent({ type: 'task_started', taskId: 'a', at: Date.parse('2026-01-01T00:00:00.000Z') } as never);
  t.onEvent({ type: 'task_finished', taskId: 'a', result: result('a'), at: Date.parse('2026-01-01T00:00:01.000Z'), kind: 'ai' });
  return { t, writes };
}

describe('status writes of a short job', () => {
  it('writes nothing for a first delivery that ends with a stored .last before its first write', async () => {
    const { t, writes } = tracker(1, 60_000);
    t.reconcile(last);
    await t.state('completed', { last_status: 'success' });
    await t.close();
    expect(writes).toEqual([]);
    expect(t.visible).toBe(false);
  });

  it('writes the final state of a redelivery, and of a job that ends without a .last', async () => {
    const again = tracker(2, 60_000);
    again.t.reconcile(last);
    await again.t.state('completed', { last_status: 'success' });
    expect(again.writes.map((e) => [e.state, e.tasks.a?.state, e.title])).toEqual([['completed', 'completed', 'job j']]);
    const handedBack = tracker(1, 60_000);
    await handedBack.t.state('retrying');
    expect(handedBack.writes.map((e) => [e.state, e.tasks.a?.state])).toEqual([['retrying', 'completed']]);
  });

  it('writes a job running past the flush time with every event before it applied, then its final state', async () => {
    const { t, writes } = tracker(1, 10);
    for (const end = Date.now() + 10_000; !writes.length && Date.now() < end;) await new Promise((r) => setImmediate(r));
    expect(writes.at(0)).toMatchObject({ state: 'running', title: 'job j', tasks_total: 1, tasks_done: 1, tasks: { a: { state: 'completed', attempts: 1 } } });
    t.reconcile(last);
    await t.state('completed', { last_status: 'success' });
    await t.close();
    expect(writes.map((e) => e.state)).toEqual(['running', 'completed']);
  });

  it('makes the entry of a job that wrote none from its .last: state, tasks, dependencies, a member\'s construct, the members not taken', () => {
    const r = (status: string, metadata: Record<string, unknown> = {}) => ({ status, start_time: '2026-01-01T00:00:00.000Z', end_time: '2026-01-01T00:00:01.000Z', metadata: { attempts: 1, ...metadata } });
    const e = entryFromLast({
      alt_file_id: 'p', title: 'program p', start_time: '2026-01-01T00:00:00.000Z', end_time: '2026-01-01T00:00:02.000Z', status: 'success',
      task_results: { a: r('completed'), cond: r('completed'), 'cond/b': r('completed', { segment_id: 'b' }) },
      metadata: { source_stream: 'ALT', source_stream_seq: 9, deliveries: 1, control_flow: { skipped: [{ segment_id: 'c', reason: 'branch not taken' }] } },
      execution_graph: { nodes: [{ id: 'n1', task_id: 'a' }, { id: 'n2', task_id: 'cond' }, { id: 'n3', task_id: 'cond/b' }], edges: [{ source: 'n1', target: 'n2', dependency_type: 'required' }, { source: 'n2', target: 'n3', dependency_type: 'conditional' }] },
    }, '2026-01-01T00:00:03.000Z');
    expect(e).toMatchObject({ alt_id: 'p', state: 'completed', last_status: 'success', alt_stream: 'ALT', alt_stream_seq: 9, tasks_total: 3, tasks_done: 3, updated_at: '2026-01-01T00:00:03.000Z', finished_at: '2026-01-01T00:00:02.000Z' });
    expect(e.tasks).toMatchObject({ cond: { deps: ['a'] }, 'cond/b': { owner: 'cond', segment: 'b' }, c: { state: 'skipped' } });
  });
});

describe('the entry of a job found by its .last', () => {
  it('takes its tasks, their dependencies from the graph and the 2.0 members never taken', () => {
    const t = (status: string) => ({ status, start_time: '2026-01-01T00:00:00.000Z', end_time: '2026-01-01T00:00:01.000Z', metadata: { attempts: 1 } });
    const e = entryFromLast({
      alt_file_id: 'j', title: 'job j', start_time: '2026-01-01T00:00:00.000Z', end_time: '2026-01-01T00:00:02.000Z', status: 'success',
      task_results: { a: t('completed'), b: t('completed'), c: t('completed') },
      execution_graph: { nodes: [{ id: 'n1', task_id: 'a' }, { id: 'n2', task_id: 'b' }, { id: 'n3', task_id: 'c' }], edges: [{ source: 'n1', target: 'n2' }, { source: 'n1', target: 'n3' }, { source: 'n2', target: 'n3' }] },
      metadata: { source_stream: 'ALT', source_stream_seq: 4, deliveries: 1, budget: { tokens: 5000, cost: null }, control_flow: { skipped: [{ segment_id: 'else_branch', reason: 'not taken' }] } },
    } as never, '2026-01-01T00:00:03.000Z');
    expect(e).toMatchObject({ alt_id: 'j', state: 'completed', alt_stream_seq: 4, last_status: 'success' });
    expect(e.tasks.a.deps ?? []).toEqual([]);
    expect(e.tasks.b.deps).toEqual(['a']);
    expect(e.tasks.c.deps).toEqual(['a', 'b']);
    expect(e.tasks.else_branch).toMatchObject({ state: 'skipped' });
    expect(e.budget).toEqual({ tokens: 5000, cost: null });
  });
});

describe('a short delivery of a job that has an entry already', () => {
  it('writes its final state (a parked job resumed or cancelled ends its waiting entry)', async () => {
    const { t, writes } = tracker(1, 60_000);
    t.entryExists();
    t.reconcile(last);
    await t.state('cancelled', { last_status: 'failure' });
    await t.close();
    expect(writes.map((w) => w.state)).toEqual(['cancelled']);
  });
});
