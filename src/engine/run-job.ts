/** `runJob`: one run with a one-off {@link Engine} (tests, benchmarks and tools that need no observers kept). */
import type { Job } from '../alt/job.ts';
import { Engine, type EngineOptions, type JobRun } from './engine.ts';
import type { TaskBody, TaskEvent, TaskResult } from './types.ts';

export type { JobRun } from './engine.ts';

export interface RunJobOptions extends Omit<EngineOptions<unknown>, 'body'> {
  onEvent?: (event: TaskEvent) => void;
  /** Results of instances completed earlier: they are not run again. */
  completed?: ReadonlyMap<string, TaskResult>;
}

/** Runs `job` with `body` as the AI task body; never rejects. `signal` aborts the whole job. */
export function runJob<C>(job: Job, body: TaskBody<C>, options: RunJobOptions, signal?: AbortSignal): Promise<JobRun> {
  const engine = new Engine<C>({ ...options, body });
  if (options.onEvent) engine.observe((e) => options.onEvent!(e));
  return engine.run(job, { signal, resume: options.completed });
}
