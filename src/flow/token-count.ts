/**
 * What a call is reserved at in a model's tokens per minute, before it is sent: its prompt's
 * tokens and its output's. The prompt is counted with OpenAI's own tokenizer (gpt-tokenizer,
 * o200k_base or cl100k_base) for OpenAI models, and estimated as its UTF-8 bytes / 4, rounded up,
 * for every other model, plus the chat format's overhead. The output is the 95th percentile of the
 * model's recent outputs ({@link OutputStats}) once known, capped by the call's max_tokens; else
 * max_tokens; else a default.
 */
import { createRequire } from 'node:module';

/** Tokens of the chat format around two messages (4 each) and the answer's priming (3). */
export const CHAT_OVERHEAD = 11;

/** How a prompt was counted. */
export type Counting = 'o200k_base' | 'cl100k_base' | 'bytes/4';

type Encoding = { countTokens(text: string): number };
const encodings = new Map<Counting, Encoding>();
const require = createRequire(import.meta.url);

/** The tokenizer of a model: OpenAI's encodings for OpenAI model names, else the byte estimate. */
export function countingOf(model: string): Counting {
  const m = model.toLowerCase().replace(/^openai\//, '');
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-oss)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada)/.test(m)) return 'cl100k_base';
  return 'bytes/4';
}

function encoding(c: Exclude<Counting, 'bytes/4'>): Encoding {
  let e = encodings.get(c);
  // Loaded at the first call to such a model (the tables are several megabytes).
  if (!e) encodings.set(c, (e = require(`gpt-tokenizer/cjs/encoding/${c}`) as Encoding));
  return e;
}

/** Tokens of a text by a model's counting. */
export function countText(text: string, counting: Counting): number {
  if (counting === 'bytes/4') return Math.ceil(Buffer.byteLength(text) / 4);
  return encoding(counting).countTokens(text);
}

/** Input tokens of a system and user prompt for `model`, the chat format included. */
export function promptTokens(model: string, system: string, user: string): number {
  const c = countingOf(model);
  return countText(system, c) + countText(user, c) + CHAT_OVERHEAD;
}

/**
 * The recent output tokens of one model (the last `size` calls), and their 95th percentile: what
 * a call without max_tokens is reserved at.
 */
export class OutputStats {
  readonly #size: number;
  readonly #seen: number[] = [];
  #next = 0;

  constructor(size = 200) {
    this.#size = size;
  }

  add(tokens: number): void {
    if (!(tokens >= 0)) return;
    if (this.#seen.length < this.#size) this.#seen.push(tokens);
    else this.#seen[this.#next] = tokens;
    this.#next = (this.#next + 1) % this.#size;
  }

  get count(): number {
    return this.#seen.length;
  }

  /** The `q` quantile (nearest rank) of the outputs seen; null before `min` were seen. */
  quantile(q: number, min = 20): number | null {
    if (this.#seen.length < min) return null;
    const sorted = [...this.#seen].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  }
}

/**
 * A call's reservation in tokens: input plus output. The output is the learned p95 once known
 * (capped by max_tokens, which it can never pass), else max_tokens, else `fallback`. A call that
 * answers longer than its p95 is charged the difference when it settles.
 */
export function reservationOf(input: number, maxTokens: number | null, p95: number | null, fallback: number): { tokens: number; output: number; outputFrom: 'max_tokens' | 'p95' | 'default' } {
  if (p95 !== null && (maxTokens === null || p95 < maxTokens)) return { tokens: input + p95, output: p95, outputFrom: 'p95' };
  if (maxTokens !== null) return { tokens: input + maxTokens, output: maxTokens, outputFrom: 'max_tokens' };
  return { tokens: input + fallback, output: fallback, outputFrom: 'default' };
}
