import { describe, expect, it } from '@jest/globals';
import type { TaskResult } from '../../../src/engine/types.ts';
import { StatusTracker, type StatusEntry } from '../../../src/status/status.ts';

const completed = (id: string, model: string, input: number | null, cost: number | null): TaskResult => ({
  task_id: id, status: 'completed', start_time: '2026-01-01T00:00:00.000Z', end_time: '2026-01-01T00:00:01.000Z', duration_ms: 1000, error: null, error_code: null, attempts: 1, metadata: {},
  output: { text: `answer ${id}`, model_used: model, tokens_used: 0, processing_time_ms: 1, usage: { input, output: 5, cached_input: 0, reasoning: 1, attempt: 1 }, cost },
});

describe('usage in the status entry', () => {
  it('gives each completed task its call\'s usage and cost while the job runs, adds them up per job and model, and keeps only the job\'s in the final entry', async () => {
    const writes: StatusEntry[] = [];
    const sink = { put: async (_k: string, v: Uint8Array) => void writes.push(JSON.parse(Buffer.from(v).toString()) as StatusEntry) };
    const t = new StatusTracker(sink, { alt_id: 'j', alt_stream: 'ALT', alt_stream_seq: 1, deliveries: 1, worker_id: 'w' }, 60_000, () => {}, undefined, 'USD');
    t.onEvent({ type: 'task_resumed', taskId: 'a', result: completed('a', 'm1', 10, 0.25), at: 0 });
    t.onEvent({ type: 'task_finished', taskId: 'b', result: completed('b', 'm2', 7, null), at: 0, kind: 'ai' });
    t.onEvent({ type: 'task_finished', taskId: 'c', result: { ...completed('c', 'm2', 1, 1), status: 'failed', output: null, error_code: 'TASK_FAILED' }, at: 0, kind: 'ai' });
    expect(t.entry.tasks.a).toMatchObject({ usage: { input: 10, output: 5, cached_input: 0, reasoning: 1 }, cost: 0.25 });
    expect(t.entry.tasks.b).toMatchObject({ usage: { input: 7 }, cost: null });
    expect(t.entry.tasks.c.usage).toBeUndefined();
    expect(t.entry.usage).toEqual({
      tokens: { input: 17, output: 10, cached_input: 0, reasoning: 2 }, cost: null, currency: 'USD', calls: 2,
      by_model: {
        m1: { tokens: { input: 10, output: 5, cached_input: 0, reasoning: 1 }, cost: 0.25, currency: 'USD', calls: 1 },
        m2: { tokens: { input: 7, output: 5, cached_input: 0, reasoning: 1 }, cost: null, currency: 'USD', calls: 1 },
      },
    });
    // A job that ran past the flush time (its entry written): its final state is written too.
    await t.state('running');
    t.reconcile({ alt_file_id: 'j', title: 'j', start_time: '2026-01-01T00:00:00.000Z', task_results: {
      a: { status: 'completed', start_time: null, end_time: null, metadata: {} }, b: { status: 'completed', start_time: null, end_time: null, metadata: {} }, c: { status: 'failed', start_time: null, end_time: null, metadata: {} },
    } });
    await t.state('completed');
    const final = writes.at(-1)!;
    expect(final.usage?.calls).toBe(2);
    expect(Object.values(final.tasks).some((x) => 'usage' in x || 'cost' in x)).toBe(false);
    await t.close();
  });
});
