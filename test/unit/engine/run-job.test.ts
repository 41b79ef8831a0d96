import { afterEach, describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { AltlasError } from '../../../src/errors.ts';
import { runJob } from '../../../src/engine/run-job.ts';
import { checkKinds, kindSkeleton } from '../../../src/alt/kinds.ts';
import type { TaskEvent, TaskResult } from '../../../src/engine/types.ts';
import { ENGINE, deferred, makeJob, output, recordingBody } from '../../helpers/engine.ts';

afterEach(() => {
  jest.useRealTimers();
});

const never = (signal: AbortSignal) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
const byId = (results: TaskResult[]) => Object.fromEntries(results.map((r) => [r.task_id, r]));

describe('runJob', () => {
  it('starts ready tasks by priority, then file order, and each after its dependencies', async () => {
    const job = makeJob([
      { id: 'low', priority: 'low' }, { id: 'med' }, { id: 'crit', priority: 'critical' }, { id: 'high', priority: 'high' },
      { id: 'after-low', deps: ['low'], priority: 'critical' },
    ]);
    const rec = recordingBody();
    const run = await runJob(job, rec.body, { ...ENGINE, concurrency: 1 });
    expect(rec.started).toEqual(['crit', 'high', 'med', 'low', 'after-low']);
    expect(run.results.map((r) => r.status)).toEqual(['completed', 'completed', 'completed', 'completed', 'completed']);
    expect(run.stopped).toBeNull();
  });

  it('runs at most `concurrency` tasks at once', async () => {
    const job = makeJob(Array.from({ length: 10 }, (_, i) => ({ id: `t${i}` })));
    const gates = new Map<string, ReturnType<typeof deferred<void>>>();
    const rec = recordingBody(async (id) => {
      const g = deferred<void>();
      gates.set(id, g);
      await g.promise;
      return output(id);
    });
    const done = runJob(job, rec.body, { ...ENGINE, concurrency: 3 });
    for (let i = 0; i < 10; i++) {
      while (!gates.has(`t${i}`)) await new Promise((r) => setImmediate(r));
      expect(rec.maxRunning).toBeLessThanOrEqual(3);
      gates.get(`t${i}`)!.resolve();
    }
    const run = await done;
    expect(rec.maxRunning).toBe(3);
    expect(run.results.every((r) => r.status === 'completed')).toBe(true);
  });

  it('gives dependency outputs to the dependents', async () => {
    const seen: string[][] = [];
    const job = makeJob([{ id: 'a' }, { id: 'b' }, { id: 'c', deps: ['a', 'b'] }]);
    await runJob(job, async (task, ctx) => {
      seen.push([task.id, ...[...ctx.dependencyOutputs].map(([id, o]) => `${id}=${o.text}`)]);
      return output(`out-${task.id}`);
    }, ENGINE);
    expect(seen).toContainEqual(['c', 'a=out-a', 'b=out-b']);
  });

  it('times out an attempt after the task timeout and ends it timeout', async () => {
    jest.useFakeTimers();
    const job = makeJob([{ id: 'slow', timeout: 2 }]);
    const done = runJob(job, async (_t, ctx) => never(ctx.signal), ENGINE);
    await jest.advanceTimersByTimeAsync(1999);
    let settled = false;
    void done.then(() => (settled = true));
    await jest.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    const run = await done;
    expect(run.results[0]).toMatchObject({ status: 'timeout', error_code: 'TASK_TIMEOUT', attempts: 1, duration_ms: 2000 });
  });

  it('uses the configured default timeout when the task has none', async () => {
    jest.useFakeTimers();
    const done = runJob(makeJob([{ id: 'x' }]), async (_t, ctx) => never(ctx.signal), { ...ENGINE, defaultTimeoutS: 7 });
    await jest.advanceTimersByTimeAsync(7000);
    expect((await done).results[0]).toMatchObject({ status: 'timeout', duration_ms: 7000 });
  });

  it('retries a failed attempt retry_count times with backoff, emitting events in order', async () => {
    jest.useFakeTimers();
    const events: TaskEvent[] = [];
    const job = makeJob([{ id: 'flaky', retries: 3 }]);
    const done = runJob(job, async (_t, ctx) => {
      if (ctx.attempt < 3) throw new AltlasError('AI_BAD_RESPONSE', `bad ${ctx.attempt}`);
      return output('finally');
    }, { ...ENGINE, onEvent: (e) => events.push(e) });
    await jest.advanceTimersByTimeAsync(49);
    expect(events.map((e) => e.type)).toEqual(['task_started', 'attempt_failed', 'task_retrying']);
    await jest.advanceTimersByTimeAsync(1000);
    const run = await done;
    expect(run.results[0]).toMatchObject({ status: 'completed', attempts: 3, output: { text: 'finally' } });
    expect(events.map((e) => e.type)).toEqual(['task_started', 'attempt_failed', 'task_retrying', 'attempt_failed', 'task_retrying', 'task_finished']);
    // Full jitter with random() = 0.5: half of 100 ms, then half of 200 ms.
    expect(events.filter((e) => e.type === 'task_retrying').map((e) => (e as { delayMs: number }).delayMs)).toEqual([50, 100]);
  });

  it('retries a timed-out attempt, and never waits past the task deadline', async () => {
    jest.useFakeTimers();
    const job = makeJob([{ id: 'a', timeout: 1, retries: 5 }]);
    const starts: number[] = [];
    const done = runJob(job, async (_t, ctx) => {
      starts.push(Date.now());
      return never(ctx.signal);
    }, { ...ENGINE, retry: { baseMs: 900, maxMs: 900 }, random: () => 0.999 });
    await jest.advanceTimersByTimeAsync(60_000);
    const run = await done;
    expect(run.results[0].status).toBe('timeout');
    // Deadline = 6 attempts × 1 s; each cycle takes 1 s + 899 ms, so only 4 attempts fit.
    expect(starts.length).toBe(4);
    expect(run.results[0].duration_ms).toBeLessThanOrEqual(6000);
  });

  it.each(['AI_REJECTED', 'AI_RESPONSE_TOO_LARGE'] as const)('does not retry a task that failed with %s (a retry repeats the refusal, or pays again for an answer past the cap)', async (code) => {
    const rec = recordingBody(async () => {
      throw new AltlasError(code, 'no');
    });
    const run = await runJob(makeJob([{ id: 'a', retries: 5 }]), rec.body, ENGINE);
    expect(run.results[0]).toMatchObject({ status: 'failed', error_code: code, attempts: 1 });
  });

  it('cancels the transitive dependents of a failed task, and runs the rest', async () => {
    const job = makeJob([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c', deps: ['b'] }, { id: 'd' }, { id: 'e', deps: ['d', 'c'] }]);
    const run = await runJob(job, async (task) => {
      if (task.id === 'a') throw new Error('boom');
      return output(task.id);
    }, ENGINE);
    const r = byId(run.results);
    expect(r.a).toMatchObject({ status: 'failed', error: 'boom', error_code: 'TASK_FAILED' });
    for (const id of ['b', 'c', 'e']) {
      expect(r[id]).toMatchObject({ status: 'cancelled', error: 'Cancelled due to dependency failure: a', error_code: 'TASK_CANCELLED', start_time: null });
    }
    expect(r.d.status).toBe('completed');
  });

  it('ends an attempt at its timeout, and aborts the signal its body was given, whether or not the body listens', async () => {
    jest.useFakeTimers();
    let given: AbortSignal | undefined;
    const done = runJob(makeJob([{ id: 'deaf', timeout: 2 }]), async (_t, ctx) => {
      given = ctx.signal;
      return new Promise<never>(() => {});
    }, ENGINE);
    await jest.advanceTimersByTimeAsync(2000);
    const run = await done;
    expect(run.results[0]).toMatchObject({ status: 'timeout', error_code: 'TASK_TIMEOUT', duration_ms: 2000 });
    expect((given?.reason as AltlasError | undefined)?.code).toBe('TASK_TIMEOUT');
  });

  it('ends the attempts running at the stop of their job at once, and aborts their signals, whether or not their bodies listen', async () => {
    const controller = new AbortController();
    const started = deferred<void>();
    const given: AbortSignal[] = [];
    const done = runJob(makeJob([{ id: 'a', timeout: 600 }, { id: 'b', timeout: 600 }]), async (_t, ctx) => {
      given.push(ctx.signal);
      if (given.length === 2) started.resolve();
      return new Promise<never>(() => {});
    }, ENGINE, controller.signal);
    await started.promise;
    controller.abort();
    const run = await Promise.race([done, new Promise<null>((r) => setTimeout(() => r(null), 2_000).unref())]);
    expect(run?.stopped?.code).toBe('JOB_ABORTED');
    expect(run?.results.map((r) => [r.status, r.error_code])).toEqual([['cancelled', 'JOB_ABORTED'], ['cancelled', 'JOB_ABORTED']]);
    expect(given.map((s) => (s.reason as AltlasError).code)).toEqual(['JOB_ABORTED', 'JOB_ABORTED']);
  });

  it('stops the whole job on abort and reports aborted tasks as such, not as failures', async () => {
    const controller = new AbortController();
    const job = makeJob([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c' }]);
    const cDone = deferred<void>();
    const done = runJob(job, async (task, ctx) => {
      if (task.id === 'c') return output('c');
      return never(ctx.signal);
    }, { ...ENGINE, onEvent: (e) => e.type === 'task_finished' && e.taskId === 'c' && cDone.resolve() }, controller.signal);
    await cDone.promise;
    controller.abort();
    const run = await done;
    const r = byId(run.results);
    expect(run.stopped?.code).toBe('JOB_ABORTED');
    expect(r.a).toMatchObject({ status: 'cancelled', error_code: 'JOB_ABORTED' });
    expect(r.b).toMatchObject({ status: 'cancelled', error_code: 'JOB_ABORTED' });
    expect(r.c.status).toBe('completed');
  });

  it('stops the job with the transient error when the AI side is unavailable', async () => {
    const job = makeJob([{ id: 'a' }, { id: 'b' }, { id: 'c', deps: ['a'] }]);
    const run = await runJob(job, async (task, ctx) => {
      if (task.id === 'a') throw new AltlasError('AI_UNAVAILABLE', 'breaker open');
      return never(ctx.signal);
    }, ENGINE);
    expect(run.stopped?.code).toBe('AI_UNAVAILABLE');
    expect(byId(run.results).a).toMatchObject({ status: 'failed', error_code: 'AI_UNAVAILABLE' });
    // What the stop cut short, or never started, carries the stop's code; a stopped job propagates no failure.
    expect(byId(run.results).b).toMatchObject({ status: 'cancelled', error_code: 'AI_UNAVAILABLE' });
    expect(byId(run.results).c).toMatchObject({ status: 'cancelled', error_code: 'AI_UNAVAILABLE', error: 'Not run: the job stopped (AI_UNAVAILABLE)' });
  });

  it('wakes a task waiting to retry when another task drains the job (a budget stop), without waiting out its backoff', async () => {
    const job = makeJob([{ id: 'a', retries: 1 }, { id: 'b' }]);
    const aFailed = deferred<void>();
    const started = Date.now();
    const run = await runJob(job, async (task) => {
      if (task.id === 'a') throw new Error('a fails once');
      await aFailed.promise;
      throw new AltlasError('BUDGET_EXCEEDED', 'the job budget is spent');
    }, { ...ENGINE, retry: { baseMs: 60_000, maxMs: 60_000 }, onEvent: (e) => e.type === 'task_retrying' && e.taskId === 'a' && aFailed.resolve() });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(run.stopped?.code).toBe('BUDGET_EXCEEDED');
    expect(byId(run.results).a).toMatchObject({ status: 'cancelled', error_code: 'BUDGET_EXCEEDED', attempts: 1, error: 'Not run: the job budget is spent' });
  });

  it('does not run tasks completed in an earlier delivery, and keeps their results', async () => {
    const job = makeJob([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
    const earlier: TaskResult = { task_id: 'a', status: 'completed', start_time: '2025-01-01T00:00:00.000Z', end_time: '2025-01-01T00:00:01.000Z', duration_ms: 1000, output: output('old-a'), error: null, error_code: null, attempts: 1, metadata: {} };
    const rec = recordingBody(async (id) => output(id));
    const seen: string[] = [];
    const run = await runJob(job, async (task, ctx) => {
      seen.push([...ctx.dependencyOutputs.values()].map((o) => o.text).join());
      return rec.body(task, ctx);
    }, { ...ENGINE, completed: new Map([['a', earlier]]) });
    expect(rec.started).toEqual(['b']);
    expect(seen).toEqual(['old-a']);
    expect(run.results[0]).toBe(earlier);
    expect(run.resumed).toEqual(['a']);
  });

  it('is deterministic for the same inputs', async () => {
    const job = makeJob(Array.from({ length: 30 }, (_, i) => ({ id: `t${i}`, deps: i > 2 ? [`t${i % 3}`, `t${i - 2}`] : [], priority: (['low', 'high', 'medium'] as const)[i % 3] })));
    const runs = await Promise.all([1, 2].map(async () => {
      const rec = recordingBody(async (id) => {
        if (id === 't7') throw new Error('x');
        return output(id);
      });
      const run = await runJob(job, rec.body, { ...ENGINE, concurrency: 2 });
      return { order: rec.started, statuses: run.results.map((r) => r.status) };
    }));
    expect(runs[0]).toEqual(runs[1]);
  });

  it('gives every task exactly one result and starts none before its dependencies completed (random graphs)', async () => {
    const graphs = fc.integer({ min: 1, max: 25 }).chain((n) => fc.tuple(
      fc.tuple(...Array.from({ length: n }, (_, i) => fc.uniqueArray(fc.nat({ max: Math.max(0, i - 1) }), { maxLength: i === 0 ? 0 : Math.min(i, 3) }))),
      fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      fc.integer({ min: 1, max: 5 }),
    ));
    await fc.assert(fc.asyncProperty(graphs, async ([deps, fails, concurrency]) => {
      const job = makeJob(deps.map((d, i) => ({ id: `t${i}`, deps: d.map((j) => `t${j}`) })));
      const finished = new Map<string, string>();
      const run = await runJob(job, async (task) => {
        for (const d of task.dependencies) expect(finished.get(d)).toBe('completed');
        await new Promise((r) => setImmediate(r));
        if (fails[Number(task.id.slice(1))]) throw new Error('fail');
        return output(task.id);
      }, { ...ENGINE, concurrency, onEvent: (e) => e.type === 'task_finished' && finished.set(e.taskId, e.result.status) });
      expect(run.results.map((r) => r.task_id)).toEqual(job.tasks.map((t) => t.id));
      expect(finished.size).toBe(job.tasks.length);
      for (const [i, t] of job.tasks.entries()) {
        const r = run.results[i];
        const depOk = t.dependencies.every((d) => run.results.find((x) => x.task_id === d)!.status === 'completed');
        if (!depOk) expect(r.status).toBe('cancelled');
        else expect(r.status).toBe(fails[i] ? 'failed' : 'completed');
      }
    }), { numRuns: 200 });
  });
});

describe('task kinds', () => {
  it('refuses kinds that would act on the host, in both places a kind can be given, however they are spelled', () => {
    const variants = ['system_command', ' system_command', 'system_command\n', 'system\u200b_command', 'System-Command', 'ＳＹＳＴＥＭ_COMMAND', 'file operation'];
    for (const kind of variants) {
      expect({ kind, code: checkKinds(makeJob([{ id: 'a' }, { id: 'b', kind }]))?.code }).toEqual({ kind, code: 'TASK_KIND_FORBIDDEN' });
      const viaParameters = makeJob([{ id: 'a' }]);
      viaParameters.tasks[0].parameters = { task_type: kind };
      expect({ kind, code: checkKinds(viaParameters)?.code }).toEqual({ kind, code: 'TASK_KIND_FORBIDDEN' });
    }
    expect(kindSkeleton(' System-Command\u200b\n')).toMatchObject({ words: ['systern', 'cornrnand'], ascii: true });
  });

  it('names every offending task with its pointer', () => {
    const e = checkKinds(makeJob([{ id: 'a' }, { id: 'b', kind: 'system_command' }]));
    expect(e?.problems).toEqual([{ pointer: '/tasks/1', message: 'task b has the forbidden kind system_command' }]);
  });

  it('lets plain jobs through', () => {
    expect(checkKinds(makeJob([{ id: 'a', kind: 'analyze' }]))).toBeNull();
  });
});
