/** Types shared by the engine, the AI side, job status and the `.last` builder. */
import type { ErrorCode } from '../errors.ts';
import type { Job, JobTask } from '../alt/job.ts';

export const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled', 'timeout'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** What an AI task produced: the original runner's output shape. */
export interface TaskOutput {
  text: string;
  model_used: string;
  /** Unsigned; 0 when the provider does not say. */
  tokens_used: number;
  processing_time_ms: number;
  [key: string]: unknown;
}

/** The result of one task instance, as it goes into `.last` `task_results` (keyed by `task_id`). */
export interface TaskResult {
  /** The instance key: the segment id at the top level, `loop[k]/segment` or `call/segment` inside constructs. */
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

/** What a task body gets for one attempt; `C` is the run's context (RunInput.context). */
export interface TaskContext<C = unknown> {
  job: Job;
  /** The instance key (the task id for 1.0 jobs). */
  key: string;
  attempt: number;
  signal: AbortSignal;
  /** Outputs of the dependencies, by instance key (a construct contributes the outputs of its instances). */
  dependencyOutputs: ReadonlyMap<string, TaskOutput>;
  /** The run's context (RunInput.context), when the run was given one. */
  context: C | undefined;
}

/**
 * Runs one attempt of one AI task. `task` carries the interpolated text and parameters. Throws an
 * AltlasError (anything else counts as TASK_FAILED).
 */
export type TaskBody<C = unknown> = (task: JobTask, ctx: TaskContext<C>) => Promise<TaskOutput>;

/** Events of a job's run, in order per instance: created, started, attempt_failed / retrying pairs, finished. */
export type TaskEvent =
  | { type: 'instance_created'; taskId: string; segmentId: string; kind: string; iteration: number | null; at: number; dependencies: string[]; owner: string | null }
  | { type: 'task_started'; taskId: string; attempt: number; at: number }
  | { type: 'attempt_failed'; taskId: string; attempt: number; code: ErrorCode; error: string; at: number }
  | { type: 'task_retrying'; taskId: string; attempt: number; delayMs: number; at: number }
  | { type: 'task_finished'; taskId: string; result: TaskResult; at: number; kind: string }
  | { type: 'task_resumed'; taskId: string; result: TaskResult; at: number }
  | { type: 'skipped'; segmentId: string; reason: string; at: number };

/** A member never instantiated, and why (listed in the `.last`'s `metadata.control_flow.skipped`). */
export interface Skipped {
  segment_id: string;
  reason: string;
}

/** An edge of the run's instance graph, by instance key. */
export interface RunEdge {
  source: string;
  target: string;
  dependency_type: 'required' | 'conditional';
}
