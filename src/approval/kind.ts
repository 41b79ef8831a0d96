/**
 * Approval tasks (our extension of the `.alt`): a task of kind `approval` (`task_type: approval`,
 * or `parameters.task_type: approval` in the runner form; a 2.0 segment's `task_type`) asks a
 * person its description (`description`, `content`) and waits for `altlas approve`. Its parameters:
 * `approval_timeout_s` (seconds; unset: no timeout) and `on_timeout` (`approve`, `reject` or `fail`,
 * default `fail`). Pure: the kind, the spec, the decoder's check (ALT_APPROVAL) and the output a
 * decision gives.
 */
import { AltlasError, type Problem } from '../errors.ts';
import type { Job, JobTask } from '../alt/job.ts';
import type { TaskOutput } from '../engine/types.ts';

export const APPROVAL_KIND = 'approval';
export const ON_TIMEOUT = ['approve', 'reject', 'fail'] as const;
export type OnTimeout = (typeof ON_TIMEOUT)[number];

/** What decided an approval: a person (approve or reject), or its timeout. */
export interface Decision {
  task: string;
  decision: 'approved' | 'rejected' | 'failed';
  comment: string | null;
  /** Who: `user@host` of the command, `dashboard`, or `timeout`. */
  by: string;
  decided_at: string;
}

const isApprovalKind = (k: unknown) => typeof k === 'string' && k.trim().toLowerCase() === APPROVAL_KIND;

/** True for a task of kind approval, wherever the kind is given. */
export function isApprovalTask(task: JobTask): boolean {
  return isApprovalKind(task.kind) || isApprovalKind(task.parameters.task_type);
}

/** The question, timeout and timeout action of an approval task (checked by the decoder). */
export function approvalSpec(task: JobTask): { question: string; timeoutS: number | null; onTimeout: OnTimeout } {
  const t = task.parameters.approval_timeout_s;
  const on = task.parameters.on_timeout;
  return {
    question: typeof task.parameters.prompt === 'string' && task.parameters.prompt.trim() ? task.parameters.prompt : task.text,
    timeoutS: typeof t === 'number' && t > 0 ? t : null,
    onTimeout: (ON_TIMEOUT as readonly unknown[]).includes(on) ? (on as OnTimeout) : 'fail',
  };
}

/** ALT_APPROVAL naming every approval task whose timeout or timeout action is not valid, or null. */
export function checkApprovals(job: Job): AltlasError | null {
  const listKey = job.source.form === 'runner' ? 'tasks' : 'segments';
  const problems: Problem[] = [];
  let first: string | null = null;
  job.tasks.forEach((t, i) => {
    if (!isApprovalTask(t)) return;
    const at = `/${listKey}/${i}/parameters`;
    const before = problems.length;
    const timeout = t.parameters.approval_timeout_s;
    if (timeout !== undefined && !(typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0)) problems.push({ pointer: `${at}/approval_timeout_s`, message: 'approval_timeout_s must be a positive number of seconds' });
    const on = t.parameters.on_timeout;
    if (on !== undefined && !(ON_TIMEOUT as readonly unknown[]).includes(on)) problems.push({ pointer: `${at}/on_timeout`, message: `on_timeout must be one of ${ON_TIMEOUT.join(', ')}` });
    if (on !== undefined && timeout === undefined) problems.push({ pointer: `${at}/on_timeout`, message: 'on_timeout needs approval_timeout_s' });
    if (problems.length > before) first ??= t.id;
  });
  if (first === null) return null;
  return new AltlasError('ALT_APPROVAL', `approval task ${first}: ${problems[0].message}`, { problems, context: { altId: job.id, taskId: first } });
}

/**
 * The output of an approved task: its text is JSON `{decision, comment, by, decided_at}`, so a 2.0
 * job reads `${<task>.decision}` and `${<task>.comment}`, and a 1.0 dependent gets it as context.
 */
export function approvedOutput(d: Decision): TaskOutput {
  return {
    text: JSON.stringify({ decision: d.decision, comment: d.comment, by: d.by, decided_at: d.decided_at }),
    model_used: APPROVAL_KIND, tokens_used: 0, processing_time_ms: 0,
  };
}
