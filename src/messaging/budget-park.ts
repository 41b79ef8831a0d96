/**
 * A job whose tenant is over a period's budget (BUDGET_TENANT_EXCEEDED=wait, code BUDGET_WAIT)
 * parks until the period turns, as a job at an approval task does (approval/park.ts): what it
 * completed, its body and a park record (`reason: budget`, `resume_at`) are stored, then its
 * message is acked. The workers' sweep resumes it once the period turned, and a resumed run that
 * finds the tenant still over parks it again. So the wait spends no delivery of any message and
 * holds no worker: each waiting job is pulled once when it arrives and once per period turn.
 * A redelivery of a message whose park was stored (its ack lost) is acked without running.
 */
import type { Job } from '../alt/job.ts';
import { AltlasError } from '../errors.ts';
import type { TaskResult } from '../engine/types.ts';
import { NO_TENANT } from '../flow/lanes.ts';
import type { ParkRecord, ParkStore } from '../approval/park.ts';
import type { ContextLogger } from '../telemetry/logger.ts';
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

/**
 * A redelivery of a message an earlier delivery parked (the park stored, its ack lost: a crash, a
 * lost connection): the park holds the job, so the message is acked without running (its
 * checkpoints are the park's and stay); null when no park names this message.
 */
export async function parkedBefore(parks: ParkStore, job: Job, d: DeliveryInfo, log: ContextLogger, maxDeliver: number): Promise<Outcome | null> {
  let park: ParkRecord | null;
  try {
    park = await parks.parkedAt(job.id, d.stream, d.seq);
  } catch (e) {
    // Fail closed with deliveries left (handed back shortly, as unreadable checkpoints are); on the last one the job runs.
    if (d.deliveries < maxDeliver) throw new AltlasError('CHECKPOINTS_UNAVAILABLE', `could not read whether message ${d.seq} parked its job: ${(e as Error).message}`, { cause: e, context: { altId: job.id } });
    log.warn('could not read whether an earlier delivery parked the job, on its last delivery; the job runs', { error: (e as Error).message });
    return null;
  }
  if (!park) return null;
  // Its resume holds the job already: acked, nothing else (the park's checkpoints stay for that run).
  if (park.resumed_seq !== undefined) return { kind: 'done_before', job, heldBy: park.resumed_seq };
  const budget = park.reason === 'budget';
  log.warn('an earlier delivery of this message parked the job (its ack was lost): acked without running; the park resumes it', { code: budget ? 'BUDGET_WAIT' : 'JOB_PARKED' });
  return budget
    ? { kind: 'parked', job, task: park.task, question: park.question, code: 'BUDGET_WAIT', resumeAt: Date.parse(park.resume_at ?? '') }
    : { kind: 'parked', job, task: park.task, question: park.question };
}
