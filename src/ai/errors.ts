/**
 * Errors of one AI HTTP attempt, the failure classes of a call, and the pure rules that say which
 * failures a retry can mend and what a failed call becomes (an AltlasError whose
 * `context.failure` names its class).
 */
import { BrokenCircuitError, BulkheadRejectedError } from 'cockatiel';
import { AltlasError, type ErrorCode } from '../errors.ts';

/**
 * Why an attempt or a call failed. A fallback to another model moves on for the provider's
 * failures ({@link isProviderFailure}); the others are the request's own or the runner's.
 */
export const AI_FAILURES = [
  /** 429: rate limited (after the retries, for a call: rate limited past its retry budget). */
  'rate_limited',
  /** 5xx (after the retries, for a call). */
  'server_error',
  /** No answer within AI_TIMEOUT_MS, or 408. */
  'timeout',
  /** Connection refused or reset, DNS, TLS: no response. */
  'unreachable',
  /** A 2xx answer stopped before its end: a stream before its last event, or a body cut short. */
  'stream_cut',
  /** The circuit breaker is open: no request was sent. */
  'breaker_open',
  /** The bulkhead's queue is full: no request was sent. */
  'overloaded',
  /** 4xx other than 408 and 429: the request itself is refused. */
  'rejected',
  /** A 2xx answer this runner cannot read. */
  'bad_response',
  /** The answer grew past AI_MAX_RESPONSE_BYTES. */
  'too_large',
] as const;
export type AiFailure = (typeof AI_FAILURES)[number];

const PROVIDER_FAILURES: ReadonlySet<AiFailure> = new Set(['rate_limited', 'server_error', 'timeout', 'unreachable', 'stream_cut', 'breaker_open']);

/** True for the failures of the provider or model rather than of the request: another model may answer. */
export function isProviderFailure(failure: AiFailure | null | undefined): boolean {
  return failure != null && PROVIDER_FAILURES.has(failure);
}

/** The failure class an AltlasError of a call carries (`context.failure`), or null. */
export function failureOf(e: unknown): AiFailure | null {
  const f = e instanceof AltlasError ? e.context.failure : undefined;
  return typeof f === 'string' && (AI_FAILURES as readonly string[]).includes(f) ? (f as AiFailure) : null;
}

/** The provider answered with a status other than 2xx. */
export class AiHttpError extends Error {
  override name = 'AiHttpError';
  readonly status: number;
  /** Milliseconds the provider asked us to wait (Retry-After), when it did. */
  readonly retryAfterMs: number | undefined;

  constructor(status: number, detail: string, retryAfterMs?: number) {
    super(`HTTP ${status}: ${detail}`);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The request did not get a whole answer: connection refused or reset, DNS, TLS, the attempt timed out, or a stream was cut. */
export class AiTransportError extends Error {
  override name = 'AiTransportError';
  /** The system error code (ECONNRESET, ...), ETIMEDOUT for the attempt timeout, STREAM_CUT for an answer cut after its 2xx head. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The provider answered 2xx with a body that is not what its API promises. */
export class AiBadResponseError extends Error {
  override name = 'AiBadResponseError';
}

/** The answer grew past the cap; its request was closed there. */
export class AiTooLargeError extends Error {
  override name = 'AiTooLargeError';
  readonly limit: number;

  constructor(limit: number, what: string) {
    super(`${what} exceeds AI_MAX_RESPONSE_BYTES (${limit} bytes)`);
    this.limit = limit;
  }
}

/**
 * An error from outside the transport (the guard, a chunk observer) carried through the
 * policies untouched: no retry, no breaker count, and the call rejects with `error` itself.
 */
export class ForeignError extends Error {
  override name = 'ForeignError';
  readonly error: unknown;

  constructor(error: unknown) {
    super('foreign');
    this.error = error;
  }
}

/**
 * A transient failure a call with a next model to fall back on does not retry: its pair's
 * attempts are spent, or a Retry-After asks for longer than AI_RETRY_AFTER_MAX_MS. Not transient
 * itself (neither retried nor counted by the endpoint's breaker); its class is its inner error's.
 */
export class AiMoveOnError extends Error {
  override name = 'AiMoveOnError';
  readonly inner: unknown;

  constructor(inner: unknown) {
    super((inner as Error)?.message ?? String(inner));
    this.inner = inner;
  }
}

/** True for failures a later attempt may not meet: transport errors, 408, 429 and 5xx. */
export function isTransient(e: unknown): boolean {
  if (e instanceof AiTransportError) return true;
  return e instanceof AiHttpError && (e.status === 408 || e.status === 429 || e.status >= 500);
}

/** The failure class of one attempt's error (null for a foreign error or a cancellation). */
export function attemptFailure(e: unknown): AiFailure | null {
  if (e instanceof AiMoveOnError) return attemptFailure(e.inner);
  if (e instanceof AiHttpError) {
    if (e.status === 429) return 'rate_limited';
    if (e.status === 408) return 'timeout';
    return e.status >= 500 ? 'server_error' : 'rejected';
  }
  if (e instanceof AiTransportError) return e.code === 'ETIMEDOUT' ? 'timeout' : e.code === 'STREAM_CUT' ? 'stream_cut' : 'unreachable';
  if (e instanceof AiTooLargeError) return 'too_large';
  if (e instanceof AiBadResponseError) return 'bad_response';
  return null;
}

const CODE_OF: Record<AiFailure, ErrorCode> = {
  rate_limited: 'AI_UNAVAILABLE', server_error: 'AI_UNAVAILABLE', timeout: 'AI_UNAVAILABLE', unreachable: 'AI_UNAVAILABLE',
  stream_cut: 'AI_UNAVAILABLE', breaker_open: 'AI_UNAVAILABLE', overloaded: 'AI_UNAVAILABLE',
  rejected: 'AI_REJECTED', bad_response: 'AI_BAD_RESPONSE', too_large: 'AI_RESPONSE_TOO_LARGE',
};

/** What the call was, for an error's message and context. */
export interface CallFacts {
  provider: string;
  model: string;
  attempts: number;
  maxConcurrency: number;
  maxQueue: number;
}

/**
 * What a failed call becomes: a foreign error itself, else an AltlasError whose code decides the
 * job's fate and whose `context.failure` is the class (a fallback reads it with {@link failureOf}).
 */
export function callError(e: unknown, facts: CallFacts): unknown {
  if (e instanceof ForeignError) return e.error;
  if (e instanceof AiMoveOnError) e = e.inner;
  const failure: AiFailure = e instanceof BrokenCircuitError ? 'breaker_open' : e instanceof BulkheadRejectedError ? 'overloaded' : attemptFailure(e) ?? 'bad_response';
  const message = (e as Error)?.message ?? String(e);
  const text = failure === 'breaker_open' ? 'the AI provider circuit breaker is open'
    : failure === 'overloaded' ? `too many AI requests waiting (${facts.maxConcurrency} running, ${facts.maxQueue} queued)`
    : CODE_OF[failure] === 'AI_UNAVAILABLE' ? `the AI provider is unavailable after ${facts.attempts} attempt${facts.attempts === 1 ? '' : 's'}: ${message}`
    : failure === 'rejected' ? `the AI provider refused the request: ${message}`
    : failure === 'too_large' ? `the AI answer is too large: ${message}`
    : e instanceof AiBadResponseError ? `unreadable AI answer: ${message}` : `AI request failed: ${message}`;
  return new AltlasError(CODE_OF[failure], text, {
    cause: e,
    context: { failure, provider: facts.provider, model: facts.model, attempts: facts.attempts, httpStatus: e instanceof AiHttpError ? e.status : undefined },
  });
}

/**
 * Reads a Retry-After header: delta seconds or an HTTP date. Returns milliseconds (never
 * negative), or undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
