import { describe, expect, it } from '@jest/globals';
import type { TaskResult } from '../../../src/engine/types.ts';
import { CheckpointBudget } from '../../../src/status/checkpoints.ts';
import { toNanos } from '../../../src/usage/prices.ts';

const result = (id: string, cost: number | null, durationMs = 10): TaskResult => ({
  task_id: id, status: 'completed', start_time: null, end_time: null, duration_ms: durationMs, error: null, error_code: null, attempts: 1, metadata: {},
  output: { text: 'x', model_used: 'm', tokens_used: 1, processing_time_ms: 1, usage: { input: 1, output: 1, cached_input: 0, reasoning: 0, attempt: 1 }, cost },
});

describe('checkpoints weigh money (RUNNER_CHECKPOINT_BUDGET_COST)', () => {
  it('writes pending results once their cost adds up to more than the budget, whatever their AI time', async () => {
    const batches: string[][] = [];
    const budget = new CheckpointBudget(60_000, async (b) => void batches.push(b.map((r) => r.task_id)), toNanos(0.05));
    budget.add(result('a', 0.02));
    budget.add(result('b', 0.02));
    expect(batches).toEqual([]);
    expect(budget.unsavedNanos).toBe(toNanos(0.04));
    budget.add(result('c', 0.02));
    await budget.settled();
    expect(batches).toEqual([['a', 'b', 'c']]);
    expect(budget.unsavedNanos).toBe(0);
    // A call that cost more than the budget is written at once.
    budget.add(result('d', 0.06));
    await budget.settled();
    expect(batches).toEqual([['a', 'b', 'c'], ['d']]);
  });

  it('leaves an unknown cost to the time rule, and keeps at most the budget unwritten', async () => {
    const batches: string[][] = [];
    const budget = new CheckpointBudget(100, async (b) => void batches.push(b.map((r) => r.task_id)), toNanos(0.05));
    for (let i = 0; i < 5; i++) budget.add(result(`u${i}`, null, 30));
    await budget.settled();
    expect(batches).toEqual([['u0', 'u1', 'u2', 'u3']]);
    let unwritten = 0;
    const costs = [0.01, 0.03, 0.005, 0.049, 0.02, 0.001, 0.04];
    const b2 = new CheckpointBudget(60_000, async () => {}, toNanos(0.05));
    for (const [i, c] of costs.entries()) {
      b2.add(result(`c${i}`, c));
      unwritten = Math.max(unwritten, b2.unsavedNanos);
    }
    expect(unwritten).toBeLessThanOrEqual(toNanos(0.05));
  });
});
