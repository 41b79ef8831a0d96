/**
 * Budgets of one worker, assembled: the jobs' (per job, in this worker), the tenants' (per
 * period, shared by the fleet through slices of a KV bucket), and the call-path steps that
 * reserve and settle against both. The worker opens a job's budget when the job starts and
 * closes it when the run ends.
 */
import type { Job } from '../alt/job.ts';
import type { TaskResult } from '../engine/types.ts';
import type { FleetSlices } from '../flow/fleet-slices.ts';
import type { PriceTable } from '../usage/prices.ts';
import { JobBudgets } from './job-budgets.ts';
import { jobBudget, limitsOf, resumedSpend, type ShownBudget } from './job-limits.ts';
import { BudgetSteps } from './steps.ts';
import { TenantBudgets, type TenantBudgetsDoc } from './tenant-budgets.ts';

export interface BudgetsOptions {
  prices: PriceTable | null;
  /** BUDGET_MAX_TOKENS. */
  maxOutput: number;
  /** BUDGET_JOB_TOKENS, BUDGET_JOB_COST. */
  jobDefaults: { tokens?: number; cost?: number };
  /** BUDGET_TENANTS, loaded; null: no tenant budgets. */
  tenants: TenantBudgetsDoc | null;
  tenantExceeded: 'wait' | 'fail';
  /** Milliseconds within which an AI call is settled (the longest a call can take, retries included). */
  holdTtlMs: number;
  /** Milliseconds of the tenants' `hour` period (BUDGET_HOUR_MS); default an hour. */
  hourMs?: number;
  now?: () => number;
}

/** A job's budget while it runs here. */
export interface OpenBudget {
  budget: ShownBudget;
  close(): void;
}

export class Budgets {
  readonly jobs = new JobBudgets();
  readonly tenants: TenantBudgets | null;
  readonly steps: BudgetSteps;
  readonly #o: BudgetsOptions;

  constructor(options: BudgetsOptions) {
    this.#o = options;
    this.tenants = options.tenants ? new TenantBudgets({ doc: options.tenants, holdTtlMs: options.holdTtlMs, hourMs: options.hourMs, now: options.now }) : null;
    this.steps = new BudgetSteps({ jobs: this.jobs, tenants: this.tenants, prices: options.prices, maxOutput: options.maxOutput, tenantExceeded: options.tenantExceeded, now: options.now });
  }

  /** The fleet's slices of the tenants' budgets (once connected). */
  attach(slices: FleetSlices): void {
    this.tenants?.attach(slices);
  }

  get tenantExceeded(): 'wait' | 'fail' {
    return this.#o.tenantExceeded;
  }

  /** Starts job `job`'s budget (null when none applies), from what its resumed results spent. Throws ALT_SCHEMA for a bad budget header. */
  open(job: Job, headers: { get(k: string): string } | undefined, resume: ReadonlyMap<string, TaskResult>): OpenBudget | null {
    const budget = jobBudget(job, headers, this.#o.jobDefaults);
    if (!budget) return null;
    return { budget, close: this.jobs.open(job.id, limitsOf(budget), resumedSpend(resume.values())) };
  }

  /** max_tokens to send with a call that sets none, when a budget applies to it (its worst case must be known); null otherwise. */
  capOutput(jobId: string | null, tenant: string | null): number | null {
    return this.steps.applies(jobId, tenant) ? this.#o.maxOutput : null;
  }
}
