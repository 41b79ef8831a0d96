/** Retry-delay maths: exponential backoff with full jitter, pure and bounded. */

export interface BackoffOptions {
  /** Milliseconds of the first delay's upper bound. */
  baseMs: number;
  /** Milliseconds: no delay is longer. */
  maxMs: number;
}

/**
 * Delay before retry number `retry` (1 for the first retry): a uniformly random share
 * (`random()` in [0, 1)) of min(maxMs, baseMs × 2^(retry−1)).
 */
export function backoffDelay(retry: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(Math.max(retry - 1, 0), 30));
  return Math.floor(ceiling * random());
}
