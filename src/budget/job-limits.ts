/**
 * A job's budget, from where it can be set: its `.alt`'s `metadata.budget` (the decoder checked
 * it), the headers `altlas publish --budget-tokens/--budget-cost` set, and the configured default
 * (BUDGET_JOB_TOKENS, BUDGET_JOB_COST) when neither sets one. When both set a unit, the tighter
 * wins. And what the job's resumed results spent already. Pure.
 */
import type { JobBudget } from '../alt/job.ts';
import type { TaskResult } from '../engine/types.ts';
import { AltlasError } from '../errors.ts';
import { toNanos } from '../usage/prices.ts';
import type { Amounts, Limits } from './job-budgets.ts';

/** Headers `altlas publish --budget-tokens N --budget-cost X` sets on a job. */
export const BUDGET_HEADERS = { tokens: 'Altlas-Budget-Tokens', cost: 'Altlas-Budget-Cost' } as const;

/** A job's budget as the `.last` and the status entry show it: tokens and money (null: no limit). */
export type ShownBudget = JobBudget;

function header(headers: { get(k: string): string } | undefined, name: string, whole: boolean): number | null {
  const raw = headers?.get(name)?.trim();
  if (!raw) return null;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !Number.isFinite(n) || (whole && !Number.isInteger(n))) {
    throw new AltlasError('ALT_SCHEMA', `the header ${name} must be ${whole ? 'a whole number' : 'a number'} >= 0`, { problems: [{ pointer: '', message: `header ${name} must be ${whole ? 'a whole number' : 'a number'} >= 0, got a string of ${raw.length} characters` }] });
  }
  return n;
}

const tighter = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.min(a, b));

/** The budget in force for a job; null when none applies. Throws ALT_SCHEMA for a header that is not a number. */
export function jobBudget(job: { budget?: JobBudget | null }, headers: { get(k: string): string } | undefined, defaults: { tokens?: number; cost?: number }): ShownBudget | null {
  const tokens = tighter(job.budget?.tokens ?? null, header(headers, BUDGET_HEADERS.tokens, true));
  const cost = tighter(job.budget?.cost ?? null, header(headers, BUDGET_HEADERS.cost, false));
  const set = tokens !== null || cost !== null;
  const b = set ? { tokens, cost } : { tokens: defaults.tokens ?? null, cost: defaults.cost ?? null };
  return b.tokens === null && b.cost === null ? null : b;
}

/** A budget in the ledgers' units. */
export const limitsOf = (b: ShownBudget): Limits => ({ tokens: b.tokens, costNanos: b.cost === null ? null : toNanos(b.cost) });

/**
 * What the calls of a job's resumed results spent (from their checkpoints): input plus output
 * tokens and cost where known. A count the provider did not report is not known and adds nothing.
 */
export function resumedSpend(results: Iterable<TaskResult>): Amounts {
  let tokens = 0;
  let nanos = 0;
  for (const r of results) {
    const u = r.output?.usage as { input?: number | null; output?: number | null } | undefined;
    tokens += (u?.input ?? 0) + (u?.output ?? 0);
    if (typeof r.output?.cost === 'number') nanos += toNanos(r.output.cost);
  }
  return { tokens, costNanos: nanos };
}
