/**
 * The composition root of the worker process: configuration, logger, AI client, NATS
 * connection, worker, and signals. SIGTERM or SIGINT stops it gracefully (exit 0); a second
 * signal exits at once (130). An invalid configuration exits with 2.
 */
import { hostname } from 'node:os';
import { AiClient } from './ai/client.ts';
import { PROVIDERS } from './ai/providers.ts';
import { aiTaskBody } from './ai/task-body.ts';
import { decodeLimits, loadConfig } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { isAltlasError, toAltlasError } from './errors.ts';
import { connectNats } from './messaging/connect.ts';
import { Worker } from './messaging/worker.ts';
import { createLogger, type Logger } from './telemetry/logger.ts';
import type { TaskEvent } from './engine/types.ts';
import { HttpServer } from './http/server.ts';
import { RunnerMetrics } from './telemetry/metrics.ts';
import { startTelemetry } from './telemetry/sdk.ts';
import { recordAiAttempt } from './telemetry/tracing.ts';
import { jetstreamManager } from '@nats-io/jetstream';
import type { AttemptInfo } from './ai/client.ts';
import { openStores } from './status/open.ts';
import { Recorder } from './status/recorder.ts';

export function createAiClient(config: Config, onAttempt?: (info: AttemptInfo) => void): AiClient {
  return new AiClient({
    onAttempt,
    provider: PROVIDERS[config.AI_PROVIDER], baseUrl: config.AI_URL, apiKey: config.AI_API_KEY,
    timeoutMs: config.AI_TIMEOUT_MS, maxRetries: config.AI_MAX_RETRIES, retryBaseMs: config.AI_RETRY_BASE_MS,
    retryMaxMs: config.AI_RETRY_MAX_MS, retryAfterMaxMs: config.AI_RETRY_AFTER_MAX_MS, maxConcurrency: config.AI_MAX_CONCURRENCY,
    maxQueue: config.AI_MAX_QUEUE, breakerThreshold: config.AI_BREAKER_THRESHOLD, breakerHalfOpenMs: config.AI_BREAKER_HALF_OPEN_MS,
  });
}

function logTaskEvent(logger: Logger, e: TaskEvent): void {
  if (e.type === 'attempt_failed') logger.warn('task attempt failed', { task_id: e.taskId, attempt: e.attempt, code: e.code, error: e.error });
  else if (e.type === 'task_retrying') logger.warn('retrying task', { task_id: e.taskId, attempt: e.attempt, delay_ms: e.delayMs });
  else if (e.type === 'task_finished') logger.debug('task finished', { task_id: e.taskId, status: e.result.status, duration_ms: e.result.duration_ms, code: e.result.error_code ?? undefined });
}

/** Runs the worker until a signal; resolves with the exit code. */
export async function runWorker(env: Record<string, string | undefined> = process.env): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (e) {
    if (!isAltlasError(e, 'CONFIG_INVALID')) throw e;
    process.stderr.write(`altlas worker: ${e.message}\n`);
    return 2;
  }
  const telemetry = startTelemetry();
  const workerId = `${hostname()}:${process.pid}`;
  const logger = createLogger({ level: config.LOG_LEVEL, redactKeys: config.LOG_REDACT.split(',').map((s) => s.trim()).filter(Boolean), defaultMeta: { service: 'altlas-runner', worker_id: workerId } });
  let metrics: RunnerMetrics | null = null;
  const client = createAiClient(config, (info) => {
    recordAiAttempt(info);
    metrics?.ai(info);
    if (info.outcome === 'transient') logger.warn('AI attempt failed; it may be retried', { attempt: info.attempt, status: info.status ?? undefined, error: info.error, model: info.model });
  });
  client.onBreakerStateChange((state) => logger.warn('AI circuit breaker state changed', { state }));
  const { nc, connected } = await connectNats(config, `altlas-runner ${workerId}`, logger);
  let polled: { pending: number; ackPending: number } | null = null;
  let shuttingDown = false;
  const recorder = await openStores(nc, config).then(
    (stores) => new Recorder({ status: stores.status, checkpoints: stores.checkpoints, workerId, flushMs: config.RUNNER_STATUS_FLUSH_MS, logger }),
    (e: Error) => {
      logger.warn('job status and checkpoints are off: their buckets could not be opened', { error: e.message, bucket: config.RUNNER_STATUS_BUCKET });
      return undefined;
    },
  );
  const worker = new Worker({
    nc, config, logger, recorder,
    onOutcome: (o) => metrics?.outcome(o),
    delivery: {
      limits: decodeLimits(config),
      body: aiTaskBody(client, { defaultModel: config.AI_MODEL }),
      nakDelayMs: config.RUNNER_NAK_DELAY_MS,
      nakMaxDelayMs: config.RUNNER_NAK_MAX_DELAY_MS,
      engine: {
        concurrency: config.RUNNER_TASK_CONCURRENCY,
        defaultTimeoutS: config.RUNNER_TASK_TIMEOUT_S,
        retry: { baseMs: config.RUNNER_TASK_RETRY_BASE_MS, maxMs: config.RUNNER_TASK_RETRY_MAX_MS },
        onEvent: (e) => {
          logTaskEvent(logger, e);
          metrics?.task(e);
        },
      },
    },
  });
  metrics = new RunnerMetrics({ inFlight: () => worker.state.inFlight, breakerState: () => client.breakerState, consumer: () => polled });
  const http = config.HTTP_PORT > 0 ? new HttpServer({
    port: config.HTTP_PORT,
    readiness: () => {
      const checks = { nats_connected: connected(), consumer_bound: worker.state.running, ai_breaker_not_open: client.breakerState !== 'open', not_shutting_down: !shuttingDown };
      return { ready: Object.values(checks).every(Boolean), checks };
    },
    metrics: (req, res) => telemetry.prometheus.getMetricsRequestHandler(req, res),
  }) : null;
  if (http) logger.info('HTTP endpoints listening', { port: await http.listen() });
  try {
    await worker.start();
  } catch (e) {
    const error = toAltlasError(e);
    logger.error('worker could not start', { code: error.code, error: error.message });
    await http?.close();
    await nc.close();
    await telemetry.shutdown();
    return error.code === 'TOPOLOGY_MISMATCH' ? 2 : 1;
  }
  const jsm = await jetstreamManager(nc);
  const poll = async () => {
    const info = await jsm.consumers.info(config.ALT_STREAM, config.RUNNER_DURABLE).catch(() => null);
    polled = info ? { pending: info.num_pending, ackPending: info.num_ack_pending } : polled;
  };
  void poll();
  const poller = setInterval(() => void poll(), 10_000);
  poller.unref();
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        logger.warn('second signal: exiting now', { signal });
        process.exit(130);
      }
      logger.info('shutting down', { signal });
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  shuttingDown = true;
  clearInterval(poller);
  // Each step runs even when one before it fails.
  await worker.close().catch((e: Error) => logger.error('worker close failed', { error: e.message }));
  await nc.drain().catch((e: Error) => logger.warn('drain failed', { error: e.message }));
  await http?.close().catch(() => {});
  metrics.close();
  await telemetry.shutdown();
  logger.info('bye');
  return 0;
}
