/**
 * A call's worst case, before it is made: the most input tokens its prompt can be (its UTF-8
 * bytes, since a byte-level tokenizer never makes more tokens than bytes, plus the chat format's
 * overhead), the most output tokens (its max_tokens), and what that costs at the model's price.
 * With reservations this large, a budget is never passed: the spend past it is zero. Pure.
 */
import type { AiCall } from '../ai/call.ts';
import { priceOf, worstCaseNanos, type PriceTable } from '../usage/prices.ts';

/** Tokens of the chat format around two messages (4 each) and the answer's priming (3). */
export const CHAT_OVERHEAD_TOKENS = 11;

export interface Need {
  /** Input plus output tokens at worst. */
  tokens: number;
  input: number;
  output: number;
  /** Nano-units of the currency at worst; null when the model is unpriced. */
  costNanos: number | null;
}

/** The most input tokens a prompt can take. */
export const inputBound = (call: Pick<AiCall, 'prompt'>): number => Buffer.byteLength(call.prompt.system) + Buffer.byteLength(call.prompt.user) + CHAT_OVERHEAD_TOKENS;

/** A call's worst case; `maxOutput` when the call sets no max_tokens (the budget then sends it). */
export function needOf(call: Pick<AiCall, 'prompt' | 'maxTokens' | 'model'>, prices: PriceTable | null, maxOutput: number): Need {
  const input = inputBound(call);
  const output = call.maxTokens ?? maxOutput;
  const price = priceOf(prices, call.model);
  return { tokens: input + output, input, output, costNanos: price ? worstCaseNanos(price, input, output) : null };
}

/** What a settled call spent, per unit, for a budget: the reported usage and its cost; a count or cost that is unknown is its hold. */
export function spentOf(need: Need, usage: { input: number | null; output: number | null } | null, costNanos: number | null, failure: 'free' | 'costly'): { tokens: number; costNanos: number | null } {
  if (!usage) return failure === 'free' ? { tokens: 0, costNanos: 0 } : { tokens: need.tokens, costNanos: need.costNanos };
  const tokens = usage.input !== null && usage.output !== null ? usage.input + usage.output : need.tokens;
  return { tokens, costNanos: costNanos ?? need.costNanos };
}
