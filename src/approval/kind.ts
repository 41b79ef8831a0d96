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
