/**
 * A job whose tenant is over a period's budget (BUDGET_TENANT_EXCEEDED=wait, code BUDGET_WAIT)
 * parks until the period turns, as a job at an approval task does (approval/park.ts): what it
 * completed, its body and a park record (`reason: budget`, `resume_at`) are stored, then its
 * message is acked. The workers' sweep resumes it once the period turned, and a resumed run that
 * finds the tenant still over parks it again. So the wait spends no delivery of any message and
 * holds no worker: each waiting job is pulled once when it arrives and once per period turn.
 */
import type { Job } from '../alt/job.ts';
import type { TaskResult } from '../engine/types.ts';
import { NO_TENANT } from '../flow/lanes.ts';
import type { ParkRecord, ParkStore } from '../approval/park.ts';
import type { DeliveryInfo } from '../contract/delivery.ts';
import type { Outcome } from './settle.ts';

export interface BudgetParkInput {
  altId: string;
  tenant: string | null;
  /** Epoch ms when the tenant's period turns. */
  resumeAt: number;
  /** The task whose call was refused; empty when the job was parked before it ran. */
  task: string;
  d: DeliveryInfo;
  results: readonly TaskResult[];
  /** The park this run resumed from (its records go once the new one is stored). */
  from: ParkRecord | null;
  job: Job;
}

/** The status message of a job waiting for its tenant's budget: says until when. */
export const budgetWaitMessage = (tenant: string | null, resumeAt: number) =>
  `tenant ${tenant ?? NO_TENANT} is over a period's budget: the job waits, parked, until ${new Date(resumeAt).toISOString()}`;

/** Parks the job until its tenant's period turns; returns the `parked` outcome (the message is then acked). */
export async function parkForBudget(parks: ParkStore, p: BudgetParkInput, now: number): Promise<Outcome> {
  // The period's end, and never in the past (a refusal read at the turn resumes at the next sweep).
  const resumeAt = Number.isFinite(p.resumeAt) ? Math.max(p.resumeAt, now) : now;
  const message = budgetWaitMessage(p.tenant, resumeAt);
  await parks.park({
    altId: p.altId, reason: 'budget', resumeAt, task: p.task, question: message, timeoutS: null, onTimeout: 'fail',
    d: p.d, results: p.results, from: p.from,
  }, now);
  return { kind: 'parked', job: p.job, task: p.task, question: message, code: 'BUDGET_WAIT', resumeAt };
}
