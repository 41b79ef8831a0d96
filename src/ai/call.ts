/**
 * The shapes every step of the AI call path shares: the request, the call descriptor the steps
 * see, the chunks an answer arrives in, what each attempt met, the usage a provider reports, and
 * the answer. Types only, but for {@link describeCall}.
 */
import type { Priority } from '../alt/job.ts';
import type { AiFailure } from './errors.ts';
import type { Prompt } from './prompt.ts';

/** The providers the runner speaks to (AI_PROVIDER). */
export type ProviderName = 'orchestrator' | 'openai';

/** Who a call is made for: what the gate, budgets and progress key on. Every field may be unknown (null). */
export interface CallOrigin {
  jobId: string | null;
  /** The tenant of the job (flow control); null until tenants exist. */
  tenant: string | null;
  priority: Priority | null;
  /** The task's instance key (the task id in 1.0, `loop[k]/segment` in 2.0). */
  taskKey: string | null;
  /** The engine's attempt of the task (1 = first), not the HTTP attempt. */
  taskAttempt: number | null;
}

/** What to ask: the prompt, the model and the generation parameters, and who asks. */
export interface AiRequest {
  prompt: Prompt;
  model: string;
  parameters: Record<string, unknown>;
  origin?: Partial<CallOrigin>;
}

/**
 * The call descriptor: one per call, handed to every step (gate, reserve, settle) and grown by
 * one {@link AttemptInfo} per HTTP attempt as the call runs.
 */
export interface AiCall extends CallOrigin {
  readonly provider: ProviderName;
  /** The model asked for (the one that answered is on the answer). */
  readonly model: string;
  readonly prompt: Prompt;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** `parameters.max_tokens` when a positive integer, else null (the provider's own limit). */
  readonly maxTokens: number | null;
  /** True when the answer is asked for as a stream (openai provider with AI_STREAM on). */
  readonly stream: boolean;
  /** What each HTTP attempt met, in order; its length is the number of attempts made so far. */
  readonly attempts: readonly AttemptInfo[];
}

/**
 * Tokens of one call as the provider reported them. A count the provider did not report is null:
 * never 0 and never estimated.
 */
export interface TokenUsage {
  /** Input (prompt) tokens. */
  input: number | null;
  /** Output (completion) tokens. */
  output: number | null;
  /** Input tokens served from the provider's prompt cache (part of `input`). */
  cached_input: number | null;
  /** Output tokens spent on reasoning (part of `output`). */
  reasoning: number | null;
}

/**
 * The usage of one call as it goes into a task's output (`output.usage`, after the original's
 * fields): its tokens by kind and the HTTP attempt that answered. The model that answered is the
 * answer's `model` (the output's `model_used`).
 */
export interface CallUsage extends TokenUsage {
  /** The HTTP attempt of the call that answered (1 = first). */
  attempt: number;
}

/** A piece of an answer as it arrives: a streamed delta, or the whole text of an unstreamed answer. */
export interface AiChunk {
  /** The HTTP attempt that produced it (1 = first): the chunks of an attempt that then fails keep its number. */
  attempt: number;
  /** 0-based position within its attempt. */
  index: number;
  text: string;
}

/** Coarse outcome of one attempt (a metric label). */
export type AttemptOutcome = 'ok' | 'transient' | 'rejected' | 'bad_response' | 'too_large' | 'cancelled';

/** What one HTTP attempt met: reported to the client's and the call's observers and to every step. */
export interface AttemptInfo {
  provider: ProviderName;
  /** The model asked for. */
  model: string;
  /** The request URL, without the userinfo of AI_URL. */
  url: string;
  /** 1 = the first attempt of the call. */
  attempt: number;
  durationMs: number;
  /** HTTP status, or null when no response came. */
  status: number | null;
  outcome: AttemptOutcome;
  /** Why the attempt failed; null when it answered. */
  failure: AiFailure | null;
  /** Total tokens (the `.last`'s tokens_used), when reported. */
  tokens: number | null;
  /** The usage the provider reported with this attempt's answer; null when it reported none or failed. */
  usage: TokenUsage | null;
  /** Rate-limit headers of the response (`x-ratelimit-*`, `anthropic-ratelimit-*`, `retry-after`), names in lower case. */
  headers: Readonly<Record<string, string>>;
  /** True when the answer came as server-sent events. */
  streamed: boolean;
  /** Chunks delivered by this attempt. */
  chunks: number;
  /** Body bytes read (at most AI_MAX_RESPONSE_BYTES and one network read more). */
  bytes: number;
  error?: string;
}

/** The answer of a call. */
export interface AiAnswer {
  text: string;
  /** The model that answered (as the provider names it). */
  model: string;
  /** Total tokens when the provider says (input + output); the `.last`'s tokens_used. */
  tokens: number | null;
  /** Milliseconds the provider says it spent, else the attempt's own time. */
  providerMs: number | null;
  usage: CallUsage;
  streamed: boolean;
  /** Set when the call ran a fallback chain (our `.last` field `output.fallback`). */
  fallback?: FallbackRecord;
}

/** What a fallback chain did: the pair that answered and every pair tried, in order (`provider/model`). */
export interface FallbackRecord {
  answered: string;
  tried: { pair: string; failure: string | null; attempts: number }[];
}

/** Per-call options of {@link AiClient.complete}. */
export interface CallOptions {
  /** Cancels the call (task timeout, shutdown, lease lost); the call rejects with its reason. */
  signal: AbortSignal;
  /** Sees each attempt of this call (the job's logs; a progress stream's end of an attempt). */
  onAttempt?: (info: AttemptInfo) => void;
  /**
   * Sees each chunk as it arrives, synchronously. Throwing stops the attempt (its request is
   * closed) and the call rejects with the thrown error, not retried.
   */
  onChunk?: (chunk: AiChunk) => void;
  /**
   * Checked immediately before each attempt's request is sent (retries included): an error
   * stops the call with that error, before any byte of the attempt is sent.
   */
  guard?: () => Error | null;
  /**
   * Set when another model follows this one in a fallback chain: a transient failure of attempt
   * `moveOnAfter` (or later) ends the call at once instead of being retried, and so does a 429
   * whose Retry-After asks for longer than AI_RETRY_AFTER_MAX_MS.
   */
  moveOnAfter?: number;
}

const positiveInt = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null);

/** The descriptor of a call from its request (pure). */
export function describeCall(request: AiRequest, provider: ProviderName, stream: boolean): AiCall & { attempts: AttemptInfo[] } {
  const o = request.origin;
  return {
    provider, model: request.model, prompt: request.prompt, parameters: request.parameters,
    maxTokens: positiveInt(request.parameters.max_tokens), stream,
    jobId: o?.jobId ?? null, tenant: o?.tenant ?? null, priority: o?.priority ?? null,
    taskKey: o?.taskKey ?? null, taskAttempt: o?.taskAttempt ?? null,
    attempts: [],
  };
}
