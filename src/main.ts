/**
 * The composition root of the worker process: configuration, logger, HTTP endpoints (first, so a
 * health check answers while NATS is still being reached), the NATS connection, then the worker
 * stack (`runner.ts`), and signals. SIGTERM, SIGINT or SIGHUP stops it gracefully (exit 0); a second
 * signal exits at once (130). An invalid configuration, a topology that does not match, or a
 * missing permission exits with 2.
 */
import { hostname } from 'node:os';
import { PermissionViolationError } from '@nats-io/nats-core';
import type { AiClient, AttemptInfo } from './ai/client.ts';
import { createAiEndpoints, endpointClient, type AiEndpoints } from './ai/endpoints.ts';
import { aiTaskBody } from './tasks/ai-task-body.ts';
import { loadConfig, unknownVariables } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { AltlasError, isAltlasError, toAltlasError } from './errors.ts';
import { HttpServer } from './http/server.ts';
import { AiGate } from './messaging/ai-gate.ts';
import { connectNats, type Connection } from './messaging/connect.ts';
import { covers } from './messaging/topology.ts';
import { assembleWorker, callLifeMs, type Assembled } from './runner.ts';
import { payloadCodec, type Codec } from './security/codec.ts';
import { createLogger, type Logger } from './telemetry/logger.ts';
import { RunnerMetrics } from './telemetry/metrics.ts';
import { startTelemetry } from './telemetry/sdk.ts';
import { combineSteps, type CallSteps } from './ai/steps.ts';
import { UsageRecorder } from './usage/recorder.ts';
import { Budgets } from './budget/budgets.ts';
import { loadTenantBudgets } from './budget/tenant-budgets.ts';
import { ModelBudgets } from './budget/model-budgets.ts';
import { loadAiLimits } from './flow/model-limits.ts';
import { loadPrices, type PriceTable } from './usage/prices.ts';
import { recordAiAttempt } from './telemetry/tracing.ts';
import { startRetrying } from './start-retry.ts';
import { readBacklog, type Backlog } from './ops/backlog.ts';
import { logProcessExit, setExitReason } from './telemetry/process-exit.ts';

/** The default endpoint's client (AI_PROVIDER at AI_URL) with the configured policies. */
export function createAiClient(config: Config, onAttempt?: (info: AttemptInfo) => void, steps?: CallSteps): AiClient {
  return endpointClient(config, config.AI_PROVIDER, config.AI_URL, onAttempt, steps);
}

/** True when an attempt shows the AI side up: it answered (even with a refusal or an answer we cannot use). */
export const aiAnswered = (info: AttemptInfo): boolean => info.outcome !== 'transient' && info.outcome !== 'cancelled';

/** The checks of the configuration that concern more than one variable. */
export function checkConfig(config: Config): Codec {
  const codec = payloadCodec(config.PAYLOAD_KEYS);
  if (config.ARCHIVE_NOTIFY_SUBJECT && covers([`${config.LAST_SUBJECT_PREFIX}.>`], config.ARCHIVE_NOTIFY_SUBJECT)) {
    throw new AltlasError('CONFIG_INVALID', `ARCHIVE_NOTIFY_SUBJECT=${config.ARCHIVE_NOTIFY_SUBJECT} falls inside the LAST stream's subjects (${config.LAST_SUBJECT_PREFIX}.>): the stream would store the notifications. Use another subject and bridge it (see the README, "Archive hand-off")`);
  }
  const others = [
    ['ALT_SUBJECTS', config.ALT_SUBJECTS.split(',').map((x) => x.trim())], ['LAST_SUBJECT_PREFIX', [`${config.LAST_SUBJECT_PREFIX}.>`]], ['DLQ_SUBJECT_PREFIX', [`${config.DLQ_SUBJECT_PREFIX}.>`]],
    ['PROGRESS_SUBJECT_PREFIX', [`${config.PROGRESS_SUBJECT_PREFIX}.>`]], ['PROGRESS_LIVE_PREFIX', [`${config.PROGRESS_LIVE_PREFIX}.>`]],
  ] as const;
  for (const [name, subjects] of others) {
    if (covers(subjects, `${config.USAGE_SUBJECT_PREFIX}.x.y`)) throw new AltlasError('CONFIG_INVALID', `USAGE_SUBJECT_PREFIX=${config.USAGE_SUBJECT_PREFIX} falls inside the subjects of ${name}: usage records need a stream of their own`);
  }
  const progress = `${config.PROGRESS_SUBJECT_PREFIX}.>`;
  const live = `${config.PROGRESS_LIVE_PREFIX}.>`;
  if (covers([progress], live) || covers([live], progress)) {
    throw new AltlasError('CONFIG_INVALID', `PROGRESS_LIVE_PREFIX=${config.PROGRESS_LIVE_PREFIX} and PROGRESS_SUBJECT_PREFIX=${config.PROGRESS_SUBJECT_PREFIX} overlap: the progress stream would store what it republishes. Use prefixes that do not contain each other`);
  }
  return codec;
}

/** The job and tenant budgets of a configuration (BUDGET_TENANTS read and checked here). Throws CONFIG_INVALID. */
export function createBudgets(config: Config, prices: PriceTable | null): Budgets {
  const tenants = config.BUDGET_TENANTS ? loadTenantBudgets(config.BUDGET_TENANTS) : null;
  const tenantCost = tenants && [tenants.default, ...Object.values(tenants.tenants ?? {})].some((t) => t && Object.values(t).some((p) => p?.cost !== undefined));
  if (!prices && (config.BUDGET_JOB_COST !== undefined || tenantCost)) {
    throw new AltlasError('CONFIG_INVALID', `invalid configuration:\n  ${config.BUDGET_JOB_COST !== undefined ? 'BUDGET_JOB_COST' : 'BUDGET_TENANTS'} sets a budget in money, which needs the price table AI_PRICES (without it every call's cost is unknown)`);
  }
  return new Budgets({
    prices, maxOutput: config.BUDGET_MAX_TOKENS, jobDefaults: { tokens: config.BUDGET_JOB_TOKENS, cost: config.BUDGET_JOB_COST },
    tenants, tenantExceeded: config.BUDGET_TENANT_EXCEEDED, holdTtlMs: callLifeMs(config), hourMs: config.BUDGET_HOUR_MS,
  });
}

/** The rate limits per provider and model (AI_LIMITS read and checked here; learned limits apply without it). Throws CONFIG_INVALID. */
export function createModelBudgets(config: Config, onRoom?: () => void): ModelBudgets {
  return new ModelBudgets({
    doc: config.AI_LIMITS ? loadAiLimits(config.AI_LIMITS) : null, holdTtlMs: callLifeMs(config), maxWaitMs: config.AI_LIMITS_MAX_WAIT_MS,
    defaultOutput: config.BUDGET_MAX_TOKENS, defaultModel: { provider: config.AI_PROVIDER, model: config.AI_MODEL }, onRoom,
  });
}

/** Turns a permission violation met at start-up into PERMISSION_DENIED naming the subject. */
function startupError(e: unknown): AltlasError {
  const pe = e instanceof PermissionViolationError ? e : (e as { cause?: unknown })?.cause instanceof PermissionViolationError ? (e as { cause: PermissionViolationError }).cause : null;
  if (pe) return new AltlasError('PERMISSION_DENIED', `the NATS user may not ${pe.operation} ${pe.subject}`, { cause: e, context: { subject: pe.subject } });
  return toAltlasError(e);
}

/** The exit code of a start-up failure: 2 for what an operator must fix in the configuration or the server. */
const exitFor = (e: AltlasError) => (['TOPOLOGY_MISMATCH', 'PERMISSION_DENIED', 'CONFIG_INVALID'].includes(e.code) ? 2 : 1);

/** Why a worker is not ready: while starting, the step it is at; once running, the first failing check in words. */
export function notReady(phase: string, checks: Record<'nats_connected' | 'consumer_bound' | 'ai_breaker_not_open' | 'not_shutting_down', boolean>): string {
  if (!checks.not_shutting_down) return 'shutting down';
  if (phase !== 'running') return phase;
  if (!checks.nats_connected) return 'nats: disconnected, reconnecting';
  if (!checks.ai_breaker_not_open) return 'the AI circuit breaker is open: the AI side is not answering';
  return 'the worker is not pulling work';
}

/** The signals that stop the worker gracefully (a second one exits at once). */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/** Runs the worker until a signal; resolves with the exit code. */
export async function runWorker(env: Record<string, string | undefined> = process.env, warnings: readonly string[] = []): Promise<number> {
  let config: Config;
  let codec: Codec;
  let prices: PriceTable | null;
  let budgets: Budgets;
  let limits: ModelBudgets;
  let stack: Assembled | null = null;
  try {
    config = loadConfig(env);
    codec = checkConfig(config);
    prices = config.AI_PRICES ? loadPrices(config.AI_PRICES) : null;
    budgets = createBudgets(config, prices);
    limits = createModelBudgets(config, () => stack?.worker.kick());
  } catch (e) {
    if (!isAltlasError(e, 'CONFIG_INVALID')) throw e;
    process.stderr.write(`altlas worker: ${e.message}\n`);
    return 2;
  }
  const telemetry = await startTelemetry();
  const workerId = `${hostname()}:${process.pid}`;
  const logger: Logger = createLogger({ level: config.LOG_LEVEL, redactKeys: config.logRedactKeys, defaultMeta: { service: 'altlas-runner', worker_id: workerId } });
  for (const w of [...warnings, ...unknownVariables(env)]) logger.warn(w, { code: 'CONFIG_WARNING' });
  // Every path that ends the process from here on leaves a `process exit` line saying why.
  logProcessExit({ service: 'altlas-runner', worker_id: workerId });

  // Signals first: a shutdown while connecting stops the retries.
  const shutdown = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      logger.warn('second signal: exiting now', { signal });
      setExitReason(`second signal ${signal}: exiting at once`);
      process.exit(130);
    }
    logger.info('shutting down', { signal });
    setExitReason(`signal ${signal}: shut down`);
    shutdown.abort();
  };
  // SIGHUP too: without a handler it ends a Node.js process at once and without a line (nohup does
  // not help: Node.js resets an ignored SIGHUP), e.g. a stopped worker whose process group loses
  // its last link to its session gets SIGHUP from the kernel.
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);

  let phase = 'starting';
  let conn: Connection | null = null;
  let metrics: RunnerMetrics | null = null;
  const gate = new AiGate({ probeMs: config.AI_BREAKER_HALF_OPEN_MS, health: () => client.health(), onChange: (down) => {
    if (down) logger.warn('the AI side is down: the worker takes no new work; waiting jobs keep their leases', { probe_ms: config.AI_BREAKER_HALF_OPEN_MS });
    else {
      logger.info('the AI side answers again: waiting jobs go on and the worker takes work again');
      stack?.worker.kick();
    }
  } });
  const usage = new UsageRecorder({ prices, worker: workerId, subjectPrefix: config.USAGE_SUBJECT_PREFIX, logger, onRecord: (r) => metrics?.usage(r) });
  let endpoints: AiEndpoints;
  try {
    endpoints = createAiEndpoints(config, {
      onAttempt: (info) => {
        recordAiAttempt(info);
        metrics?.ai(info);
        if (aiAnswered(info)) gate.markUp();
      },
      steps: combineSteps([{ settle: usage }, { reserve: budgets.steps, settle: budgets.steps }, { reserve: limits, settle: limits }]),
      onFallback: (from, to) => metrics?.fallback(from, to),
    });
  } catch (e) {
    if (!isAltlasError(e, 'CONFIG_INVALID')) throw e;
    logger.error('worker could not start', { code: e.code, error: e.message });
    setExitReason(`could not start: ${e.code}`);
    gate.close();
    await telemetry.shutdown();
    for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
    return 2;
  }
  const client = endpoints.primary;
  client.onBreakerStateChange((state) => logger.warn('AI circuit breaker state changed', { state }));
  let polled: Backlog | null = null;
  metrics = new RunnerMetrics({ inFlight: () => stack?.worker.state.inFlight ?? 0, paused: () => (stack?.worker.paused ? 1 : 0), concurrency: () => stack?.worker.concurrency ?? config.RUNNER_CONCURRENCY, breakerState: () => client.breakerState, waiting: () => gate.waiting, consumer: () => polled, limits: () => limits.figures(),
    running: () => stack?.worker.runningSubjects ?? [], queued: config.RUNNER_LANES ? () => stack?.worker.laneCounts ?? [] : undefined, maxTenants: config.RUNNER_METRICS_TENANTS });
  const http = config.HTTP_PORT > 0 ? new HttpServer({
    port: config.HTTP_PORT,
    readiness: () => {
      const checks = {
        nats_connected: conn?.connected() ?? false, consumer_bound: stack?.worker.state.running ?? false,
        ai_breaker_not_open: client.breakerState !== 'open', not_shutting_down: !shutdown.signal.aborted,
      };
      const ready = Object.values(checks).every(Boolean);
      return { ready, checks, ...(ready ? {} : { reason: notReady(phase, checks) }) };
    },
    metrics: (req, res) => telemetry.serveMetrics(req, res),
  }) : null;
  if (http) {
    try {
      logger.info('HTTP endpoints listening', { port: await http.listen() });
    } catch (e) {
      // Most often a second worker on the host: the port is the operator's to choose.
      const inUse = (e as NodeJS.ErrnoException).code === 'EADDRINUSE';
      const message = inUse
        ? `HTTP_PORT ${config.HTTP_PORT} is in use (another worker on this host?): set HTTP_PORT to a free port for each worker, or 0 to turn /healthz, /readyz and /metrics off`
        : `cannot listen on HTTP_PORT ${config.HTTP_PORT}: ${(e as Error).message}`;
      logger.error('worker could not start', { code: 'CONFIG_INVALID', error: message });
      setExitReason(`could not start: ${message}`);
      metrics.close();
      gate.close();
      endpoints.close();
      await telemetry.shutdown();
      for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
      return 2;
    }
  }
  const finish = async (code: number) => {
    await stack?.close();
    endpoints.close();
    if (conn) await conn.nc.drain().catch(() => conn?.nc.close());
    await http?.close().catch(() => {});
    metrics?.close();
    gate.close();
    await telemetry.shutdown();
    for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
    logger.info('bye');
    return code;
  };

  try {
    conn = await connectNats(config, `altlas-runner ${workerId}`, { role: 'runner', logger, signal: shutdown.signal, onAttempt: (s) => (phase = s) });
  } catch (e) {
    logger.error('gave up connecting to NATS', { code: toAltlasError(e).code, error: (e as Error).message });
    if (!shutdown.signal.aborted) setExitReason(`gave up connecting to NATS: ${toAltlasError(e).code}`);
    return finish(shutdown.signal.aborted ? 0 : 1);
  }
  try {
    stack = await startRetrying(() => {
      phase = 'checking the topology and the buckets';
      return assembleWorker({
        conn: conn!, config, logger, codec, workerId, gate, client, metrics: () => metrics, prices, usage, budgets, limits,
        onDrained: () => {
          setExitReason('drained (altlas drain): nothing runs here any more');
          shutdown.abort();
        },
        body: { make: ({ progress }) => aiTaskBody(endpoints.caller, { defaultModel: config.AI_MODEL, progress, prices, capOutput: (jobId, tenant) => budgets.capOutput(jobId, tenant) }) },
      });
    }, {
      signal: shutdown.signal, classify: startupError,
      onRetry: (error, attempt, delayMs) => {
        logger.warn('could not start: NATS did not answer; retrying', { code: 'NATS_UNREACHABLE', error: error.message, attempt, next_retry_ms: delayMs });
        phase = `waiting for NATS to answer (attempt ${attempt}): ${error.message}`;
      },
    });
  } catch (e) {
    const error = startupError(e);
    if (shutdown.signal.aborted) return finish(0);
    logger.error('worker could not start', { code: error.code, error: error.message });
    setExitReason(`could not start: ${error.code}`);
    return finish(exitFor(error));
  }
  phase = 'running';
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const jsm = await jetstreamManager(conn.nc);
  const poll = async () => {
    polled = (await readBacklog(jsm, config.ALT_STREAM, config.RUNNER_DURABLE)) ?? polled;
  };
  void poll();
  const poller = setInterval(() => void poll(), 10_000);
  poller.unref();
  await new Promise<void>((resolve) => (shutdown.signal.aborted ? resolve() : shutdown.signal.addEventListener('abort', () => resolve(), { once: true })));
  clearInterval(poller);
  return finish(0);
}
