/**
 * The fallback client: runs a call along its chain of provider/model pairs (fallback.ts). Each pair
 * is called through its endpoint's client, so every step (gate, reserve: budgets and flow control;
 * settle: usage) and the endpoint's policies apply to each pair as to any call. A pair that fails
 * with a provider's failure (isProviderFailure: rate limited past its budget, 5xx, timeout,
 * unreachable, a cut stream, a breaker open) hands the call to the next pair; any other failure
 * (a refusal, an unreadable answer, a budget, a cancellation) ends it. Every pair but the last
 * gets `moveOnAfter` (AI_FALLBACK_ATTEMPTS): its transient failures are not retried past that many
 * attempts. Each pair has its own breaker (AI_BREAKER_THRESHOLD consecutive provider failures
 * open it for AI_BREAKER_HALF_OPEN_MS, then one trial call): an open pair is skipped without a
 * request. A call whose chain is its own model alone goes straight to the default endpoint.
 */
import { AltlasError } from '../errors.ts';
import type { AiAnswer, AiRequest, CallOptions, FallbackRecord } from './call.ts';
import type { AiClient } from './client.ts';
import { failureOf, isProviderFailure } from './errors.ts';
import { DEFAULT_ENDPOINT, chainOf, pairLabel, type ModelPair, type PairSpec } from './fallback.ts';

/** A request that may carry the task's own chain (`parameters.fallback`, checked by the decoder). */
export interface ChainRequest extends AiRequest {
  fallback?: unknown;
}

export interface FallbackOptions {
  /** The clients by endpoint name; `default` is AI_PROVIDER at AI_URL. */
  endpoints: ReadonlyMap<string, Pick<AiClient, 'complete'>>;
  /** AI_FALLBACK: the chain of a task that gives none. */
  configured: readonly PairSpec[];
  /** AI_FALLBACK_ATTEMPTS: attempts of a pair before the call moves on to the next. */
  attemptsPerPair: number;
  breakerThreshold: number;
  breakerHalfOpenMs: number;
  /** A call moved on from one pair to the next (`provider/model` labels): the metric. */
  onFallback?: (from: string, to: string, failure: string) => void;
  now?: () => number;
}

/** Consecutive-failure breaker of one pair: open for `halfOpenMs` after `threshold` failures, then one trial. */
class PairBreaker {
  #failures = 0;
  #openUntil = 0;
  #trial = false;

  readonly threshold: number;
  readonly halfOpenMs: number;

  constructor(threshold: number, halfOpenMs: number) {
    this.threshold = threshold;
    this.halfOpenMs = halfOpenMs;
  }

  /** True when a call may go to the pair now (a half-open pair lets one trial through at a time). */
  admit(now: number): boolean {
    if (this.#failures < this.threshold) return true;
    if (now < this.#openUntil || this.#trial) return false;
    this.#trial = true;
    return true;
  }

  success(): void {
    this.#failures = 0;
    this.#trial = false;
  }

  failure(now: number): void {
    this.#failures++;
    this.#trial = false;
    if (this.#failures >= this.threshold) this.#openUntil = now + this.halfOpenMs;
  }
}

export class FallbackClient {
  readonly #o: FallbackOptions;
  readonly #names: ReadonlySet<string>;
  readonly #breakers = new Map<string, PairBreaker>();
  readonly #now: () => number;

  constructor(options: FallbackOptions) {
    this.#o = options;
    this.#names = new Set(options.endpoints.keys());
    this.#now = options.now ?? Date.now;
  }

  /** The chain a call of `model` with the task's `fallback` runs (its own model first). */
  chain(model: string, fallback: unknown): ModelPair[] {
    return chainOf(model, fallback, this.#o.configured, this.#names);
  }

  #breaker(label: string): PairBreaker {
    let b = this.#breakers.get(label);
    if (!b) this.#breakers.set(label, (b = new PairBreaker(this.#o.breakerThreshold, this.#o.breakerHalfOpenMs)));
    return b;
  }

  /** Runs the call along its chain; resolves with the first answer (with `fallback` set when the chain has more than one pair). */
  async complete(request: ChainRequest, options: CallOptions): Promise<AiAnswer> {
    const { fallback, ...plain } = request;
    const chain = this.chain(request.model, fallback);
    const first = this.#o.endpoints.get(DEFAULT_ENDPOINT)!;
    if (chain.length === 1) return first.complete(plain, options);
    const tried: FallbackRecord['tried'] = [];
    let lastError: unknown = null;
    for (let i = 0; i < chain.length; i++) {
      const pair = chain[i];
      const label = pairLabel(pair);
      const client = this.#o.endpoints.get(pair.provider);
      if (!client) {
        throw new AltlasError('AI_REJECTED', `the fallback pair ${label} names no AI endpoint (default or one of AI_ENDPOINTS)`, { context: { failure: 'rejected', provider: pair.provider, model: pair.model } });
      }
      const last = i === chain.length - 1;
      const breaker = this.#breaker(label);
      if (!last && !breaker.admit(this.#now())) {
        tried.push({ pair: label, failure: 'breaker_open', attempts: 0 });
        this.#o.onFallback?.(label, pairLabel(chain[i + 1]), 'breaker_open');
        continue;
      }
      let attempts = 0;
      const onAttempt = (info: Parameters<NonNullable<CallOptions['onAttempt']>>[0]) => {
        attempts++;
        options.onAttempt?.(info);
      };
      try {
        const answer = await client.complete({ ...plain, model: pair.model }, { ...options, onAttempt, ...(last ? {} : { moveOnAfter: this.#o.attemptsPerPair }) });
        breaker.success();
        tried.push({ pair: label, failure: null, attempts });
        return { ...answer, fallback: { answered: label, tried } };
      } catch (e) {
        const failure = failureOf(e);
        if (options.signal.aborted || !isProviderFailure(failure)) throw e;
        breaker.failure(this.#now());
        tried.push({ pair: label, failure, attempts });
        lastError = e;
        if (!last) this.#o.onFallback?.(label, pairLabel(chain[i + 1]), failure!);
      }
    }
    if (lastError instanceof AltlasError) {
      throw new AltlasError(lastError.code, `${lastError.message} (every model of the fallback chain failed: ${tried.map((t) => `${t.pair} ${t.failure}`).join(', ')})`, {
        cause: lastError.cause, context: { ...lastError.context, tried: tried.map((t) => t.pair) },
      });
    }
    throw lastError;
  }
}
