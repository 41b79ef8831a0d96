/**
 * Assembles a running worker on a connection: topology, buckets, engine and observers, decoder,
 * publisher, the max-deliveries guard, the janitor, heartbeats and the cancel watch. The worker
 * process (`main.ts`) and the benchmarks build the same stack here.
 */
import { hostname } from 'node:os';
import { withApprovals } from './approval/body.ts';
import { ParkStore } from './approval/park.ts';
import { sweepParks } from './approval/sweep.ts';
import { keptAltObject, readSeed } from './replay/seed.ts';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { AiClient } from './ai/client.ts';
import { DecodePool } from './alt/decode-pool.ts';
import { recoverAltId } from './alt/recover-id.ts';
import { decodeLimits } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { Engine } from './engine/engine.ts';
import type { TaskBody, TaskEvent } from './engine/types.ts';
import { toAltlasError } from './errors.ts';
import { AiGate } from './messaging/ai-gate.ts';
import { ArchiveForwarder, ensureArchiveConsumer } from './messaging/archive.ts';
import { connectLike, inboxPrefixOf, type Connection } from './messaging/connect.ts';
import { ExhaustedGuard, sweepAltStream } from './messaging/exhausted.ts';
import type { Delivery } from './contract/delivery.ts';
import { Publisher } from './messaging/publisher.ts';
import { ProgressPublisher } from './progress/publisher.ts';
import { logProgressTrouble } from './progress/trouble.ts';
import { StreamPublisher } from './messaging/stream-publish.ts';
import type { RunContext } from './messaging/run-context.ts';
import { MIN_MAX_ACK_PENDING, ensureTopology } from './messaging/topology.ts';
import { lanePrefixOf } from './flow/lanes.ts';
import { parseTenantWeights } from './flow/weights.ts';
import { Worker, versionAtLeast, type OutcomeReport } from './messaging/worker.ts';
import { IDENTITY_CODEC, isSealed, type Codec } from './security/codec.ts';
import { configureRedaction } from './security/redact.ts';
import { CancelWatch, Heartbeat, cancelCovers } from './status/fleet.ts';
import { openStores, storeError } from './status/open.ts';
import { Recorder } from './status/recorder.ts';
import { FLEET, HistoryWriter, fleetHistorySubject, historyEvent } from './status/history.ts';
import { ControlWatch, drainKey } from './status/control.ts';
import type { Logger } from './telemetry/logger.ts';
import type { RunnerMetrics } from './telemetry/metrics.ts';
import { toNanos, type PriceTable } from './usage/prices.ts';
import type { UsageRecorder } from './usage/recorder.ts';
import type { Budgets } from './budget/budgets.ts';
import { FleetSlices } from './flow/fleet-slices.ts';
import type { ModelBudgets } from './budget/model-budgets.ts';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { VERSION } from './version.ts';

export interface AssembleOptions {
  conn: Pick<Connection, 'nc' | 'connected' | 'onReconnect'>;
  config: Config;
  logger: Logger;
  /** The AI task body: given, or made from what the stack wires (the progress publisher). */
  body: TaskBody<RunContext> | { make(wiring: BodyWiring): TaskBody<RunContext> };
  /** The AI client (breaker state for heartbeats and the gate); absent with an in-process body. */
  client?: AiClient;
  gate?: AiGate;
  codec?: Codec;
  workerId?: string;
  metrics?: () => RunnerMetrics | null;
  /** Job status, checkpoints, claims, heartbeats and cancels (default true; the benchmark's bare worker turns them off). */
  stores?: boolean;
  /** Milliseconds one pull request waits. */
  pullExpiresMs?: number;
  onOutcome?: (o: OutcomeReport) => void;
  /** The price table (AI_PRICES), loaded and checked at start; absent: costs are unknown. */
  prices?: PriceTable | null;
  /** The settle step that records each AI call's usage: it publishes through the worker's publisher once attached. */
  usage?: UsageRecorder;
  /** Job and tenant budgets (their steps are on the AI client's path); the tenants' are shared through the budgets bucket. */
  budgets?: Budgets | null;
  /** Rate limits per provider and model (their steps are on the AI client's path), shared through the limits bucket; the worker pulls only while they admit a job. */
  limits?: ModelBudgets | null;
  /** An operator drained this worker (altlas drain) and nothing runs any more: the process should stop (exit 0). */
  onDrained?: () => void;
}

/** What the stack hands the task body it makes. */
export interface BodyWiring {
  /** The progress stream's publisher and PROGRESS_DRAIN_MS; null with PROGRESS_ENABLED=false. */
  progress: { publisher: ProgressPublisher; drainMs: number } | null;
}

export interface Assembled {
  worker: Worker;
  engine: Engine<RunContext>;
  gate: AiGate;
  recorder?: Recorder;
  /** Stops everything assembled here (the worker first, with its grace period). */
  close(): Promise<void>;
}

/** Logs a task's retries in the job's own logger (alt_id, sequence, deliveries, task_id). */
function logTaskEvent(e: TaskEvent, context: RunContext | undefined): void {
  if (!context) return;
  const log = context.log;
  if (e.type === 'attempt_failed') log.warn('task attempt failed', { task_id: e.taskId, attempt: e.attempt, code: e.code, error: e.error });
  else if (e.type === 'task_retrying') log.warn('retrying task', { task_id: e.taskId, attempt: e.attempt, delay_ms: e.delayMs });
  else if (e.type === 'task_finished' && log.isDebugEnabled()) log.debug('task finished', { task_id: e.taskId, status: e.result.status, duration_ms: e.result.duration_ms, code: e.result.error_code ?? undefined });
}

/** Milliseconds an AI call can take at most, its retries and their waits included (a reservation's life). */
export const callLifeMs = (c: Pick<Config, 'AI_TIMEOUT_MS' | 'AI_MAX_RETRIES' | 'AI_RETRY_MAX_MS' | 'AI_RETRY_AFTER_MAX_MS'>): number =>
  c.AI_TIMEOUT_MS * (c.AI_MAX_RETRIES + 1) + Math.max(c.AI_RETRY_MAX_MS, c.AI_RETRY_AFTER_MAX_MS) * c.AI_MAX_RETRIES;

export function createEngine(config: Config, body: TaskBody<RunContext>): Engine<RunContext> {
  return new Engine<RunContext>({
    body,
    concurrency: config.RUNNER_TASK_CONCURRENCY,
    defaultTimeoutS: config.RUNNER_TASK_TIMEOUT_S,
    retry: { baseMs: config.RUNNER_TASK_RETRY_BASE_MS, maxMs: config.RUNNER_TASK_RETRY_MAX_MS },
    limits: { maxIterations: config.LOOP_MAX_ITERATIONS, maxCallDepth: config.CALL_MAX_DEPTH, maxInstances: config.ALT_MAX_TASKS },
  });
}

/** Builds and starts the worker stack; throws (TOPOLOGY_MISMATCH, PERMISSION_DENIED, ...) when it cannot. */
export async function assembleWorker(o: AssembleOptions): Promise<Assembled> {
  const { config, logger } = o;
  const { nc } = o.conn;
  // LOG_REDACT's extra key names reach everything the worker writes (.last metadata, status), not only its logs.
  configureRedaction(config.logRedactKeys);
  const codec = o.codec ?? IDENTITY_CODEC;
  const workerId = o.workerId ?? `${hostname()}:${process.pid}`;
  const stops: (() => Promise<unknown> | unknown)[] = [];
  const jsm = await jetstreamManager(nc);
  const info = await ensureTopology(jsm, config, logger);
  const ackWaitMs = Math.round((info.config.ack_wait ?? config.RUNNER_ACK_WAIT_MS * 1e6) / 1e6);
  const stores = o.stores === false ? null : await openStores(nc, config, workerId, codec);
  const out = new StreamPublisher(nc, inboxPrefixOf(nc));
  stops.push(() => out.close());
  if (o.usage) {
    o.usage.attach((subject, data, msgID) => out.publish(subject, data, { msgID, headers: natsHeaders() }));
    stops.push(() => o.usage?.close());
  }
  // Each job's events: published and never waited for (at most HISTORY_BUFFER unconfirmed; the rest dropped and counted),
  // in groups whose last message's PubAck confirms the others, sent before it on the same connection without a reply:
  // a connection of their own, closed once they are sent (stops run in reverse).
  const hconn = stores && config.HISTORY_ENABLED ? await connectLike(nc, 'history', logger) : null;
  const hnc = hconn?.nc;
  const hout = hnc ? new StreamPublisher(hnc, inboxPrefixOf(hnc)) : null;
  if (hnc) stops.push(() => hnc.close());
  if (hout) stops.push(() => hout.close());
  const history = hconn && hout ? new HistoryWriter({
    connected: hconn.connected,
    publish: (subject, data) => hout.publish(subject, data), post: (subject, data) => hconn.nc.publish(subject, data), prefix: config.HISTORY_SUBJECT_PREFIX, maxPending: config.HISTORY_BUFFER, flushMs: config.HISTORY_FLUSH_MS, codec,
    onDrop: (reason) => o.metrics?.()?.historyDropped(reason),
  }) : null;
  if (history) stops.push(() => history.flush());
  // While the history connection is lost (a server restart) no group is tried again. Once it is back,
  // what was sent before or meanwhile is not confirmed (its PubAck would only come at its timeout, if
  // ever), and every group waiting goes at once.
  if (hconn && hout && history) {
    hconn.onReconnect(() => {
      hout.failPending('sent before the connection was back');
      setImmediate(() => history.resendWaiting());
    });
  }
  // A status write is a publish to the bucket's subject: what kv.put sends, without its per-request cost.
  const statusSink = { put: (key: string, value: Uint8Array) => out.publish(`$KV.${config.RUNNER_STATUS_BUCKET}.${key}`, value) };
  const recorder = stores ? new Recorder({ status: statusSink, checkpoints: stores.checkpoints, workerId, flushMs: config.RUNNER_STATUS_FLUSH_MS, budgetMs: config.RUNNER_CHECKPOINT_BUDGET_MS, budgetCostNanos: toNanos(config.RUNNER_CHECKPOINT_BUDGET_COST), logger, codec, currency: o.prices?.currency ?? null, history }) : undefined;
  const publisher = new Publisher({ out, jsm, config, maxPayload: () => nc.info?.max_payload ?? 1_048_576, objects: stores ? async () => stores.bodyObjects : undefined, codec });
  if (o.budgets && stores) {
    const slices = new FleetSlices({
      store: stores.budgets, worker: workerId, leaseMs: config.BUDGET_SLICE_LEASE_MS, holdTtlMs: callLifeMs(config),
      onError: (e, key) => logger.warn('could not renew a slice of a tenant\'s budget; this worker spends what it holds until its lease ends', { key, error: e.message }),
    });
    o.budgets.attach(slices);
    slices.start();
    stops.push(() => slices.close());
  }
  if (o.limits && stores) {
    const slices = new FleetSlices({
      store: stores.limits, worker: workerId, leaseMs: config.AI_LIMITS_LEASE_MS, holdTtlMs: callLifeMs(config),
      onError: (e, key) => logger.warn('could not renew a slice of a model\'s rate limit; this worker spends what it holds until its lease ends', { key, error: e.message }),
    });
    o.limits.attach(slices);
    slices.start();
    stops.push(() => slices.close());
  }
  const progress = config.PROGRESS_ENABLED ? new ProgressPublisher({
    out, prefix: config.PROGRESS_SUBJECT_PREFIX, codec, flushMs: config.PROGRESS_FLUSH_MS, flushBytes: config.PROGRESS_FLUSH_BYTES,
    maxBytes: config.AI_MAX_RESPONSE_BYTES,
    // Attempts of a run log in the job's logger; this one hears of the others.
    onTrouble: (t) => logProgressTrouble(logger, t, { alt_id: t.head.job, alt_stream_seq: t.head.alt_seq ?? undefined, deliveries: t.head.deliveries ?? undefined }),
  }) : null;
  if (progress) stops.push(() => progress.close());
  const body = withApprovals(typeof o.body === 'function' ? o.body : o.body.make({ progress: progress ? { publisher: progress, drainMs: config.PROGRESS_DRAIN_MS } : null }));
  const parks = stores ? new ParkStore({ status: stores.status, statusBucket: config.RUNNER_STATUS_BUCKET, checkpoints: stores.checkpoints, objects: stores.objects, objBucket: config.RUNNER_OBJECT_BUCKET, bodyObjects: stores.bodyObjects, bodyBucket: config.RUNNER_BODY_BUCKET, jsm, codec }) : null;
  const engine = createEngine(config, body);
  if (recorder) engine.observe(recorder.observe);
  engine.observe(logTaskEvent);
  engine.observe((e, context) => {
    o.metrics?.()?.task(e);
    context?.taskTrace?.onEvent(e);
  });
  const gate = o.gate ?? new AiGate({ probeMs: config.AI_BREAKER_HALF_OPEN_MS });
  const pool = new DecodePool({ limits: decodeLimits(config), threadBytes: config.ALT_DECODE_THREAD_BYTES, timeoutMs: config.ALT_DECODE_TIMEOUT_MS });
  stops.push(() => pool.close());
  let worker: Worker | null = null;
  // The heartbeat (made once the controls watch) and the last concurrency request applied, which it reports.
  let heartbeat: Heartbeat | null = null;
  let concurrencyApplied: { request: string; was: number } | null = null;
  const cancels = stores ? new CancelWatch({
    kv: stores.status, bucket: config.RUNNER_STATUS_BUCKET, nc, jsm,
    onCancel: (req) => {
      if (worker?.cancel(req.alt_id, (origin) => cancelCovers(req, origin))) logger.warn('cancel requested: the job is aborted here', { alt_id: req.alt_id, code: 'JOB_CANCELLED' });
    },
  }) : null;
  try {
    await cancels?.start().catch((e: unknown) => {
      throw storeError('cancel requests', config.RUNNER_STATUS_BUCKET, e);
    });
    stops.push(() => cancels?.stop());
    worker = new Worker({
      nc, config, engine, publisher, gate, recorder, logger, workerId, ackWaitMs, maxDeliver: info.config.max_deliver ?? config.RUNNER_MAX_DELIVER,
      connected: o.conn.connected, pullExpiresMs: o.pullExpiresMs, room: o.limits ? (free) => o.limits!.room(free) : undefined, lastStream: config.LAST_STREAM, currency: o.prices?.currency ?? null, budgets: o.budgets,
      artifacts: stores ? { objects: stores.objects, inlineMax: config.RUNNER_OUTPUT_INLINE_MAX, bucket: config.RUNNER_OBJECT_BUCKET, codec } : undefined,
      decode: async (d: Delivery) => {
        if (!isSealed(d.data)) return pool.decode(d.data, d.contentType);
        let bytes: Uint8Array;
        try {
          bytes = codec.open(d.data, 'alt');
        } catch (e) {
          return { ok: false, error: toAltlasError(e) };
        }
        // A sealed job that does not decode still gets its failure .last and status: its id is read from the plain bytes.
        const r = await pool.decode(bytes, d.contentType);
        return r.ok ? r : { ...r, altId: recoverAltId(bytes, d.contentType) };
      },
      lanes: config.RUNNER_LANES ? {
        jsm, prefix: lanePrefixOf(config.ALT_SUBJECTS), minShare: config.RUNNER_LANE_MIN_SHARE, weight: parseTenantWeights(config.RUNNER_TENANT_WEIGHTS),
        scanMs: config.RUNNER_LANE_SCAN_MS, idleMs: config.RUNNER_LANE_IDLE_MS, tenantReserve: config.RUNNER_TENANT_RESERVE,
        onPulled: logger.isDebugEnabled() ? (t) => logger.debug('lane job pulled', { ...t }) : undefined,
        consumer: { ackWaitMs, maxDeliver: info.config.max_deliver ?? config.RUNNER_MAX_DELIVER, maxAckPending: Math.max(MIN_MAX_ACK_PENDING, config.RUNNER_CONCURRENCY) },
      } : null,
      cancelRequested: (altId, origin) => cancels?.covers(altId, origin) ?? false,
      onCancelled: (altId) => void cancels?.done(altId),
      // A term reason is an error text in a server advisory: none under PAYLOAD_KEYS, where it could quote the job.
      termWithReason: !codec.encrypts && versionAtLeast(nc.info?.version ?? '0.0.0', [2, 10, 4]),
      onOutcome: (out) => {
        o.metrics?.()?.outcome(out);
        o.onOutcome?.(out);
      },
      onDuplicate: () => o.metrics?.()?.duplicate(),
      onStart: (d) => o.metrics?.()?.laneStart(d.subject, d.deliveries, d.receivedAt - d.deliveredAt),
      parks,
      replays: stores ? (id) => readSeed(stores.status, id) : null,
      keepAlt: stores && config.RUNNER_KEEP_ALT ? async (altId, data) => {
        await stores.bodyObjects.putBlob({ name: keptAltObject(altId) }, isSealed(data) || !codec.encrypts ? data : codec.seal(data, 'alt'));
      } : null,
    });
    const w = worker;
    o.conn.onReconnect(() => w.reconnected());
    if (stores) {
      // The fleet's controls: pause / resume, this worker's drain and concurrency, each within a watch's latency.
      let draining = false;
      let pausedNow = false;
      const control = new ControlWatch({
        nc, jsm, bucket: config.RUNNER_CONTROL_BUCKET, workerId,
        onPause: (paused, by) => {
          if (paused === pausedNow) return;
          pausedNow = paused;
          w.setPaused(paused);
          logger.info(paused ? 'intake paused: no new work is taken' : 'intake resumed', { by: by ?? undefined });
        },
        onConcurrency: (n, by, request) => {
          const was = w.concurrency;
          // The heartbeat says which request was applied (at once: the operator's command waits for it), also one that changed nothing.
          if (request) concurrencyApplied = { request, was };
          if (n !== was) {
            logger.info('concurrency changed', { concurrency: n, was, by });
            w.setConcurrency(n);
            history?.write(historyEvent('concurrency_set', FLEET, { worker_id: workerId, by, detail: { worker: workerId, concurrency: n, was } }), fleetHistorySubject(config.HISTORY_SUBJECT_PREFIX));
          }
          if (request) heartbeat?.beat();
        },
        onDrain: (by) => {
          if (draining) return;
          draining = true;
          logger.info('draining: no new work is taken; the jobs running here finish, then the worker exits', { by, in_flight: w.state.inFlight });
          void w.drain().then(async () => {
            history?.write(historyEvent('drained', FLEET, { worker_id: workerId, by, detail: { worker: workerId } }), fleetHistorySubject(config.HISTORY_SUBJECT_PREFIX));
            // The request is done: a delete marker (a worker may remove its own drain request only).
            await stores.control.delete(drainKey(workerId)).catch(() => {});
            logger.info('drained: nothing runs here any more; stopping');
            o.onDrained?.();
          });
          // At once, as after a concurrency change: altlas workers shows it paused while it drains.
          heartbeat?.beat();
        },
      });
      await control.start().catch((e: unknown) => {
        throw storeError('fleet controls', config.RUNNER_CONTROL_BUCKET, e);
      });
      stops.push(() => control.stop());
    }
    // The archive hand-off: every .last stored, announced from the LAST stream itself (not from the settlement).
    if (config.ARCHIVE_NOTIFY_SUBJECT) {
      await ensureArchiveConsumer(jsm, config, logger);
      const forwarder = new ArchiveForwarder({ nc, js: jetstream(nc), config, logger, codec });
      await forwarder.start();
      stops.push(() => forwarder.close());
    }
    // With lanes, every consumer of the ALT stream (one per lane and tenant) reports its exhausted messages.
    const guard = new ExhaustedGuard({ nc, jsm, publisher, stream: config.ALT_STREAM, durable: config.RUNNER_LANES ? '*' : config.RUNNER_DURABLE, logger, recorder, holds: (seq) => w.holds(seq), graceMs: w.timing.graceMs });
    await guard.start();
    stops.push(() => guard.close());
    if (config.RUNNER_JANITOR_INTERVAL_MS > 0) {
      const sweep = () => sweepAltStream({ nc, jsm, publisher, stream: config.ALT_STREAM, durable: config.RUNNER_DURABLE, logger, recorder, holds: (seq) => w.holds(seq) })
        .catch((e: Error) => logger.warn('janitor pass failed', { error: e.message }));
      void sweep();
      const janitor = setInterval(() => void sweep(), config.RUNNER_JANITOR_INTERVAL_MS);
      janitor.unref();
      stops.push(() => clearInterval(janitor));
    }
    if (stores) {
      // Parked jobs: timeouts fire and decided jobs resume with no worker holding them.
      const sweepOptions = { kv: stores.status, jsm, js: jetstream(nc), statusBucket: config.RUNNER_STATUS_BUCKET, objBucket: config.RUNNER_OBJECT_BUCKET, codec, logger, graceMs: Math.max(config.RUNNER_APPROVAL_SWEEP_MS, 120_000) };
      let sweeping = false;
      const parkSweep = setInterval(() => {
        if (sweeping) return;
        sweeping = true;
        void sweepParks(sweepOptions).catch((e: Error) => logger.warn('parked-jobs sweep failed', { error: e.message })).finally(() => (sweeping = false));
      }, config.RUNNER_APPROVAL_SWEEP_MS);
      parkSweep.unref();
      stops.push(() => clearInterval(parkSweep));
    }
    if (stores) {
      const startedAt = new Date().toISOString();
      heartbeat = new Heartbeat(stores.workers, workerId, config.RUNNER_HEARTBEAT_MS, () => {
        const s = w.state;
        return {
          worker_id: workerId, host: hostname(), pid: process.pid, version: VERSION, started_at: startedAt, seen_at: new Date().toISOString(),
          concurrency: w.concurrency, in_flight: s.inFlight, paused: w.paused, processed: s.processed, waiting_for_ai: s.waitingForAi,
          breaker: o.client?.breakerState ?? 'closed', stream: config.ALT_STREAM, consumer: config.RUNNER_DURABLE,
          heartbeat_ms: config.RUNNER_HEARTBEAT_MS, ...(concurrencyApplied ? { concurrency_applied: concurrencyApplied } : {}),
        };
      });
      const beating = heartbeat;
      beating.start();
      // Removed last, just before the connection closes: an operator waiting for the heartbeat to end
      // (altlas drain --wait) learns that the worker exited, not that it began to stop.
      stops.splice(1, 0, () => beating.stop());
    }
    w.start();
  } catch (e) {
    for (const step of stops.reverse()) await Promise.resolve().then(step).catch(() => {});
    throw e;
  }
  const started = worker;
  let closing: Promise<void> | null = null;
  return {
    worker: started, engine, gate, recorder,
    close: () => (closing ??= (async () => {
      await started.close().catch((e: Error) => logger.error('worker close failed', { error: e.message }));
      for (const step of stops.reverse()) await Promise.resolve().then(step).catch((e: Error) => logger.warn('a shutdown step failed', { error: e.message }));
    })()),
  };
}
