/**
 * The canonical job: the one model every `.alt` form is normalised into, and that the engine runs.
 * Wire-derived fields keep their snake_case spelling.
 */

/** The forms of `.alt` the decoder reads. */
export const ALT_FORMS = {
  runner: ['1.0'],
  segmentation: ['1.0'],
  enhanced: ['2.0'],
} as const;
export type AltForm = keyof typeof ALT_FORMS;

export const MODES = ['normal', 'dream', 'explore', 'chaos'] as const;
export type Mode = (typeof MODES)[number];

/** Priorities, highest first (the engine's ready order). */
export const PRIORITIES = ['critical', 'high', 'medium', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const TASK_INPUT_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export type TaskInputStatus = (typeof TASK_INPUT_STATUSES)[number];

/** The 2.0 control-flow parts of a segment, kept as they were written. */
export interface ControlFlow {
  condition?: Record<string, unknown>;
  loop?: Record<string, unknown>;
  function_def?: Record<string, unknown>;
  function_call?: Record<string, unknown>;
  variables?: readonly Record<string, unknown>[];
}

/** One task of a canonical job. */
export interface JobTask {
  id: string;
  /** The text of the step: the runner form's `description`, the segmentation form's `content`. */
  text: string;
  /** Free-text kind (segmentation `task_type`, runner `task_type` or `parameters.task_type`), or null. */
  kind: string | null;
  dependencies: string[];
  parameters: Record<string, unknown>;
  /** Seconds; the task field, else `parameters.timeout_seconds`, else null (the engine's default). */
  timeout_seconds: number | null;
  retry_count: number | null;
  priority: Priority | null;
  tags: string[];
  status: TaskInputStatus | null;
  metadata: Record<string, unknown>;
  control: ControlFlow | null;
}

/** A job's budget (metadata.budget, altlas-runner's extension): null where it sets none. */
export interface JobBudget {
  /** Input and output tokens of all its AI calls. */
  tokens: number | null;
  /** Money, in the price table's currency. */
  cost: number | null;
}

/** A canonical job, whatever form it came in. */
export interface Job {
  id: string;
  source: { form: AltForm; version: string };
  /** RFC 3339 in UTC (a timestamp without a zone is read as UTC). */
  created_at: string;
  title: string;
  description: string | null;
  mode: Mode;
  persona: string | null;
  priority: Priority;
  tags: string[];
  expected_completion_time: number | null;
  chaos_level: number | null;
  language: string | null;
  command: string | null;
  metadata: Record<string, unknown>;
  tasks: JobTask[];
  /** 2.0 only: file-level variables and functions, kept as written; empty otherwise. */
  global_variables: Record<string, unknown>[];
  functions: Record<string, unknown>[];
  /** metadata.budget (checked by the schema); absent or null: none. */
  budget?: JobBudget | null;
}

/** A non-fatal finding of the decoder (the original's warnings). */
export interface DecodeWarning {
  code: string;
  pointer: string;
  message: string;
}
