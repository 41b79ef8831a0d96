/**
 * The AI endpoints of a worker: the default one (AI_PROVIDER at AI_URL, the client the rest of the
 * worker knows: readiness, breaker gauge) and those of AI_ENDPOINTS, each an AiClient with the same
 * policies, steps and observer; and the fallback client that runs a task's call along its chain.
 */
import type { Config } from '../config/schema.ts';
import { AiClient, type AttemptInfo } from './client.ts';
import { DEFAULT_ENDPOINT, parseEndpoints, parseFallbackConfig } from './fallback.ts';
import { FallbackClient } from './fallback-client.ts';
import { PROVIDERS } from './providers.ts';
import type { CallSteps } from './steps.ts';

/** The clients of a worker. */
export interface AiEndpoints {
  /** AI_PROVIDER at AI_URL. */
  primary: AiClient;
  /** Every endpoint's client by name (`default` included). */
  clients: ReadonlyMap<string, AiClient>;
  /** What AI tasks call: the chain of each call. */
  caller: FallbackClient;
  close(): void;
}

/** One endpoint's client with the configured policies. */
export function endpointClient(config: Config, provider: keyof typeof PROVIDERS, baseUrl: string, onAttempt?: (info: AttemptInfo) => void, steps?: CallSteps): AiClient {
  return new AiClient({
    onAttempt, steps,
    provider: PROVIDERS[provider], baseUrl, apiKey: config.AI_API_KEY,
    timeoutMs: config.AI_TIMEOUT_MS, maxRetries: config.AI_MAX_RETRIES, retryBaseMs: config.AI_RETRY_BASE_MS,
    retryMaxMs: config.AI_RETRY_MAX_MS, retryAfterMaxMs: config.AI_RETRY_AFTER_MAX_MS, maxConcurrency: config.AI_MAX_CONCURRENCY,
    maxQueue: config.AI_MAX_QUEUE, breakerThreshold: config.AI_BREAKER_THRESHOLD, breakerHalfOpenMs: config.AI_BREAKER_HALF_OPEN_MS,
    stream: config.AI_STREAM, maxResponseBytes: config.AI_MAX_RESPONSE_BYTES,
  });
}

/**
 * The endpoints of a configuration (AI_ENDPOINTS and AI_FALLBACK read and checked here: throws
 * CONFIG_INVALID), with `onFallback` told of every move to the next pair.
 */
export function createAiEndpoints(config: Config, options: { onAttempt?: (info: AttemptInfo) => void; steps?: CallSteps; onFallback?: (from: string, to: string, failure: string) => void } = {}): AiEndpoints {
  const extra = parseEndpoints(config.AI_ENDPOINTS);
  const configured = parseFallbackConfig(config.AI_FALLBACK);
  const primary = endpointClient(config, config.AI_PROVIDER, config.AI_URL, options.onAttempt, options.steps);
  const clients = new Map<string, AiClient>([[DEFAULT_ENDPOINT, primary]]);
  for (const e of extra) clients.set(e.name, endpointClient(config, e.provider, e.url, options.onAttempt, options.steps));
  const caller = new FallbackClient({
    endpoints: clients, configured, attemptsPerPair: config.AI_FALLBACK_ATTEMPTS,
    breakerThreshold: config.AI_BREAKER_THRESHOLD, breakerHalfOpenMs: config.AI_BREAKER_HALF_OPEN_MS, onFallback: options.onFallback,
  });
  return { primary, clients, caller, close: () => clients.forEach((c) => c.close()) };
}
