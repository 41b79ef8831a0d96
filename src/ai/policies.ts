/**
 * The resilience policies around the transport, shared by all calls of a client (cockatiel):
 *
 *   bulkhead (AI_MAX_CONCURRENCY, queue AI_MAX_QUEUE)
 *     └ circuit breaker (AI_BREAKER_THRESHOLD consecutive failed calls, half-open after AI_BREAKER_HALF_OPEN_MS)
 *         └ retry (AI_MAX_RETRIES; exponential backoff with full jitter, or Retry-After capped at AI_RETRY_AFTER_MAX_MS)
 *             └ timeout (AI_TIMEOUT_MS per attempt; aborts the request and closes its socket)
 *
 * Only transient failures ({@link isTransient}) are retried and counted by the breaker.
 */
import {
  CircuitState, ConsecutiveBreaker, DelegateBackoff, TaskCancelledError, TimeoutStrategy, bulkhead, circuitBreaker, handleWhen, retry, timeout,
} from 'cockatiel';
import { backoffDelay } from '../engine/backoff.ts';
import { AiHttpError, AiTransportError, isTransient } from './errors.ts';

export interface PolicyOptions {
  /** Milliseconds per attempt (AI_TIMEOUT_MS). */
  timeoutMs: number;
  /** Retries after the first attempt (AI_MAX_RETRIES). */
  maxRetries: number;
  /** Milliseconds of the first retry delay (AI_RETRY_BASE_MS); doubled per retry, full jitter. */
  retryBaseMs: number;
  /** Milliseconds, the cap of a retry delay (AI_RETRY_MAX_MS). */
  retryMaxMs: number;
  /** Milliseconds, the longest wait a Retry-After may impose (AI_RETRY_AFTER_MAX_MS). */
  retryAfterMaxMs: number;
  /** Attempts in flight at once (AI_MAX_CONCURRENCY). */
  maxConcurrency: number;
  /** Calls waiting for the bulkhead before new ones are refused (AI_MAX_QUEUE). */
  maxQueue: number;
  /** Consecutive failed calls that open the breaker (AI_BREAKER_THRESHOLD). */
  breakerThreshold: number;
  /** Milliseconds the breaker stays open before one trial call (AI_BREAKER_HALF_OPEN_MS). */
  breakerHalfOpenMs: number;
  /** Random numbers in [0, 1) for the jitter (tests); default Math.random. */
  random?: () => number;
}

export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';
const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

/** The four policies of one client. */
export class AiPolicies {
  readonly #bulkhead;
  readonly #breaker;
  readonly #retry;
  readonly #timeout;
  readonly #timeoutMs: number;
  readonly #listeners = new Set<(s: BreakerState) => void>();

  constructor(o: PolicyOptions) {
    this.#timeoutMs = o.timeoutMs;
    this.#bulkhead = bulkhead(o.maxConcurrency, o.maxQueue);
    this.#breaker = circuitBreaker(handleWhen(isTransient), { halfOpenAfter: o.breakerHalfOpenMs, breaker: new ConsecutiveBreaker(o.breakerThreshold) });
    this.#breaker.onStateChange((s) => this.#listeners.forEach((l) => l(STATE_NAMES[s])));
    const random = o.random ?? Math.random;
    this.#retry = retry(handleWhen(isTransient), {
      maxAttempts: o.maxRetries,
      backoff: new DelegateBackoff((ctx) => {
        const e = 'error' in ctx.result ? ctx.result.error : undefined;
        if (e instanceof AiHttpError && e.retryAfterMs !== undefined) return Math.min(e.retryAfterMs, o.retryAfterMaxMs);
        return backoffDelay(ctx.attempt, { baseMs: o.retryBaseMs, maxMs: o.retryMaxMs }, random);
      }),
    });
    // abortOnReturn off: aborting a finished attempt costs an exception object per call and nothing is left to stop.
    this.#timeout = timeout(o.timeoutMs, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false });
  }

  /** Runs `attempt` (numbered from 1) through the bulkhead, the breaker and the retries. */
  run<T>(attempt: (n: number) => Promise<T>, signal: AbortSignal): Promise<T> {
    return this.#bulkhead.execute(() => this.#breaker.execute(() => this.#retry.execute(({ attempt: n }) => attempt(n + 1), signal), signal), signal);
  }

  /**
   * Runs one attempt's `work` under the attempt timeout: its signal aborts at the timeout or with
   * `signal`; a timeout rejects with AiTransportError ETIMEDOUT (transient).
   */
  timed<T>(work: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    let attempt: AbortSignal | null = null;
    // A promise chain, not an async function: no suspended frame held per call in flight.
    return this.#timeout.execute((_ctx, s) => work((attempt = s)), signal).catch((e: unknown) => {
      // Whichever rejects first, the request's abort or cockatiel's TaskCancelledError: the attempt's
      // signal aborted while the caller's did not is the timeout.
      if (!signal.aborted && (e instanceof TaskCancelledError || (attempt as AbortSignal | null)?.aborted)) {
        throw new AiTransportError('ETIMEDOUT', `no answer within ${this.#timeoutMs} ms`, { cause: e });
      }
      throw e;
    });
  }

  /** The breaker's state now. */
  get breakerState(): BreakerState {
    return STATE_NAMES[this.#breaker.state];
  }

  /** Calls `listener` on every breaker state change; returns a function that stops it. */
  onBreakerStateChange(listener: (s: BreakerState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
