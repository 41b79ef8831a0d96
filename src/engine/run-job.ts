/**
 * Runs one canonical job's task graph: a task starts once all its dependencies completed, at most
 * `concurrency` at once, ready tasks by priority then file order; per-attempt timeouts, retries
 * with backoff inside the task's deadline, cancellation of the dependents of a failed task, and
 * an AbortSignal that stops the whole job.
 */
import { AltlasError, toAltlasError, type ErrorCode } from '../errors.ts';
import type { Job, JobTask } from '../alt/job.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { ReadyQueue } from './ready-queue.ts';
import type { TaskBody, TaskEvent, TaskOutput, TaskResult } from './types.ts';

export interface EngineOptions {
  /** Tasks of the job running at once (RUNNER_TASK_CONCURRENCY, default 4). */
  concurrency: number;
  /** Seconds per attempt when the task does not say (RUNNER_TASK_TIMEOUT_S, default 300). */
  defaultTimeoutS: number;
  /** Delays between attempts (RUNNER_TASK_RETRY_BASE_MS / _MAX_MS). */
  retry: BackoffOptions;
  /** Source of jitter in [0, 1); default Math.random. */
  random?: () => number;
  /** Clock in epoch milliseconds; default Date.now. */
  now?: () => number;
  onEvent?: (event: TaskEvent) => void;
  /** Results of tasks completed in an earlier delivery: they are not run again. */
  completed?: ReadonlyMap<string, TaskResult>;
  /** Awaited after each task completes, before its dependents start (checkpoints). */
  onTaskCompleted?: (result: TaskResult) => Promise<void>;
}

/** What a run of a job gives back: a result for every task, in file order. */
export interface JobRun {
  startMs: number;
  endMs: number;
  results: TaskResult[];
  /** Why the job stopped before its end (JOB_ABORTED, or a transient error such as AI_UNAVAILABLE), else null. */
  stopped: AltlasError | null;
  /** Ids of the tasks taken from `completed` instead of being run. */
  resumed: string[];
}

/** Errors a retry of the same task cannot mend. */
const NOT_RETRYABLE: readonly ErrorCode[] = ['AI_REJECTED', 'TASK_KIND_FORBIDDEN'];

type Attempt =
  | { kind: 'ok'; output: TaskOutput }
  | { kind: 'failed' | 'timeout' | 'transient'; error: AltlasError }
  | { kind: 'aborted' };

const iso = (ms: number) => new Date(ms).toISOString();

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Resolves with the body's result, or rejects as soon as the signal aborts (whether or not the body listens). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Runs the job; never rejects. `signal` aborts the whole job (shutdown). */
export function runJob(job: Job, body: TaskBody, options: EngineOptions, signal?: AbortSignal): Promise<JobRun> {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const emit = options.onEvent ?? (() => {});
  const tasks = job.tasks;
  const index = new Map(tasks.map((t, i) => [t.id, i]));
  const dependents: number[][] = tasks.map(() => []);
  const waitingOn = tasks.map((t, i) => {
    const deps = [...new Set(t.dependencies)];
    deps.forEach((d) => dependents[index.get(d)!].push(i));
    return deps.length;
  });
  const results: (TaskResult | undefined)[] = new Array(tasks.length);
  const outputs = new Map<string, TaskOutput>();
  const ready = new ReadyQueue();
  const jobAbort = new AbortController();
  const startMs = now();
  const resumed: string[] = [];
  let running = 0;
  let stopped: AltlasError | null = null;

  const stop = (reason: AltlasError) => {
    if (stopped) return;
    stopped = reason;
    jobAbort.abort(reason);
  };
  const onExternalAbort = () => stop(new AltlasError('JOB_ABORTED', 'the job was stopped before it finished', { context: { altId: job.id } }));
  if (signal?.aborted) onExternalAbort();
  else signal?.addEventListener('abort', onExternalAbort, { once: true });

  const queued = new Array<boolean>(tasks.length).fill(false);
  const enqueue = (i: number) => {
    if (queued[i] || results[i]) return;
    queued[i] = true;
    ready.push(i, tasks[i].priority ?? job.priority);
  };
  const release = (i: number) => {
    for (const k of dependents[i]) if (--waitingOn[k] === 0) enqueue(k);
  };
  const cancelDependents = (i: number) => {
    const failedId = tasks[i].id;
    const queue = [...dependents[i]];
    while (queue.length) {
      const k = queue.shift()!;
      if (results[k]) continue;
      results[k] = {
        task_id: tasks[k].id, status: 'cancelled', start_time: null, end_time: null, duration_ms: 0, output: null,
        error: `Cancelled due to dependency failure: ${failedId}`, error_code: 'TASK_CANCELLED', attempts: 0, metadata: {},
      };
      emit({ type: 'task_finished', taskId: tasks[k].id, result: results[k]!, at: now() });
      queue.push(...dependents[k]);
    }
  };

  // Tasks completed in an earlier delivery count as done, with their original results.
  for (const [i, t] of tasks.entries()) {
    const earlier = options.completed?.get(t.id);
    if (earlier?.status !== 'completed' || !earlier.output) continue;
    results[i] = earlier;
    outputs.set(t.id, earlier.output);
    resumed.push(t.id);
  }
  for (const id of resumed) release(index.get(id)!);
  tasks.forEach((_t, i) => {
    if (waitingOn[i] === 0) enqueue(i);
  });

  const attemptOnce = async (task: JobTask, attempt: number, timeoutMs: number): Promise<Attempt> => {
    // One controller per attempt, aborted by the job's abort or by the attempt's timer.
    const attemptAbort = new AbortController();
    const onJobAbort = () => attemptAbort.abort(jobAbort.signal.reason);
    jobAbort.signal.addEventListener('abort', onJobAbort, { once: true });
    let timedOut = false;
    const handle = setTimeout(() => {
      timedOut = true;
      attemptAbort.abort(new AltlasError('TASK_TIMEOUT', `task ${task.id} timed out after ${timeoutMs} ms`, { context: { altId: job.id, taskId: task.id, attempt } }));
    }, timeoutMs);
    const signal = attemptAbort.signal;
    const dependencyOutputs = new Map(task.dependencies.map((d) => [d, outputs.get(d)!]));
    try {
      const output = await raceAbort(Promise.resolve().then(() => body(task, { job, attempt, signal, dependencyOutputs })), signal);
      return { kind: 'ok', output };
    } catch (e) {
      if (jobAbort.signal.aborted) return { kind: 'aborted' };
      if (timedOut) return { kind: 'timeout', error: signal.reason as AltlasError };
      const error = e instanceof AltlasError ? e : new AltlasError('TASK_FAILED', e instanceof Error ? e.message : String(e), { cause: e });
      return { kind: error.fate === 'retry' ? 'transient' : 'failed', error };
    } finally {
      clearTimeout(handle);
      jobAbort.signal.removeEventListener('abort', onJobAbort);
    }
  };

  const runTask = async (i: number): Promise<TaskResult> => {
    const task = tasks[i];
    const timeoutMs = (task.timeout_seconds || options.defaultTimeoutS) * 1000;
    const attempts = 1 + (task.retry_count ?? 0);
    const start = now();
    const deadline = start + timeoutMs * attempts;
    const base = { task_id: task.id, start_time: iso(start), metadata: {} as Record<string, unknown> };
    const end = (status: TaskResult['status'], attempt: number, extra: Partial<TaskResult>): TaskResult => {
      const t = now();
      return { ...base, status, end_time: iso(t), duration_ms: t - start, output: null, error: null, error_code: null, attempts: attempt, ...extra };
    };
    emit({ type: 'task_started', taskId: task.id, attempt: 1, at: start });
    for (let attempt = 1; ; attempt++) {
      const outcome = await attemptOnce(task, attempt, Math.max(1, Math.min(timeoutMs, deadline - now())));
      if (outcome.kind === 'ok') return end('completed', attempt, { output: outcome.output });
      if (outcome.kind === 'aborted') return end('cancelled', attempt, { error: `Aborted: ${(stopped as AltlasError | null)?.message ?? 'the job stopped'}`, error_code: 'JOB_ABORTED' });
      const { error } = outcome;
      if (outcome.kind === 'transient') {
        stop(error);
        return end('failed', attempt, { error: error.message, error_code: error.code });
      }
      emit({ type: 'attempt_failed', taskId: task.id, attempt, code: error.code, error: error.message, at: now() });
      const finalStatus = outcome.kind === 'timeout' ? 'timeout' : 'failed';
      const delay = backoffDelay(attempt, options.retry, random);
      if (attempt >= attempts || NOT_RETRYABLE.includes(error.code) || now() + delay >= deadline) {
        return end(finalStatus, attempt, { error: error.message, error_code: error.code });
      }
      emit({ type: 'task_retrying', taskId: task.id, attempt: attempt + 1, delayMs: delay, at: now() });
      try {
        await sleep(delay, jobAbort.signal);
      } catch {
        return end('cancelled', attempt, { error: 'Aborted: the job stopped', error_code: 'JOB_ABORTED' });
      }
    }
  };

  return new Promise<JobRun>((resolve) => {
    const finalize = () => {
      signal?.removeEventListener('abort', onExternalAbort);
      const final = stopped as AltlasError | null;
      const all = tasks.map((t, i) => results[i] ?? {
        task_id: t.id, status: 'cancelled' as const, start_time: null, end_time: null, duration_ms: 0, output: null,
        error: `Not run: the job stopped (${final?.code ?? 'JOB_ABORTED'})`, error_code: 'JOB_ABORTED' as const, attempts: 0, metadata: {},
      });
      resolve({ startMs, endMs: now(), results: all, stopped: final, resumed });
    };
    const pump = () => {
      while (!stopped && running < options.concurrency && ready.size > 0) {
        const i = ready.shift()!;
        running++;
        void runTask(i).then(async (result) => {
          results[i] = result;
          if (result.status === 'completed' && result.output) {
            outputs.set(tasks[i].id, result.output);
            try {
              await options.onTaskCompleted?.(result);
            } catch (e) {
              stop(toAltlasError(e));
            }
          }
          emit({ type: 'task_finished', taskId: tasks[i].id, result, at: now() });
          if (result.status === 'completed') release(i);
          else if (result.status !== 'cancelled' || result.error_code !== 'JOB_ABORTED') cancelDependents(i);
          running--;
          pump();
        });
      }
      if (running === 0 && (stopped || ready.size === 0)) finalize();
    };
    pump();
  });
}
