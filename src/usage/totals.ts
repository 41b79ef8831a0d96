/**
 * Usage added up over calls (a task, a job, a tenant, a model, a window): tokens by kind and
 * cost. Pure. A total is unknown (null) as soon as one call's count is: unknown stays unknown,
 * never 0 and never estimated; a window without calls spent 0.
 */
import type { CallUsage, TokenUsage } from '../ai/call.ts';
import { fromNanos, toNanos } from './prices.ts';

export const TOKEN_KINDS = ['input', 'output', 'cached_input', 'reasoning'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

/** Totals of some calls, as they appear in the `.last`, the status entry and `altlas usage --json`. */
export interface UsageTotals {
  tokens: TokenUsage;
  /** In `currency`; null when one call's cost is unknown (an unpriced model, or tokens not reported). */
  cost: number | null;
  /** The price table's currency; null without a table. */
  currency: string | null;
  /** Calls answered. */
  calls: number;
}

/** A job's (or a window's) totals and the same split by the model that answered. */
export interface UsageReport extends UsageTotals {
  by_model: Record<string, UsageTotals>;
}

/** One answered call, as the totals see it. */
export interface CallSpend {
  model: string;
  usage: TokenUsage | CallUsage | null;
  /** Nano-units of the currency; null when unknown. */
  costNanos: number | null;
}

/** Totals of no call. */
export function emptyTotals(currency: string | null): UsageTotals {
  return { tokens: { input: 0, output: 0, cached_input: 0, reasoning: 0 }, cost: 0, currency, calls: 0 };
}

export function emptyReport(currency: string | null): UsageReport {
  return { ...emptyTotals(currency), by_model: {} };
}

const plus = (a: number | null, b: number | null | undefined): number | null => (a === null || b === null || b === undefined ? null : a + b);

/** Adds one call to totals (in place). */
export function addCall(t: UsageTotals, call: CallSpend): void {
  for (const k of TOKEN_KINDS) t.tokens[k] = plus(t.tokens[k], call.usage ? call.usage[k] : null);
  // Sums in nano-units: exact whatever the order of the calls.
  t.cost = t.cost === null || call.costNanos === null ? null : fromNanos(toNanos(t.cost) + call.costNanos);
  t.calls++;
}

/** Adds one call to a report and to its model's totals (in place). */
export function addToReport(r: UsageReport, call: CallSpend): void {
  addCall(r, call);
  addCall((r.by_model[call.model] ??= emptyTotals(r.currency)), call);
}

/** Adds totals `b` into `a` (in place). */
export function mergeTotals(a: UsageTotals, b: UsageTotals): void {
  for (const k of TOKEN_KINDS) a.tokens[k] = plus(a.tokens[k], b.tokens[k]);
  a.cost = a.cost === null || b.cost === null ? null : fromNanos(toNanos(a.cost) + toNanos(b.cost));
  a.calls += b.calls;
}

/** What a task output says about its call: its model, usage and cost (`output.cost`, null when unknown). */
export function spendOfOutput(output: { model_used: string; usage?: unknown; cost?: unknown } | null): CallSpend | null {
  if (!output) return null;
  // An output without usage (a checkpoint of an older version) is a call whose counts are unknown.
  const usage = typeof output.usage === 'object' && output.usage !== null ? output.usage as CallUsage : null;
  return { model: output.model_used, usage, costNanos: typeof output.cost === 'number' ? toNanos(output.cost) : null };
}

/** The usage report of task outputs (a job's completed tasks, resumed ones included). */
export function reportOfOutputs(outputs: Iterable<{ model_used: string; usage?: unknown; cost?: unknown } | null>, currency: string | null): UsageReport {
  const r = emptyReport(currency);
  for (const o of outputs) {
    const spend = spendOfOutput(o);
    if (spend) addToReport(r, spend);
  }
  return r;
}
