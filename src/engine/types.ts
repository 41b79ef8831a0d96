/** Types shared by the engine, the AI side and the `.last` builder. */
import type { ErrorCode } from '../errors.ts';
import type { Job, JobTask } from '../alt/job.ts';

export const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled', 'timeout'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** What an AI task produced: the original runner's output shape. */
export interface TaskOutput {
  text: string;
  model_used: string;
  tokens_used: number | null;
  processing_time_ms: number;
  [key: string]: unknown;
}

/** The result of one task, as it goes into `.last` `task_results`. */
export interface TaskResult {
  task_id: string;
  status: TaskStatus;
  /** RFC 3339, or null for a task that never started. */
  start_time: string | null;
  end_time: string | null;
  duration_ms: number;
  output: TaskOutput | null;
  error: string | null;
  error_code: ErrorCode | null;
  attempts: number;
  metadata: Record<string, unknown>;
}

/** What a task body gets: the job, the attempt (1-based), a signal that aborts it, the outputs of its dependencies. */
export interface TaskContext {
  job: Job;
  attempt: number;
  signal: AbortSignal;
  dependencyOutputs: ReadonlyMap<string, TaskOutput>;
}

/** Runs one attempt of one task. Throws an AltlasError (or anything: it counts as TASK_FAILED). */
export type TaskBody = (task: JobTask, ctx: TaskContext) => Promise<TaskOutput>;

/** Events of a task's life, in order: started, then attempt_failed and retrying pairs, then finished. */
export type TaskEvent =
  | { type: 'task_started'; taskId: string; attempt: number; at: number }
  | { type: 'attempt_failed'; taskId: string; attempt: number; code: ErrorCode; error: string; at: number }
  | { type: 'task_retrying'; taskId: string; attempt: number; delayMs: number; at: number }
  | { type: 'task_finished'; taskId: string; result: TaskResult; at: number };
