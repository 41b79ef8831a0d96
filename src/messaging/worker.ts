/**
 * The JetStream worker: pulls `.alt` messages from the durable consumer (only as many as it has
 * free slots, so no message waits in a client buffer), keeps each lease alive with `working()`,
 * publishes the `.last` and acks only after JetStream confirmed it, dead-letters what can never
 * run, and hands unfinished work back on shutdown.
 */
import { jetstream, jetstreamManager, type Consumer, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { AltlasError, isAltlasError, toAltlasError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import { contextLogger, type ContextLogger, type Logger } from '../telemetry/logger.ts';
import { afterRunFailure, deliveryFailureLast, processDelivery, type DeliveryInfo, type DeliveryOptions } from './delivery.ts';
import { nakDelay } from './fate.ts';
import type { Recorder } from '../status/recorder.ts';
import { HEADERS, headerValue } from './subjects.ts';
import { Publisher } from './publisher.ts';
import { ExhaustedGuard } from './exhausted.ts';
import { ensureTopology, type TopologyConfig } from './topology.ts';
import { SpanKind } from '@opentelemetry/api';
import { ATTR, SPAN } from '../telemetry/names.ts';
import { extractContext, inSpan } from '../telemetry/tracing.ts';

export type WorkerConfig = TopologyConfig & Pick<Config, 'RUNNER_SHUTDOWN_GRACE_MS'>;

export interface WorkerOptions {
  nc: NatsConnection;
  config: WorkerConfig;
  delivery: Omit<DeliveryOptions, 'maxDeliver'>;
  logger: Logger;
  /** Milliseconds one pull waits for messages before it is renewed. Default 5,000. */
  pullExpiresMs?: number;
  /** Job status and checkpoints (RUNNER_STATUS_BUCKET, RUNNER_CHECKPOINT_BUCKET); absent: neither. */
  recorder?: Recorder;
  /** Called once per handled delivery with its verb and how long it took (metrics, benchmarks). */
  onOutcome?: (outcome: { verb: 'ack' | 'nak' | 'reject'; code?: string; status?: string; durationMs: number; deliveries: number }) => void;
}

/** What the worker is doing, for health checks and status. */
export interface WorkerState {
  running: boolean;
  stopping: boolean;
  inFlight: number;
  processed: number;
}

/** True when a `x.y.z` server version is at least `min`. */
export function versionAtLeast(version: string, min: readonly [number, number, number]): boolean {
  const v = version.split(/[.-]/).slice(0, 3).map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i] > min[i];
  return true;
}

export class Worker {
  readonly #o: WorkerOptions;
  readonly #js: JetStreamClient;
  readonly #publisher: Publisher;
  readonly #jobs = new Set<Promise<void>>();
  /** Messages whose lease is kept alive: one timer for all of them renews each every third of the ack wait. */
  readonly #leased = new Set<JsMsg>();
  #leaseTimer: NodeJS.Timeout | null = null;
  readonly #abort = new AbortController();
  #consumer: Consumer | null = null;
  #guard: ExhaustedGuard | null = null;
  #batch: ConsumerMessages | null = null;
  #loop: Promise<void> | null = null;
  #closing: Promise<void> | null = null;
  #stopping = false;
  #wake: (() => void) | null = null;
  #ackWaitMs = 30_000;
  #maxDeliver = 5;
  #processed = 0;
  #termWithReason = false;

  constructor(options: WorkerOptions) {
    this.#o = options;
    this.#js = jetstream(options.nc);
    this.#publisher = new Publisher(this.#js, options.config, () => options.nc.info?.max_payload ?? 1_048_576);
  }

  get state(): WorkerState {
    return { running: this.#loop !== null && !this.#stopping, stopping: this.#stopping, inFlight: this.#jobs.size, processed: this.#processed };
  }

  /** Checks (or creates) the topology, binds the consumer and starts pulling. */
  async start(): Promise<void> {
    const c = this.#o.config;
    const jsm = await jetstreamManager(this.#o.nc);
    const info = await ensureTopology(jsm, c, this.#o.logger);
    this.#guard = new ExhaustedGuard({ nc: this.#o.nc, jsm, publisher: this.#publisher, stream: c.ALT_STREAM, durable: c.RUNNER_DURABLE, logger: this.#o.logger, recorder: this.#o.recorder });
    this.#guard.start();
    this.#ackWaitMs = Math.round((info.config.ack_wait ?? c.RUNNER_ACK_WAIT_MS * 1e6) / 1e6);
    this.#maxDeliver = info.config.max_deliver ?? c.RUNNER_MAX_DELIVER;
    this.#consumer = await this.#js.consumers.get(c.ALT_STREAM, c.RUNNER_DURABLE);
    this.#termWithReason = versionAtLeast(this.#o.nc.info?.version ?? '0.0.0', [2, 10, 4]);
    this.#leaseTimer = setInterval(() => {
      for (const m of this.#leased) m.working();
    }, Math.max(250, Math.floor(this.#ackWaitMs / 3)));
    this.#loop = this.#pull();
    this.#o.logger.info('worker started', { stream: c.ALT_STREAM, consumer: c.RUNNER_DURABLE, concurrency: c.RUNNER_CONCURRENCY, ack_wait_ms: this.#ackWaitMs });
  }

  /**
   * Stops pulling, gives in-flight jobs RUNNER_SHUTDOWN_GRACE_MS to finish, then aborts the rest,
   * which are handed back to JetStream at once (nak without delay). Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stopping = true;
      this.#wake?.();
      await this.#batch?.close().catch(() => {});
      await this.#loop?.catch(() => {});
      const grace = this.#o.config.RUNNER_SHUTDOWN_GRACE_MS;
      if (this.#jobs.size) {
        this.#o.logger.info('waiting for in-flight jobs', { in_flight: this.#jobs.size, grace_ms: grace });
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.allSettled([...this.#jobs]), new Promise((r) => (timer = setTimeout(r, grace)))]);
        clearTimeout(timer);
      }
      if (this.#jobs.size) {
        this.#o.logger.warn('grace period over: handing unfinished jobs back', { in_flight: this.#jobs.size });
        this.#abort.abort();
        await Promise.allSettled([...this.#jobs]);
      }
      await this.#guard?.close();
      if (this.#leaseTimer) clearInterval(this.#leaseTimer);
      this.#o.logger.info('worker stopped', { processed: this.#processed });
    })();
    return this.#closing;
  }

  async #pull(): Promise<void> {
    const limit = this.#o.config.RUNNER_CONCURRENCY;
    while (!this.#stopping) {
      if (this.#jobs.size >= limit) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = null;
        continue;
      }
      try {
        const batch = await this.#consumer!.fetch({ max_messages: limit - this.#jobs.size, expires: this.#o.pullExpiresMs ?? 5_000 });
        this.#batch = batch;
        for await (const m of batch) this.#track(m);
      } catch (e) {
        if (this.#stopping) break;
        this.#o.logger.warn('pull failed; retrying', { error: (e as Error).message });
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 1_000);
          this.#wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.#wake = null;
      } finally {
        this.#batch = null;
      }
    }
  }

  #track(m: JsMsg): void {
    const job = this.#handle(m).catch((e) => {
      this.#o.logger.error('unexpected error handling a message; it will be redelivered', { error: toAltlasError(e).message, code: 'INTERNAL', alt_stream_seq: m.seq });
    }).finally(() => {
      this.#jobs.delete(job);
      this.#processed++;
      this.#wake?.();
    });
    this.#jobs.add(job);
  }

  /** One delivery inside its CONSUMER span, the child of the producer's context from the headers. */
  #handle(m: JsMsg): Promise<void> {
    const d: DeliveryInfo = {
      data: m.data, subject: m.subject, contentType: m.headers?.get(HEADERS.contentType) || undefined,
      stream: m.info.stream, seq: m.info.streamSequence, deliveries: m.info.deliveryCount,
    };
    return inSpan(SPAN.process(d.stream), {
      kind: SpanKind.CONSUMER,
      attributes: {
        [ATTR.messagingSystem]: 'nats', [ATTR.messagingOperationType]: 'process', [ATTR.messagingOperationName]: 'process',
        [ATTR.messagingDestination]: d.subject, [ATTR.natsStream]: d.stream, [ATTR.messagingConsumerGroup]: this.#o.config.RUNNER_DURABLE,
        [ATTR.messagingMessageId]: m.headers?.get(HEADERS.msgId) || `${d.stream}:${d.seq}`, [ATTR.natsDeliveryCount]: d.deliveries,
        [ATTR.natsStreamSequence]: d.seq, [ATTR.messagingBodySize]: d.data.length,
      },
    }, extractContext(m.headers), (span) => this.#settle(m, d, (k, v) => span.setAttribute(k, v)));
  }

  async #settle(m: JsMsg, d: DeliveryInfo, annotate: (key: string, value: string) => void): Promise<void> {
    const log = contextLogger(this.#o.logger, { alt_stream_seq: d.seq, deliveries: d.deliveries });
    if (d.deliveries > 1) log.warn('redelivered message', { subject: d.subject });
    this.#leased.add(m);
    const started = performance.now();
    const record = this.#o.recorder?.begin(d);
    let recorded: Promise<void> = Promise.resolve();
    let altId: string | null = null;
    const report = (verb: 'ack' | 'nak' | 'reject', extra: { code?: string; status?: string; message?: string } = {}) => {
      annotate(ATTR.outcome, verb);
      if (extra.code) annotate(ATTR.errorCode, extra.code);
      if (extra.status) annotate(ATTR.lastStatus, extra.status);
      this.#o.onOutcome?.({ verb, code: extra.code, status: extra.status, durationMs: performance.now() - started, deliveries: d.deliveries });
      if (record) recorded = record.settled({ verb, ...extra, altId });
    };
    try {
      const hooks = record ? await record.hooks() : {};
      const outcome = await processDelivery(d, { ...this.#o.delivery, maxDeliver: this.#maxDeliver }, this.#abort.signal, hooks);
      altId = outcome.job?.id ?? (outcome.verb === 'reject' ? outcome.altId : null);
      const jlog = outcome.job ? log.with({ alt_id: outcome.job.id }) : log;
      if (outcome.job) {
        annotate(ATTR.altId, outcome.job.id);
        // Parameters can carry credentials (the real runner example does): the logger redacts them.
        if (jlog.isDebugEnabled()) jlog.debug('job ran', { form: outcome.job.source.form, tasks: outcome.job.tasks.map((t) => ({ task_id: t.id, kind: t.kind, dependencies: t.dependencies, parameters: t.parameters })) });
      }
      if (outcome.verb === 'ack') {
        try {
          await this.#publisher.last(outcome.last, d, m.headers);
        } catch (e) {
          const error = isAltlasError(e, 'LAST_TOO_LARGE') ? e
            : new AltlasError('LAST_PUBLISH_FAILED', `could not store the .last: ${(e as Error).message}`, { cause: e, context: { altId: outcome.job.id } });
          const verdict = afterRunFailure(error, d, { ...this.#o.delivery, maxDeliver: this.#maxDeliver });
          if (verdict.verb === 'nak') {
            jlog.warn('the .last could not be stored; the message will be redelivered', { code: error.code, error: error.message, delay_ms: verdict.delayMs });
            m.nak(verdict.delayMs);
            report('nak', { code: error.code, message: error.message });
          } else {
            // The result cannot be stored as it is: a small failure .last says why, the DLQ keeps the job.
            const failure = deliveryFailureLast(d, outcome.job.id, error, Date.parse(outcome.last.start_time), { job: outcome.job, executionId: outcome.last.execution_id });
            await this.#publisher.last(failure, d, m.headers).catch(() => {});
            report((await this.#deadLetter(m, d, error, outcome.job.id, jlog)) ? 'reject' : 'nak', { code: error.code, message: error.message });
          }
          return;
        }
        const acked = await m.ackAck({ timeout: 10_000 }).catch(() => false);
        report('ack', { status: outcome.last.status });
        jlog.info('job finished', { status: outcome.last.status, success_rate: outcome.last.success_rate, tasks: Object.keys(outcome.last.task_results).length, duration_ms: outcome.last.execution_time_ms, acked });
        return;
      }
      if (outcome.verb === 'nak') {
        const level = outcome.error.code === 'JOB_ABORTED' ? 'info' : 'warn';
        jlog.log(level, 'job handed back to JetStream', { code: outcome.error.code, error: outcome.error.message, delay_ms: outcome.delayMs });
        m.nak(outcome.delayMs);
        report('nak', { code: outcome.error.code, message: outcome.error.message });
        return;
      }
      if (outcome.last) {
        try {
          await this.#publisher.last(outcome.last, d, m.headers);
        } catch (e) {
          jlog.warn('the failure .last could not be stored; the message will be redelivered', { error: (e as Error).message });
          m.nak(nakDelay(d.deliveries, this.#o.delivery.nakDelayMs, this.#o.delivery.nakMaxDelayMs));
          report('nak', { code: 'LAST_PUBLISH_FAILED' });
          return;
        }
      }
      report((await this.#deadLetter(m, d, outcome.error, outcome.altId, jlog)) ? 'reject' : 'nak', { code: outcome.error.code, message: outcome.error.message });
    } finally {
      this.#leased.delete(m);
      await recorded;
      await record?.close();
    }
  }

  /** Stores the DLQ copy and terms the message; on failure naks it instead and returns false. */
  async #deadLetter(m: JsMsg, d: DeliveryInfo, error: AltlasError, altId: string | null, log: ContextLogger): Promise<boolean> {
    try {
      await this.#publisher.deadLetter(m.data, m.headers, d, error, altId);
    } catch (e) {
      log.error('could not write the DLQ copy; the message will be redelivered', { code: error.code, error: (e as Error).message });
      m.nak(this.#o.delivery.nakDelayMs);
      return false;
    }
    // A reason on +TERM needs nats-server 2.10.4; older servers ignore the whole ack.
    if (this.#termWithReason) m.term(`${error.code}: ${headerValue(error.message, 200)}`);
    else m.term();
    log.error('job rejected', { code: error.code, error: error.message, problems: error.problems.slice(0, 20) });
    return true;
  }
}
