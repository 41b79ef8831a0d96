/** Helpers for engine tests: jobs from compact specs, and recording task bodies. */
import type { Job, JobTask, Priority } from '../../src/alt/job.ts';
import type { RunJobOptions as EngineOptions } from '../../src/engine/run-job.ts';
import type { TaskBody, TaskOutput } from '../../src/engine/types.ts';

export interface Spec {
  id: string;
  deps?: string[];
  priority?: Priority;
  timeout?: number;
  retries?: number;
  kind?: string;
}

export function makeJob(specs: Spec[], extra: Partial<Job> = {}): Job {
  return {
    id: 'job-1', source: { form: 'runner', version: '1.0' }, created_at: '2025-01-01T00:00:00.000Z', title: 'Test',
    description: null, mode: 'normal', persona: null, priority: 'medium', tags: [], expected_completion_time: null,
    chaos_level: null, language: null, command: null, metadata: {}, global_variables: [], functions: [],
    tasks: specs.map((s): JobTask => ({
      id: s.id, text: `do ${s.id}`, kind: s.kind ?? null, dependencies: s.deps ?? [], parameters: {},
      timeout_seconds: s.timeout ?? null, retry_count: s.retries ?? null, priority: s.priority ?? null, tags: [],
      status: null, metadata: {}, control: null,
    })),
    ...extra,
  };
}

export const output = (text: string): TaskOutput => ({ text, model_used: 'm', tokens_used: 1, processing_time_ms: 0 });

export const ENGINE: EngineOptions = { concurrency: 4, defaultTimeoutS: 60, retry: { baseMs: 100, maxMs: 1000 }, random: () => 0.5 };

/** A body that records start order and the largest number running at once. */
export function recordingBody(impl: (id: string, attempt: number, signal: AbortSignal) => Promise<TaskOutput> = async (id) => output(id)) {
  const started: string[] = [];
  let running = 0;
  let maxRunning = 0;
  const body: TaskBody = async (task, ctx) => {
    started.push(task.id);
    running++;
    maxRunning = Math.max(maxRunning, running);
    try {
      return await impl(task.id, ctx.attempt, ctx.signal);
    } finally {
      running--;
    }
  };
  return { body, started, get maxRunning() { return maxRunning; } };
}

/** A promise with its resolve and reject. */
export function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
