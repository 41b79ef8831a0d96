/**
 * The durable record of one AI call: what `altlas usage` adds up. One record per call that
 * reached the provider, published to the usage stream as the call settles (answered or failed),
 * so the calls of a run that later crashed are counted too. Pure.
 */
import type { AiCall, TokenUsage } from '../ai/call.ts';
import type { CallOutcome } from '../ai/steps.ts';
import { subjectToken } from '../contract/subjects.ts';
import { tenantToken } from '../flow/lanes.ts';
import { costNanos, fromNanos, priceOf, type PriceTable } from './prices.ts';

export { NO_TENANT } from '../flow/lanes.ts';

export interface UsageRecord {
  /** Unique per call: the record's Nats-Msg-Id is `usage:<id>`, so a publish retried is one record. */
  id: string;
  /** When the call settled (RFC 3339). */
  at: string;
  job: string | null;
  tenant: string | null;
  /** The task instance and the engine's attempt of it. */
  task: string | null;
  task_attempt: number | null;
  provider: string;
  /** The model that answered; for a failed call the one asked for. */
  model: string;
  /** `ok`: answered; `failed`: no answer (its usage, if any was spent, is unknown: `tokens` null). */
  outcome: 'ok' | 'failed';
  /** HTTP attempts made. */
  attempts: number;
  /** Tokens by kind as the provider reported them (null where it did not); null for a failed call. */
  tokens: TokenUsage | null;
  /** In `currency`; null when unpriced, unreported or failed. */
  cost: number | null;
  currency: string | null;
  worker: string;
}

export interface RecordContext {
  prices: PriceTable | null;
  worker: string;
  id: string;
  now: number;
}

/** The record of a settled call; null when no attempt reached the transport (refused by a step, cancelled first). */
export function usageRecord(call: AiCall, outcome: CallOutcome, ctx: RecordContext): UsageRecord | null {
  if (call.attempts.length === 0) return null;
  const answer = outcome.ok ? outcome.answer : null;
  const model = answer?.model ?? call.model;
  const tokens: TokenUsage | null = answer ? { input: answer.usage.input, output: answer.usage.output, cached_input: answer.usage.cached_input, reasoning: answer.usage.reasoning } : null;
  const nanos = answer ? costNanos(priceOf(ctx.prices, model), answer.usage) : null;
  return {
    id: ctx.id, at: new Date(ctx.now).toISOString(), job: call.jobId, tenant: call.tenant, task: call.taskKey, task_attempt: call.taskAttempt,
    provider: call.provider, model, outcome: answer ? 'ok' : 'failed', attempts: call.attempts.length, tokens,
    cost: nanos === null ? null : fromNanos(nanos), currency: ctx.prices?.currency ?? null, worker: ctx.worker,
  };
}

/** The subject of a record: `<prefix>.<tenant>.<model>`, each a subject token. */
export const usageSubject = (prefix: string, r: Pick<UsageRecord, 'tenant' | 'model'>): string => `${prefix}.${tenantToken(r.tenant)}.${subjectToken(r.model)}`;
