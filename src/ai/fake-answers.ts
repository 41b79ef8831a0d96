/**
 * What the fake orchestrator answers (pure): deterministic texts, fake token counts (four
 * characters a token), usage with its details, and the bodies and server-sent events of the
 * orchestrator API and of OpenAI chat completions, streamed or not.
 */
import { createHash } from 'node:crypto';

/** The usage details the fake reports (set by faults). */
export interface UsageFaults {
  /** Prompt tokens reported as cached (`prompt_tokens_details.cached_tokens`); default 0. */
  cachedTokens?: number;
  /** Reasoning tokens reported (`completion_tokens_details.reasoning_tokens`, counted in completion_tokens); default 0. */
  reasoningTokens?: number;
}

export const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

/** The deterministic answer to a prompt. */
export function fakeAnswer(model: string, prompt: string): string {
  const task = prompt.includes('Task:\n') ? prompt.slice(prompt.lastIndexOf('Task:\n') + 6) : prompt;
  return `[${model}] ${hash(prompt)}: ${task.slice(0, 120)}`;
}

/** Characters of one fake token. */
export const TOKEN_CHARS = 4;

/** Fake tokens of a text. */
export const tokenCount = (text: string) => Math.ceil(text.length / TOKEN_CHARS);

/** The text in fake tokens (the pieces a stream sends). */
export function tokens(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += TOKEN_CHARS) out.push(text.slice(i, i + TOKEN_CHARS));
  return out;
}

/**
 * Tokens of an answer due by `now` (ms) when the first is due at `first` and the rest follow at
 * `rate` tokens per second (0: all at once); of `total`.
 */
export function tokensDue(now: number, first: number, rate: number, total: number): number {
  if (now < first) return 0;
  return rate > 0 ? Math.min(total, Math.floor(((now - first) * rate) / 1000) + 1) : total;
}

/** Milliseconds from `first` until token `index` is due at `rate` tokens per second. */
export const tokenDueAt = (index: number, rate: number): number => (rate > 0 ? (index * 1000) / rate : 0);

/** OpenAI-style usage of an answer of `chars` characters, with both details; reasoning within `maxTokens` when given. */
export function fakeUsage(prompt: string, chars: number, f: UsageFaults, maxTokens: number | null = null): Record<string, unknown> {
  const input = tokenCount(prompt);
  const reasoning = Math.min(f.reasoningTokens ?? 0, maxTokens ?? Number.POSITIVE_INFINITY);
  const output = Math.ceil(chars / TOKEN_CHARS) + reasoning;
  return {
    prompt_tokens: input, completion_tokens: output, total_tokens: input + output,
    prompt_tokens_details: { cached_tokens: Math.min(f.cachedTokens ?? 0, input) },
    completion_tokens_details: { reasoning_tokens: reasoning },
  };
}

/** An orchestrator answer (formats.md §5) with llama.cpp's metadata; usage left out when `usage` is null. */
export function orchestratorBody(model: string, text: string, usage: Record<string, unknown> | null): unknown {
  return { model_id: model, outputs: text, metadata: { ...(usage ? { usage } : {}), finish_reason: 'stop', model_version: 'fake-1', cached: false } };
}

/** A whole OpenAI chat completion. */
export function chatBody(id: string, model: string, text: string, usage: Record<string, unknown> | null): unknown {
  return {
    id, object: 'chat.completion', model,
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    ...(usage ? { usage } : {}),
  };
}

/** Server-sent events of a streamed chat completion. */
export class ChatStream {
  readonly #id: string;
  readonly #model: string;
  readonly #created = Math.floor(Date.now() / 1000);
  /** A text delta's event around its JSON string (what #event writes, built once: the fake streams thousands of deltas a second). */
  readonly #around: [string, string];

  constructor(id: string, model: string) {
    this.#id = id;
    this.#model = model;
    const marker = '\u0000';
    const [before, after] = this.#event([{ index: 0, delta: { content: marker }, finish_reason: null }]).split(JSON.stringify(marker));
    this.#around = [before, after];
  }

  #event(choices: unknown[], extra: Record<string, unknown> = {}): string {
    return `data: ${JSON.stringify({ id: this.#id, object: 'chat.completion.chunk', created: this.#created, model: this.#model, choices, ...extra })}\n\n`;
  }

  /** The first event: the assistant's role, no text. */
  start(): string {
    return this.#event([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
  }

  /** One text delta. */
  delta(text: string): string {
    return this.#around[0] + JSON.stringify(text) + this.#around[1];
  }

  /** The finish, the usage event (`stream_options.include_usage`) and `[DONE]`. */
  end(usage: Record<string, unknown> | null): string {
    return this.#event([{ index: 0, delta: {}, finish_reason: 'stop' }]) + (usage ? this.#event([], { usage }) : '') + 'data: [DONE]\n\n';
  }
}
