/**
 * Approval tasks (our extension of the `.alt`): the decision a person (or a timeout) gives, and the
 * output an approval gives its task. The kind, its parameters and the decoder's check are in
 * alt/extensions.ts.
 */
import type { TaskOutput } from '../engine/types.ts';
import { APPROVAL_KIND } from '../alt/extensions.ts';

export { APPROVAL_KIND, ON_TIMEOUT, approvalSpec, checkApprovals, isApprovalTask, type OnTimeout } from '../alt/extensions.ts';

/** What decided an approval: a person (approve or reject), or its timeout. */
export interface Decision {
  task: string;
  decision: 'approved' | 'rejected' | 'failed';
  comment: string | null;
  /** Who: `user@host` of the command, `dashboard`, or `timeout`. */
  by: string;
  decided_at: string;
  /** The job it decides (written since decisions are checked against their key; older ones lack it). */
  alt_id?: string;
}

/**
 * A decision of task `task` of job `altId` as `altlas approve` writes it. A value that got under
 * a decision's key another way (the JetStream API's answer to a request whose reply subject named
 * it, another job's decision copied there) is none.
 */
export function isDecisionOf(v: unknown, altId: string, task: string): v is Decision {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const d = v as Record<string, unknown>;
  return d.task === task && (d.decision === 'approved' || d.decision === 'rejected' || d.decision === 'failed') && typeof d.by === 'string'
    && typeof d.decided_at === 'string' && (d.comment === null || typeof d.comment === 'string') && (d.alt_id === undefined || d.alt_id === altId);
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
