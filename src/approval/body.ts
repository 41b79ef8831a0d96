/**
 * The body of approval tasks: wraps the AI task body. An approval task with a decision (its
 * job's resume) ends with it — approved: completed with the decision as its output; rejected:
 * APPROVAL_REJECTED; a timeout with on_timeout fail: APPROVAL_TIMEOUT — and one without parks its
 * job (JOB_PARKED: the engine starts nothing more, lets the running tasks finish, and the job is
 * parked). Every other task goes to the AI body.
 */
import { AltlasError } from '../errors.ts';
import type { TaskBody } from '../engine/types.ts';
import { approvalSpec, approvedOutput, isApprovalTask, type Decision } from './kind.ts';

/** What a run's context carries for approval tasks: the decisions of a resumed job. */
export interface ApprovalContext {
  approvals?: ReadonlyMap<string, Decision>;
}

export function withApprovals<C extends ApprovalContext | undefined>(body: TaskBody<C>): TaskBody<C> {
  return async (task, ctx) => {
    if (!isApprovalTask(task)) return body(task, ctx);
    const decision = ctx.context?.approvals?.get(ctx.key);
    const spec = approvalSpec(task);
    if (!decision) {
      throw new AltlasError('JOB_PARKED', `task ${ctx.key} waits for a person: ${spec.question}`, {
        context: { altId: ctx.job.id, taskId: ctx.key, question: spec.question, timeoutS: spec.timeoutS, onTimeout: spec.onTimeout },
      });
    }
    const why = `${decision.by === 'timeout' ? 'by its timeout' : `by ${decision.by}`}${decision.comment ? `: ${decision.comment}` : ''}`;
    if (decision.decision === 'approved') return approvedOutput(decision);
    if (decision.decision === 'rejected') throw new AltlasError('APPROVAL_REJECTED', `task ${ctx.key} was rejected ${why}`, { context: { taskId: ctx.key } });
    throw new AltlasError('APPROVAL_TIMEOUT', `task ${ctx.key} was not decided within ${spec.timeoutS ?? '?'} s (on_timeout: fail)`, { context: { taskId: ctx.key } });
  };
}
