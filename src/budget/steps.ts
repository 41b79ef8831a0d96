/**
 * Budgets on the AI call path: a reserve step that holds each call's worst case (its prompt's
 * bound and max_tokens, at the model's price) against the budget of its job and those of its
 * tenant before any byte is sent, and refuses the call when one does not fit; and a settle step
 * that charges what the call spent (the reported usage; a count or cost that is unknown, or a
 * failure that may have been billed, is charged its hold in full).
 *
 * A refusal is an AltlasError: BUDGET_EXCEEDED (the job's budget, or the tenant's when
 * BUDGET_TENANT_EXCEEDED=fail), or BUDGET_WAIT (the tenant's, to wait for its period to turn).
 */
import type { AiCall, AttemptInfo } from '../ai/call.ts';
import type { CallOutcome, Reservation, ReserveStep, SettleStep } from '../ai/steps.ts';
import { AltlasError } from '../errors.ts';
import { costNanos, fromNanos, priceOf, type PriceTable } from '../usage/prices.ts';
import { final, type JobBudgets, type Refusal } from './job-budgets.ts';
import { needOf, spentOf, type Need } from './need.ts';
import type { TenantBudgets, TenantRefusal } from './tenant-budgets.ts';

export interface BudgetStepsOptions {
  jobs: JobBudgets;
  tenants?: TenantBudgets | null;
  prices: PriceTable | null;
  /** Output tokens of a call that sets no max_tokens (BUDGET_MAX_TOKENS; the task body sends it). */
  maxOutput: number;
  /** A tenant over a period's budget: wait for the period to turn, or fail its jobs (BUDGET_TENANT_EXCEEDED). */
  tenantExceeded: 'wait' | 'fail';
  now?: () => number;
}

interface Held {
  id: string;
  need: Need;
  job: string | null;
  tenant: boolean;
}

const NOTHING: Reservation = Object.freeze({ held: Object.freeze({}) });

/** Failures after which the provider spent nothing: it refused or was never reached. */
const FREE_FAILURES = new Set(['rate_limited', 'unreachable', 'breaker_open', 'overloaded', 'rejected']);

/** True when a failed call may have been billed: one of its attempts reached a provider that may have generated (a cut answer, a timeout, a 5xx, a cancel). */
export function mayHaveCost(attempts: readonly AttemptInfo[]): boolean {
  return attempts.some((a) => !(a.failure !== null && FREE_FAILURES.has(a.failure)));
}

const amount = (unit: string, n: number | null) => (n === null ? 'unknown' : unit === 'cost' ? String(fromNanos(n)) : String(n));

function describe(r: Refusal, what: string, model: string): string {
  if (r.need === null) return `${what}'s cost budget cannot hold a call to ${model}: the model has no price in AI_PRICES`;
  return `${what}'s budget of ${amount(r.unit, r.limit)} ${r.unit === 'cost' ? '(money)' : 'tokens'} cannot hold this call's worst case of ${amount(r.unit, r.need)}: ${amount(r.unit, r.spent)} spent`;
}

function describeTenant(r: TenantRefusal, model: string, wait: boolean): string {
  const what = `tenant ${r.tenant}'s`;
  if (r.need === null) return `${what} cost budget cannot hold a call to ${model}: the model has no price in AI_PRICES`;
  const u = (n: number) => amount(r.unit, n);
  const slice = r.capacity < r.limit ? `; this worker's slice of it is ${u(r.capacity)}, of which ${u(r.spent)} spent` : `: ${u(r.spent)} spent`;
  return `${what} budget per ${r.period} of ${u(r.limit)} ${r.unit === 'cost' ? '(money)' : 'tokens'} cannot hold this call's worst case of ${u(r.need)}${slice}${wait ? `; the job waits until ${new Date(r.turnsAt).toISOString()}` : ''}`;
}

export class BudgetSteps implements ReserveStep, SettleStep {
  readonly #o: BudgetStepsOptions;
  readonly #now: () => number;
  readonly #held = new WeakMap<AiCall, Held>();
  #seq = 0;

  constructor(options: BudgetStepsOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** True when a budget applies to a call of this job and tenant (the task body then caps max_tokens). */
  applies(jobId: string | null, tenant: string | null): boolean {
    return this.#o.jobs.applies(jobId) || this.#o.tenants?.applies(tenant) === true;
  }

  async reserve(call: AiCall, signal?: AbortSignal): Promise<Reservation> {
    const job = this.#o.jobs.applies(call.jobId) ? call.jobId : null;
    const tenant = this.#o.tenants?.applies(call.tenant) === true;
    if (!job && !tenant) return NOTHING;
    const need = needOf(call, this.#o.prices, this.#o.maxOutput);
    const id = `b${++this.#seq}`;
    const amounts = { tokens: need.tokens, costNanos: need.costNanos };
    if (job) {
      for (;;) {
        const refused = this.#o.jobs.reserve(job, id, amounts, this.#now());
        if (!refused) break;
        if (final(refused)) throw new AltlasError('BUDGET_EXCEEDED', describe(refused, 'the job', call.model), { context: { altId: job, taskId: call.taskKey ?? undefined, scope: 'job', ...refused } });
        // Only the job's calls in flight stand in the way, and they can only give back: wait for one.
        await this.#o.jobs.settled(job, signal);
      }
    }
    if (tenant) {
      let refused: TenantRefusal | null;
      try {
        refused = await this.#o.tenants!.reserve(call.tenant, id, amounts, signal);
      } catch (e) {
        if (job) this.#o.jobs.settle(job, id, { tokens: 0, costNanos: 0 }, this.#now());
        throw e;
      }
      if (refused) {
        if (job) this.#o.jobs.settle(job, id, { tokens: 0, costNanos: 0 }, this.#now());
        // A call no period of the budget can hold (its worst case past the whole limit, or no price
        // under a cost budget) ends its job with BUDGET_EXCEEDED: waiting would never end.
        const never = refused.need === null || refused.need > refused.limit;
        const wait = this.#o.tenantExceeded === 'wait' && !never;
        const message = describeTenant(refused, call.model, wait) + (never && this.#o.tenantExceeded === 'wait' ? ': no period can hold it, so it does not wait' : '');
        throw new AltlasError(wait ? 'BUDGET_WAIT' : 'BUDGET_EXCEEDED', message, {
          context: { altId: call.jobId ?? undefined, taskId: call.taskKey ?? undefined, scope: 'tenant', ...refused, retryInMs: Math.max(0, refused.turnsAt - this.#now()) },
        });
      }
    }
    this.#held.set(call, { id, need, job, tenant });
    return { held: { tokens: need.tokens, ...(need.costNanos === null ? {} : { cost_nanos: need.costNanos }) } };
  }

  settle(call: AiCall, _reservation: Reservation, outcome: CallOutcome): void {
    const h = this.#held.get(call);
    if (!h) return;
    this.#held.delete(call);
    const answer = outcome.ok ? outcome.answer : null;
    const cost = answer ? costNanos(priceOf(this.#o.prices, answer.model), answer.usage) : null;
    const spent = spentOf(h.need, answer?.usage ?? null, cost, mayHaveCost(call.attempts) ? 'costly' : 'free');
    const now = this.#now();
    if (h.job) this.#o.jobs.settle(h.job, h.id, spent, now);
    if (h.tenant) this.#o.tenants!.settle(call.tenant, h.id, spent);
  }
}
