/**
 * Token usage as providers report it, read without guessing: a count that is absent stays null.
 * The OpenAI shape (`usage` with `prompt_tokens_details.cached_tokens` and
 * `completion_tokens_details.reasoning_tokens`) is also what llama.cpp puts in the orchestrator's
 * `metadata.usage`; Anthropic-style names (`input_tokens`, `output_tokens`,
 * `cache_read_input_tokens`) are read too, for gateways that pass them through.
 */
import type { TokenUsage } from './call.ts';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A reported count: a finite number ≥ 0, rounded; anything else is unknown. */
export const count = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : null);
const first = (a: unknown, b?: unknown): number | null => count(a) ?? count(b);

/** Usage with every count unknown. */
export const UNKNOWN_USAGE: Readonly<TokenUsage> = Object.freeze({ input: null, output: null, cached_input: null, reasoning: null });

/** Reads an OpenAI-style (or Anthropic-style) usage object; null when there is none. */
export function readUsage(usage: unknown): TokenUsage | null {
  if (!isObject(usage)) return null;
  const inDetails = isObject(usage.prompt_tokens_details) ? usage.prompt_tokens_details : isObject(usage.input_tokens_details) ? usage.input_tokens_details : {};
  const outDetails = isObject(usage.completion_tokens_details) ? usage.completion_tokens_details : isObject(usage.output_tokens_details) ? usage.output_tokens_details : {};
  return {
    input: first(usage.prompt_tokens, usage.input_tokens),
    output: first(usage.completion_tokens, usage.output_tokens),
    cached_input: first(inDetails.cached_tokens, usage.cache_read_input_tokens),
    reasoning: count(outDetails.reasoning_tokens),
  };
}

/**
 * Usage from orchestrator metadata: `metadata.usage` (llama.cpp), else the documented example's
 * `tokens_generated` as the output tokens.
 */
export function orchestratorUsage(metadata: unknown): TokenUsage | null {
  if (!isObject(metadata)) return null;
  const usage = readUsage(metadata.usage);
  const generated = count(metadata.tokens_generated);
  if (usage) return usage.output === null && generated !== null ? { ...usage, output: generated } : usage;
  return generated === null ? null : { ...UNKNOWN_USAGE, output: generated };
}

/**
 * The total for the `.last`'s tokens_used (the original's integer): the reported total, else input
 * plus output where either is known (as the original runner summed them), else null.
 */
export function totalTokens(usage: unknown, reported: TokenUsage | null): number | null {
  const total = isObject(usage) ? count(usage.total_tokens) : null;
  if (total !== null) return total;
  if (!reported || (reported.input === null && reported.output === null)) return null;
  return (reported.input ?? 0) + (reported.output ?? 0);
}

/** What a provider's answer says once read: the text, the model that answered, and its usage. */
export interface ParsedAnswer {
  text: string;
  /** The model that answered, as the provider names it (the one asked for when it does not say). */
  model: string;
  /** Total tokens for tokens_used, when known. */
  tokens: number | null;
  usage: TokenUsage | null;
  /** Milliseconds the provider says it spent, when it says. */
  providerMs: number | null;
}
