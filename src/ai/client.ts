/**
 * The AI client: the call path of every AI task, composed of small steps —
 *
 *   gate → reserve → policies (bulkhead → breaker → retry → timeout) → transport → settle
 *
 * — with the call described once ({@link AiCall}) for every step, the answer arriving as chunks
 * (a streamed answer's deltas, or one chunk for a whole answer), and each HTTP attempt reported
 * ({@link AttemptInfo}: status, rate-limit headers, usage) to the client's observer, the call's
 * observer and every step. Connections are kept alive (an agent per protocol with as many
 * sockets as the bulkhead admits); got's own retry is off.
 *
 * A call that fails becomes an AltlasError: AI_UNAVAILABLE (breaker open, bulkhead full, the
 * provider unreachable or failing after the retries: the job waits for the AI side), AI_REJECTED
 * (4xx), AI_BAD_RESPONSE, AI_RESPONSE_TOO_LARGE; `context.failure` names the class (errors.ts).
 * An error of the call's guard or chunk observer, a step's refusal, or the signal's reason is
 * thrown as it is.
 */
import type { Agent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import got from 'got';
import { leanHttpAgent, leanHttpsAgent } from './agents.ts';
import { DEFAULTS } from '../config/defaults.ts';
import { describeCall, type AiAnswer, type AiCall, type AiRequest, type AttemptInfo, type CallOptions } from './call.ts';
import { AiHttpError, AiMoveOnError, AiTooLargeError, ForeignError, attemptFailure, callError, isTransient } from './errors.ts';
import { displayUrl, limitHeaders } from './headers.ts';
import { AiPolicies, type BreakerState, type PolicyOptions } from './policies.ts';
import type { AiProvider } from './providers.ts';
import type { CallOutcome, CallSteps, Reservation } from './steps.ts';
import { sendAttempt, type AttemptSink, type TransportOptions } from './transport.ts';
import { UNKNOWN_USAGE } from './usage.ts';

export type { AttemptInfo, AiAnswer, AiRequest, CallOptions } from './call.ts';
export type { BreakerState } from './policies.ts';

export interface AiClientOptions extends PolicyOptions {
  provider: AiProvider;
  /** Base URL (AI_URL); its userinfo is sent as basic auth and never shown. */
  baseUrl: string;
  apiKey?: string;
  /** Ask for streamed answers where the provider can (AI_STREAM). Default true. */
  stream?: boolean;
  /** Bytes of one answer held at most (AI_MAX_RESPONSE_BYTES). Default 4 MiB. */
  maxResponseBytes?: number;
  /** gate, reserve and settle; none: the call goes straight to the policies. */
  steps?: CallSteps;
  /** Called after every HTTP attempt of every call (metrics, traces). */
  onAttempt?: (info: AttemptInfo) => void;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** Per-attempt state the transport fills. */
interface Sink extends AttemptSink {
  status: number | null;
  headers: Readonly<Record<string, string>>;
  chunks: number;
}

export class AiClient {
  readonly #o: AiClientOptions;
  readonly #policies: AiPolicies;
  readonly #transport: TransportOptions;
  readonly #url: string;
  readonly #shownUrl: string;
  readonly #stream: boolean;
  readonly #steps: CallSteps | null;
  readonly #watchers: ((call: AiCall, info: AttemptInfo) => void)[];
  /** Keep-alive sockets to the provider, at most one per request the bulkhead lets run. */
  readonly #agent: Agent;
  readonly #httpsAgent: HttpsAgent;

  constructor(options: AiClientOptions) {
    this.#o = options;
    this.#agent = leanHttpAgent({ keepAlive: true, maxSockets: options.maxConcurrency, scheduling: 'lifo' });
    this.#httpsAgent = leanHttpsAgent({ keepAlive: true, maxSockets: options.maxConcurrency, scheduling: 'lifo' });
    this.#url = new URL(options.provider.path, options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`).toString();
    this.#shownUrl = displayUrl(this.#url);
    this.#stream = (options.stream ?? DEFAULTS.AI_STREAM) && options.provider.streams;
    this.#steps = options.steps ?? null;
    this.#watchers = options.steps ? [options.steps.gate, options.steps.reserve, options.steps.settle].flatMap((s) => (s.onAttempt ? [s.onAttempt.bind(s)] : [])) : [];
    this.#policies = new AiPolicies(options);
    this.#transport = {
      provider: options.provider, url: this.#url, maxResponseBytes: options.maxResponseBytes ?? DEFAULTS.AI_MAX_RESPONSE_BYTES,
      // got with the options of every attempt, normalised once; attempts use its stream API, whose
      // promise API would wrap the same stream in a second layer costing about a quarter of a call.
      got: got.extend({
        method: 'POST', headers: { 'content-type': 'application/json', ...options.provider.headers(options.apiKey ?? '') },
        throwHttpErrors: false, retry: { limit: 0 }, decompress: false, agent: { http: this.#agent, https: this.#httpsAgent },
      }),
    };
  }

  /** Closes the idle keep-alive sockets (shutdown). */
  close(): void {
    this.#agent.destroy();
    this.#httpsAgent.destroy();
  }

  /** The breaker's state now. */
  get breakerState(): BreakerState {
    return this.#policies.breakerState;
  }

  /** Calls `listener` on every breaker state change; returns a function that stops it. */
  onBreakerStateChange(listener: (s: BreakerState) => void): () => void {
    return this.#policies.onBreakerStateChange(listener);
  }

  /** Makes one call: the steps, the policies and the transport; resolves with the answer. */
  async complete(request: AiRequest, options: CallOptions): Promise<AiAnswer> {
    const call = describeCall(request, this.#o.provider.name, this.#stream);
    const steps = this.#steps;
    if (!steps) return this.#run(call, request, options);
    const pass = await steps.gate.enter(call, options.signal);
    let reservation: Reservation;
    try {
      reservation = await steps.reserve.reserve(call, options.signal);
    } catch (e) {
      pass.leave();
      throw e;
    }
    // The call is returned as a promise chain, not awaited here: this frame ends rather than staying
    // suspended while the answer is awaited. The outcome is settled, then the gate left, whatever happens.
    const settle = async (outcome: CallOutcome): Promise<void> => {
      try {
        await steps.settle.settle(call, reservation, outcome);
      } finally {
        pass.leave();
      }
    };
    let running: Promise<AiAnswer>;
    try {
      running = this.#run(call, request, options);
    } catch (error) {
      running = Promise.reject(error);
    }
    return running.then(async (answer) => {
      await settle({ ok: true, answer });
      return answer;
    }, async (error: unknown) => {
      await settle({ ok: false, error });
      throw error;
    });
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

  /** A promise chain, not an async function: no suspended frame held per call in flight. */
  #run(call: AiCall & { attempts: AttemptInfo[] }, request: AiRequest, options: CallOptions): Promise<AiAnswer> {
    // The first attempt's body is built here, so a request that cannot be written fails before the policies;
    // each attempt takes its body once and the transport lets it go once written (a retry builds its own):
    // no closure of the call keeps a second copy of the prompt while the answer is awaited.
    let first: string | null = JSON.stringify(this.#o.provider.body(request, call.stream));
    const body = (): string => {
      const b = first ?? JSON.stringify(this.#o.provider.body(request, call.stream));
      first = null;
      return b;
    };
    return this.#policies.run((n) => this.#attempt(call, request, body, n, options), options.signal).catch((e: unknown) => {
      if (options.signal.aborted) throw options.signal.reason;
      const o = this.#o;
      throw callError(e, { provider: o.provider.name, model: call.model, attempts: call.attempts.length, maxConcurrency: o.maxConcurrency, maxQueue: o.maxQueue });
    });
  }

  async #attempt(call: AiCall & { attempts: AttemptInfo[] }, request: AiRequest, body: () => string, n: number, options: CallOptions): Promise<AiAnswer> {
    // The guard runs in the same turn as the request is handed to got: nothing of the attempt is sent when it refuses.
    const refused = options.guard?.();
    if (refused) throw new ForeignError(refused);
    const started = performance.now();
    const onChunk = options.onChunk;
    const sink: Sink = {
      status: null, headers: NO_HEADERS, chunks: 0, bytes: 0,
      response(status, headers) {
        sink.status = status;
        sink.headers = limitHeaders(headers);
      },
      chunk: onChunk
        ? (text) => {
          try {
            onChunk({ attempt: n, index: sink.chunks++, text });
          } catch (e) {
            throw new ForeignError(e);
          }
        }
        : () => void sink.chunks++,
    };
    // Returned as a promise chain, not awaited: this frame ends rather than staying suspended while the answer is awaited.
    return this.#policies.timed((signal) => sendAttempt(this.#transport, request, body, call.stream, signal, sink), options.signal).then((a): AiAnswer => {
      const durationMs = performance.now() - started;
      this.#report(call, options, {
        provider: call.provider, model: call.model, url: this.#shownUrl, attempt: n, durationMs, status: sink.status, outcome: 'ok', failure: null,
        tokens: a.tokens, usage: a.usage, headers: sink.headers, streamed: a.streamed, chunks: sink.chunks, bytes: sink.bytes,
      });
      const u = a.usage ?? UNKNOWN_USAGE;
      return {
        text: a.text, model: a.model, tokens: a.tokens, providerMs: a.providerMs ?? Math.round(durationMs), streamed: a.streamed,
        usage: { input: u.input, output: u.output, cached_input: u.cached_input, reasoning: u.reasoning, attempt: n },
      };
    }).catch((e: unknown): never => {
      // As a catch around the whole attempt: an observer throwing in the report of an answer fails the attempt.
      const cancelled = options.signal.aborted || e instanceof ForeignError;
      this.#report(call, options, {
        provider: call.provider, model: call.model, url: this.#shownUrl, attempt: n, durationMs: performance.now() - started,
        status: sink.status, outcome: cancelled ? 'cancelled' : isTransient(e) ? 'transient' : e instanceof AiHttpError ? 'rejected' : e instanceof AiTooLargeError ? 'too_large' : 'bad_response',
        failure: cancelled ? null : attemptFailure(e) ?? 'bad_response', tokens: null, usage: null, headers: sink.headers, streamed: false,
        chunks: sink.chunks, bytes: sink.bytes, error: e instanceof ForeignError ? String((e.error as Error)?.message ?? e.error) : e instanceof Error ? e.message : String(e),
      });
      const after = options.moveOnAfter;
      if (after !== undefined && !cancelled && isTransient(e)) {
        const longWait = e instanceof AiHttpError && e.status === 429 && (e.retryAfterMs ?? 0) > this.#o.retryAfterMaxMs;
        if (n >= after || longWait) throw new AiMoveOnError(e);
      }
      // A call cancelled by its caller (lease lost, shutdown, cancel) says nothing of the provider: the breaker must not count it.
      if (options.signal.aborted && !(e instanceof ForeignError)) throw options.signal.reason;
      throw e;
    });
  }

  #report(call: AiCall & { attempts: AttemptInfo[] }, options: CallOptions, info: AttemptInfo): void {
    call.attempts.push(info);
    this.#o.onAttempt?.(info);
    options.onAttempt?.(info);
    for (const w of this.#watchers) w(call, info);
  }
}
