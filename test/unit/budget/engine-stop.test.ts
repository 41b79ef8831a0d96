import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers/paths.ts';
import { runJob } from '../../../src/engine/run-job.ts';
import { AltlasError } from '../../../src/errors.ts';
import { decodeOk } from '../../helpers/alt.ts';
import { ENGINE, deferred, makeJob, output, recordingBody } from '../../helpers/engine.ts';

const over = () => new AltlasError('BUDGET_EXCEEDED', 'the job\'s budget of 100 tokens cannot hold this call');

describe('a budget stops the job, not the task', () => {
  it('lets the tasks running finish, starts none after, and cancels the rest with BUDGET_EXCEEDED (not as dependency failures)', async () => {
    const slow = deferred<void>();
    const rec = recordingBody(async (id) => {
      if (id === 'a') {
        await slow.promise;
        return output('a done');
      }
      if (id === 'b') {
        setTimeout(() => slow.resolve(), 10);
        throw over();
      }
      return output(id);
    });
    const job = makeJob([{ id: 'a' }, { id: 'b', retries: 3 }, { id: 'c' }, { id: 'd', deps: ['b'] }, { id: 'e', deps: ['a'] }]);
    const run = await runJob(job, rec.body, { ...ENGINE, concurrency: 2 });
    expect(rec.started).toEqual(['a', 'b']);
    expect(run.stopped?.code).toBe('BUDGET_EXCEEDED');
    const by = Object.fromEntries(run.results.map((r) => [r.task_id, [r.status, r.error_code, r.attempts]]));
    expect(by).toEqual({
      a: ['completed', null, 1],
      // The refused call was not made: no attempt ran, and no retry is tried.
      b: ['cancelled', 'BUDGET_EXCEEDED', 0],
      c: ['cancelled', 'BUDGET_EXCEEDED', 0],
      d: ['cancelled', 'BUDGET_EXCEEDED', 0],
      e: ['cancelled', 'BUDGET_EXCEEDED', 0],
    });
  });

  it('wakes a task waiting to retry and ends it with the budget\'s code', async () => {
    let calls = 0;
    const rec = recordingBody(async (id) => {
      if (id === 'flaky') throw new AltlasError('TASK_FAILED', 'try again');
      if (++calls === 1) await new Promise((r) => setTimeout(r, 20));
      throw over();
    });
    const job = makeJob([{ id: 'flaky', retries: 5 }, { id: 'spender' }]);
    const run = await runJob(job, rec.body, { ...ENGINE, retry: { baseMs: 60_000, maxMs: 60_000 }, random: () => 1 });
    expect(Object.fromEntries(run.results.map((r) => [r.task_id, [r.status, r.error_code]]))).toEqual({ flaky: ['cancelled', 'BUDGET_EXCEEDED'], spender: ['cancelled', 'BUDGET_EXCEEDED'] });
  });

  it('stops a 2.0 while loop that never ends at its budget, before LOOP_LIMIT', async () => {
    const { job } = decodeOk(readFileSync(join(ROOT, 'test', 'fixtures', 'budget', 'forever.alt.yaml')));
    let calls = 0;
    const rec = recordingBody(async (id) => {
      if (++calls > 7) throw over();
      return output(id);
    });
    const run = await runJob(job, rec.body, { ...ENGINE, limits: { maxIterations: 100 } });
    expect(run.stopped?.code).toBe('BUDGET_EXCEEDED');
    expect(run.results.filter((r) => r.status === 'completed' && r.task_id.endsWith('/ask'))).toHaveLength(7);
    expect(run.results.some((r) => r.error_code === 'LOOP_LIMIT')).toBe(false);
    expect(run.results.find((r) => r.task_id === 'spin')).toMatchObject({ status: 'cancelled', error_code: 'BUDGET_EXCEEDED' });
  });
});
