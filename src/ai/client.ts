/**
 * The AI client: one HTTP request per attempt through got (its own retry off), guarded by
 * cockatiel policies shared by all jobs of the process:
 *
 *   bulkhead (AI_MAX_CONCURRENCY, queue AI_MAX_QUEUE)
 *     └ circuit breaker (AI_BREAKER_THRESHOLD consecutive failed calls, half-open after AI_BREAKER_HALF_OPEN_MS)
 *         └ retry (AI_MAX_RETRIES; exponential backoff with full jitter, or Retry-After capped at AI_RETRY_AFTER_MAX_MS)
 *             └ timeout (AI_TIMEOUT_MS per attempt; aborts the request and closes its socket)
 *
 * Only transient failures (connection errors, attempt timeouts, 408, 429, 5xx) are retried and
 * counted by the breaker. When the breaker is open, the bulkhead is full, or the provider stays
 * unreachable, the call fails with AI_UNAVAILABLE (the job is handed back to JetStream); a 4xx is
 * AI_REJECTED and an unreadable answer AI_BAD_RESPONSE (the task fails).
 */
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import got, { RequestError, type Got } from 'got';
import {
  BrokenCircuitError, BulkheadRejectedError, CircuitState, ConsecutiveBreaker, DelegateBackoff, TaskCancelledError,
  TimeoutStrategy, bulkhead, circuitBreaker, handleWhen, retry, timeout,
} from 'cockatiel';
import { AltlasError } from '../errors.ts';
import { backoffDelay } from '../engine/backoff.ts';
import { AiBadResponseError, AiHttpError, AiTransportError, isTransient, parseRetryAfter } from './errors.ts';
import type { AiAnswer, AiProvider, AiRequest } from './providers.ts';

export interface AiClientOptions {
  provider: AiProvider;
  /** Base URL (AI_URL). */
  baseUrl: string;
  apiKey?: string;
  /** Milliseconds per attempt (AI_TIMEOUT_MS). */
  timeoutMs: number;
  /** Retries after the first attempt (AI_MAX_RETRIES). */
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  retryAfterMaxMs: number;
  maxConcurrency: number;
  maxQueue: number;
  breakerThreshold: number;
  breakerHalfOpenMs: number;
  random?: () => number;
  /** Called after every HTTP attempt (metrics, traces, logs). */
  onAttempt?: (info: AttemptInfo) => void;
}

export interface AttemptInfo {
  provider: string;
  model: string;
  url: string;
  attempt: number;
  durationMs: number;
  status: number | null;
  outcome: 'ok' | 'transient' | 'rejected' | 'bad_response' | 'cancelled';
  tokens: number | null;
  error?: string;
}

export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';
const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

const snippet = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);

export class AiClient {
  readonly #o: AiClientOptions;
  readonly #bulkhead;
  readonly #breaker;
  readonly #retry;
  readonly #timeout;
  readonly #url: string;
  readonly #listeners = new Set<(s: BreakerState) => void>();
  /** Keep-alive sockets to the provider, at most one per request the bulkhead lets run. */
  readonly #agent: Agent;
  readonly #httpsAgent: HttpsAgent;
  /** got with the options of every attempt, normalised once; attempts use its stream API (see #post). */
  readonly #got: Got;

  constructor(options: AiClientOptions) {
    this.#o = options;
    this.#agent = new Agent({ keepAlive: true, maxSockets: options.maxConcurrency, scheduling: 'lifo' });
    this.#httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: options.maxConcurrency, scheduling: 'lifo' });
    this.#url = new URL(options.provider.path, options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`).toString();
    this.#got = got.extend({
      method: 'POST', headers: { 'content-type': 'application/json', ...options.provider.headers(options.apiKey ?? '') },
      throwHttpErrors: false, retry: { limit: 0 }, decompress: false, agent: { http: this.#agent, https: this.#httpsAgent },
    });
    this.#bulkhead = bulkhead(options.maxConcurrency, options.maxQueue);
    this.#breaker = circuitBreaker(handleWhen(isTransient), {
      halfOpenAfter: options.breakerHalfOpenMs,
      breaker: new ConsecutiveBreaker(options.breakerThreshold),
    });
    this.#breaker.onStateChange((s) => this.#listeners.forEach((l) => l(STATE_NAMES[s])));
    const random = options.random ?? Math.random;
    this.#retry = retry(handleWhen(isTransient), {
      maxAttempts: options.maxRetries,
      backoff: new DelegateBackoff((ctx) => {
        const e = 'error' in ctx.result ? ctx.result.error : undefined;
        if (e instanceof AiHttpError && e.retryAfterMs !== undefined) return Math.min(e.retryAfterMs, options.retryAfterMaxMs);
        return backoffDelay(ctx.attempt, { baseMs: options.retryBaseMs, maxMs: options.retryMaxMs }, random);
      }),
    });
    // abortOnReturn off: aborting a finished attempt costs an exception object per call and nothing is left to stop.
    this.#timeout = timeout(options.timeoutMs, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false });
  }

  /** Closes the idle keep-alive sockets (shutdown). */
  close(): void {
    this.#agent.destroy();
    this.#httpsAgent.destroy();
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

  /**
   * Sends one AI request through the policies. `signal` cancels it (task timeout, shutdown, lease
   * lost). `observe` sees each attempt of this call (the job's logs).
   */
  async complete(request: AiRequest, signal: AbortSignal, observe?: (info: AttemptInfo) => void): Promise<AiAnswer> {
    try {
      return await this.#bulkhead.execute(() => this.#breaker.execute(() => this.#retry.execute(({ attempt }) =>
        this.#attempt(request, attempt + 1, signal, observe), signal), signal), signal);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw this.#classify(e);
    }
  }

  /** True when the provider's health endpoint answers 2xx within the attempt timeout. */
  async health(): Promise<boolean> {
    try {
      const res = await got.get(new URL(this.#o.provider.healthPath, this.#url).toString(), {
        throwHttpErrors: false, retry: { limit: 0 }, timeout: { request: this.#o.timeoutMs }, headers: this.#o.provider.headers(this.#o.apiKey ?? ''),
      });
      return res.statusCode >= 200 && res.statusCode < 300;
    } catch {
      return false;
    }
  }

  #classify(e: unknown): AltlasError {
    if (e instanceof BrokenCircuitError) {
      return new AltlasError('AI_UNAVAILABLE', 'the AI provider circuit breaker is open', { cause: e });
    }
    if (e instanceof BulkheadRejectedError) {
      return new AltlasError('AI_UNAVAILABLE', `too many AI requests waiting (${this.#o.maxConcurrency} running, ${this.#o.maxQueue} queued)`, { cause: e });
    }
    if (isTransient(e)) {
      return new AltlasError('AI_UNAVAILABLE', `the AI provider is unavailable after ${this.#o.maxRetries + 1} attempts: ${(e as Error).message}`, {
        cause: e, context: { httpStatus: e instanceof AiHttpError ? e.status : undefined },
      });
    }
    if (e instanceof AiHttpError) {
      return new AltlasError('AI_REJECTED', `the AI provider refused the request: ${e.message}`, { cause: e, context: { httpStatus: e.status } });
    }
    if (e instanceof AiBadResponseError) return new AltlasError('AI_BAD_RESPONSE', `unreadable AI answer: ${e.message}`, { cause: e });
    return new AltlasError('AI_BAD_RESPONSE', `AI request failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }

  async #attempt(request: AiRequest, attempt: number, callerSignal: AbortSignal, observe?: (info: AttemptInfo) => void): Promise<AiAnswer> {
    const started = performance.now();
    const report = (outcome: AttemptInfo['outcome'], status: number | null, tokens: number | null, error?: string) => {
      const info: AttemptInfo = {
        provider: this.#o.provider.name, model: request.model, url: this.#url, attempt,
        durationMs: performance.now() - started, status, outcome, tokens, error,
      };
      this.#o.onAttempt?.(info);
      observe?.(info);
    };
    try {
      const answer = await this.#timeout.execute((_ctx, signal) => this.#send(request, signal), callerSignal);
      report('ok', 200, answer.tokens);
      return answer;
    } catch (e) {
      let error = e;
      if (e instanceof TaskCancelledError && !callerSignal.aborted) {
        error = new AiTransportError('ETIMEDOUT', `no answer within ${this.#o.timeoutMs} ms`, { cause: e });
      }
      const status = error instanceof AiHttpError ? error.status : null;
      const outcome = callerSignal.aborted ? 'cancelled' : isTransient(error) ? 'transient' : error instanceof AiHttpError ? 'rejected' : 'bad_response';
      report(outcome, status, null, error instanceof Error ? error.message : String(error));
      throw error;
    }
  }

  async #send(request: AiRequest, signal: AbortSignal): Promise<AiAnswer> {
    const started = performance.now();
    const res = await this.#post(JSON.stringify(this.#o.provider.body(request)), signal);
    if (res.status < 200 || res.status >= 300) {
      throw new AiHttpError(res.status, snippet(res.text), parseRetryAfter(res.retryAfter, Date.now()));
    }
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      throw new AiBadResponseError(`the answer is not JSON: ${snippet(res.text)}`);
    }
    const answer = this.#o.provider.parse(body, request);
    return { ...answer, providerMs: answer.providerMs ?? Math.round(performance.now() - started) };
  }

  /**
   * One POST through got's stream API, the answer read whole. Its promise API wraps the same
   * stream in a second layer of events and parsing that costs about a quarter of each call
   * (`npm run bench:ai`).
   */
  #post(body: string, signal: AbortSignal): Promise<{ status: number; retryAfter: string | undefined; text: string }> {
    return new Promise((resolve, reject) => {
      const stream = this.#got.stream(this.#url, { body, signal });
      const chunks: Buffer[] = [];
      let status = 0;
      let retryAfter: string | undefined;
      stream.once('response', (res: { statusCode: number; headers: Record<string, string | string[] | undefined> }) => {
        status = res.statusCode;
        const h = res.headers['retry-after'];
        retryAfter = Array.isArray(h) ? h[0] : h;
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.once('end', () => resolve({ status, retryAfter, text: Buffer.concat(chunks).toString('utf8') }));
      stream.once('error', (e: unknown) => reject(e instanceof RequestError ? new AiTransportError(e.code, e.message, { cause: e }) : e));
    });
  }
}
