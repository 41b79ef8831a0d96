/** Errors of one AI HTTP attempt, and the pure rules that say which of them a retry can mend. */

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

/** The request did not get an answer: connection refused or reset, DNS, TLS, or the attempt timed out. */
export class AiTransportError extends Error {
  override name = 'AiTransportError';
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

/** True for failures a later attempt may not meet: transport errors, 408, 429 and 5xx. */
export function isTransient(e: unknown): boolean {
  if (e instanceof AiTransportError) return true;
  return e instanceof AiHttpError && (e.status === 408 || e.status === 429 || e.status >= 500);
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
