/**
 * The JetStream worker: pulls `.alt` messages for its free slots, keeps their leases alive,
 * runs each once (a redelivery of a message running here is adopted, not run again; a run whose
 * lease is lost stops before its next AI call and publishes nothing; a stale run is fenced off by
 * the newer delivery's claim), publishes the `.last` and acks only after JetStream stored it,
 * dead-letters what can never run, waits out AI outages without spending deliveries, and hands
 * unfinished work back on shutdown.
 */
import { SpanKind, trace } from '@opentelemetry/api';
import type { NatsConnection } from '@nats-io/nats-core';
import type { DecodeResult, Job } from '../alt/index.ts';
import { AltlasError, isAltlasError, toAltlasError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import type { Engine } from '../engine/engine.ts';
import type { Recorder, DeliveryRecord } from '../status/recorder.ts';
import { contextLogger, type ContextLogger, type Logger } from '../telemetry/logger.ts';
import { ATTR, SPAN } from '../telemetry/names.ts';
import { TaskSpans, extractContext, inSpan } from '../telemetry/tracing.ts';
import { redactText } from '../security/redact.ts';
import type { AiGate } from './ai-gate.ts';
import { decideFate } from './fate.ts';
import type { Delivery } from '../contract/delivery.ts';
import { processDelivery } from './job-flow.ts';
import { RESUME_HEADER, type ParkStore } from '../approval/park.ts';
import type { ReplaySeed } from '../replay/seed.ts';
import { Leases, StallWatch, type Lease } from './leases.ts';
import type { Publisher } from './publisher.ts';
import { inboxPrefixOf } from './connect.ts';
import { PullLoop } from './pull.ts';
import { failureLast, type Outcome, type SettleRules } from './settle.ts';
import { HEADERS, headerValue } from '../contract/subjects.ts';
import { artifactObjectName, lastUrl, objectUrl, type ArtifactOptions, type Last } from '../last/index.ts';
import type { ObjectStore } from '@nats-io/obj';
import type { Codec } from '../security/codec.ts';
import type { JobRun } from '../engine/engine.ts';
import type { Budgets } from '../budget/budgets.ts';
import type { RunContext } from './run-context.ts';

export type WorkerConfig = Pick<Config, 'ALT_STREAM' | 'RUNNER_DURABLE' | 'RUNNER_CONCURRENCY' | 'RUNNER_SHUTDOWN_GRACE_MS' | 'RUNNER_NAK_DELAY_MS' | 'RUNNER_NAK_MAX_DELAY_MS'>;

export type OutcomeReport = { verb: 'ack' | 'nak' | 'reject' | 'abandon'; code?: string; status?: string; durationMs: number; deliveries: number };

export interface WorkerOptions {
  nc: NatsConnection;
  config: WorkerConfig;
  engine: Engine<RunContext>;
  publisher: Publisher;
  gate: AiGate;
  decode: (d: Delivery) => Promise<DecodeResult>;
  logger: Logger;
  /** Ack wait and max deliver of the consumer (as the server has them). */
  ackWaitMs: number;
  maxDeliver: number;
  /** True while connected to NATS. */
  connected: () => boolean;
  /** Job status, checkpoints and claims; absent: none of them. */
  recorder?: Recorder;
  /** True when an operator asked to cancel a job. */
  cancelRequested?: (altId: string) => boolean;
  /** Milliseconds one pull request waits on the server. Default 5,000. */
  pullExpiresMs?: number;
  /** A reason on +TERM needs nats-server 2.10.4; older servers ignore the whole ack. */
  termWithReason?: boolean;
  /** Called once per delivery with its verb and how long it took (metrics, benchmarks). */
  onOutcome?: (o: OutcomeReport) => void;
  /** Called when the LAST stream reported a `.last` as a duplicate (a second run of one message). */
  onDuplicate?: () => void;
  /** Called after a cancelled job's `.last` is stored (its cancel request is done). */
  onCancelled?: (altId: string) => void;
  /** Outputs larger than `inlineMax` bytes are stored as artifact objects in `bucket`. */
  artifacts?: { objects: ObjectStore; bucket: string; inlineMax: number; codec?: Codec };
  /** The LAST stream (artifact URLs). Default LAST. */
  lastStream?: string;
  /** The price table's currency (usage in the `.last`); null without one. */
  currency?: string | null;
  /** Job and tenant budgets; absent: none. */
  budgets?: Budgets | null;
  /** Parked jobs (approval tasks): parks a job, resumes it, and removes its park once it ended. */
  parks?: ParkStore | null;
  /** Reads a replay's seed (altlas replay). */
  replays?: ((id: string) => Promise<ReplaySeed | null>) | null;
  /** RUNNER_KEEP_ALT: keeps each job's `.alt`. */
  keepAlt?: ((altId: string, data: Uint8Array) => Promise<void>) | null;
}

export interface WorkerState {
  running: boolean;
  stopping: boolean;
  inFlight: number;
  processed: number;
  waitingForAi: number;
}

/** True when a `x.y.z` server version is at least `min`. */
export function versionAtLeast(version: string, min: readonly [number, number, number]): boolean {
  const v = version.split(/[.-]/).slice(0, 3).map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i] > min[i];
  return true;
}

interface Running {
  lease: Lease;
  abort: AbortController;
  job: Job | null;
}

export class Worker {
  readonly #o: WorkerOptions;
  readonly #leases: Leases;
  readonly #stalls = new StallWatch();
  readonly #pull: PullLoop;
  readonly #rules: SettleRules;
  /** Jobs holding a slot, by ALT stream sequence. */
  readonly #running = new Map<number, Running>();
  readonly #byAltId = new Map<string, Running>();
  /** Work after the slot is free (ack round trip, checkpoint removal, final status). */
  readonly #after = new Set<Promise<void>>();
  /** While stopping: deliveries that arrived for requests still waiting, and hand-backs, sent once those expired. */
  readonly #parked: { d: Delivery; delayMs: number; lease?: Lease }[] = [];
  #closing: Promise<void> | null = null;
  #started = false;
  #stopping = false;
  #processed = 0;

  constructor(options: WorkerOptions) {
    this.#o = options;
    this.#rules = { maxDeliver: options.maxDeliver, nakDelayMs: options.config.RUNNER_NAK_DELAY_MS, nakMaxDelayMs: options.config.RUNNER_NAK_MAX_DELAY_MS };
    this.#leases = new Leases({ ackWaitMs: options.ackWaitMs, connected: options.connected });
    this.#pull = new PullLoop({
      nc: options.nc, stream: options.config.ALT_STREAM, durable: options.config.RUNNER_DURABLE, concurrency: options.config.RUNNER_CONCURRENCY,
      // A pull request outlives its worker on the server; nats-server 2.9 hands a redelivery to such a
      // dead request and then does not count it, so the next worker would see delivery 1 again. Requests
      // shorter than 2/3 of the ack wait have expired before any message of a dead worker is redelivered.
      expiresMs: Math.min(options.pullExpiresMs ?? 5_000, Math.max(250, Math.floor(options.ackWaitMs / 2))), inboxPrefix: inboxPrefixOf(options.nc), inFlight: () => this.#running.size,
      paused: () => this.#stopping || options.gate.down,
      onMessage: (d) => this.#receive(d),
      onError: (e) => options.logger.warn('pull request failed', { error: e.message }),
    });
  }

  get state(): WorkerState {
    return { running: this.#started && !this.#stopping, stopping: this.#stopping, inFlight: this.#running.size, processed: this.#processed, waitingForAi: this.#o.gate.waiting };
  }

  /** True while this worker runs ALT message `seq`. */
  holds(seq: number): boolean {
    return this.#running.has(seq);
  }

  /** Pull requests sent so far. */
  get pullRequests(): number {
    return this.#pull.requestsSent;
  }

  start(): void {
    this.#leases.start();
    this.#pull.start();
    this.#started = true;
    this.#o.logger.info('worker started', { stream: this.#o.config.ALT_STREAM, consumer: this.#o.config.RUNNER_DURABLE, concurrency: this.#o.config.RUNNER_CONCURRENCY, ack_wait_ms: this.#o.ackWaitMs });
  }

  /** After a reconnect: renew leases at once; new pull requests wait until the old ones expired. */
  reconnected(): void {
    this.#leases.tick();
    this.#pull.reconnected();
  }

  /** The AI gate opened again (or something else freed): ask for work. */
  kick(): void {
    this.#pull.kick();
  }

  /** Aborts a running job of this id (an operator's cancel); true when one ran here. */
  cancel(altId: string): boolean {
    const r = this.#byAltId.get(altId);
    if (!r) return false;
    r.abort.abort(new AltlasError('JOB_CANCELLED', 'the job was cancelled by an operator', { context: { altId } }));
    return true;
  }

  /**
   * Stops pulling, gives in-flight jobs RUNNER_SHUTDOWN_GRACE_MS to finish, then aborts the rest,
   * which are handed back to JetStream at once (nak without delay). Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stopping = true;
      this.#pull.pause();
      const grace = this.#o.config.RUNNER_SHUTDOWN_GRACE_MS;
      const allDone = () => new Promise<void>((resolve) => {
        const check = () => (this.#running.size === 0 ? resolve() : setTimeout(check, 20));
        check();
      });
      if (this.#running.size) {
        this.#o.logger.info('waiting for in-flight jobs', { in_flight: this.#running.size, grace_ms: grace });
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([allDone(), new Promise((r) => (timer = setTimeout(r, grace)))]);
        clearTimeout(timer);
      }
      if (this.#running.size) {
        this.#o.logger.warn('grace period over: handing unfinished jobs back', { in_flight: this.#running.size });
        for (const r of this.#running.values()) r.abort.abort(new AltlasError('JOB_ABORTED', 'the worker is shutting down'));
        await allDone();
      }
      // Hand back only once no request of ours can still receive a message (see PullLoop.drained).
      await this.#pull.drained();
      await this.#pull.stop();
      for (const p of this.#parked.splice(0)) {
        p.d.nak(p.delayMs);
        if (p.lease) this.#leases.release(p.lease);
      }
      await Promise.allSettled([...this.#after]);
      this.#o.gate.close();
      this.#leases.stop();
      this.#stalls.stop();
      this.#o.logger.info('worker stopped', { processed: this.#processed });
    })();
    return this.#closing;
  }

  #receive(d: Delivery): void {
    if (this.#stopping && !this.#running.has(d.seq)) {
      // A request sent before the shutdown was filled: hold the message (leased) and hand it back with the rest.
      this.#parked.push({ d, delayMs: 0, lease: this.#leases.hold(d, () => {}) });
      return;
    }
    // Read right after this process stalled: it may have waited through the stall; check it as a redelivery.
    const stalledMs = this.#stalls.sinceLastTick(d.receivedAt);
    const suspect = stalledMs > Math.max(1_000, this.#o.ackWaitMs / 4);
    if (suspect) this.#o.logger.warn('a delivery was read right after the worker stalled: it is checked like a redelivery', { alt_stream_seq: d.seq, deliveries: d.deliveries, stalled_ms: stalledMs });
    const held = this.#running.get(d.seq);
    if (held) {
      // JetStream redelivered a message that is still running here: keep one run, leased on the newest delivery.
      held.lease.adopt(d);
      this.#o.logger.warn('redelivery of a job running here: it goes on under the new delivery', { alt_stream_seq: d.seq, deliveries: d.deliveries, alt_id: held.job?.id });
      return;
    }
    const abort = new AbortController();
    const entry: Running = { abort, job: null, lease: this.#leases.hold(d, (lease) => this.#lost(lease, entry), d.receivedAt - (suspect ? stalledMs : 0)) };
    entry.lease.suspect = suspect;
    this.#running.set(d.seq, entry);
    void this.#handle(d, entry, suspect).catch((e) => {
      this.#o.logger.error('unexpected error handling a message; it will be redelivered', { error: toAltlasError(e).message, code: 'INTERNAL', alt_stream_seq: d.seq });
    }).finally(() => {
      this.#leases.release(entry.lease);
      this.#running.delete(d.seq);
      if (entry.job && this.#byAltId.get(entry.job.id) === entry) this.#byAltId.delete(entry.job.id);
      this.#processed++;
      this.#pull.kick();
    });
  }

  #lost(lease: Lease, entry: Running): void {
    const d = lease.delivery;
    this.#o.logger.warn('lease lost: the job stops here without publishing; JetStream hands it to another delivery', {
      alt_stream_seq: d.seq, deliveries: d.deliveries, alt_id: entry.job?.id, unrenewed_ms: Date.now() - lease.renewedAt, code: 'LEASE_LOST',
    });
    entry.abort.abort(new AltlasError('LEASE_LOST', `the lease of message ${d.seq} was not renewed in time`));
  }

  /** One delivery inside its CONSUMER span, the child of the producer's context from the headers. */
  #handle(d: Delivery, entry: Running, suspect: boolean): Promise<void> {
    return inSpan(SPAN.process(d.stream), {
      kind: SpanKind.CONSUMER,
      attributes: {
        [ATTR.messagingSystem]: 'nats', [ATTR.messagingOperationType]: 'process', [ATTR.messagingOperationName]: 'process',
        [ATTR.messagingDestination]: d.subject, [ATTR.natsStream]: d.stream, [ATTR.messagingConsumerGroup]: this.#o.config.RUNNER_DURABLE,
        [ATTR.messagingMessageId]: d.headers?.get(HEADERS.msgId) || `${d.stream}:${d.seq}`, [ATTR.natsDeliveryCount]: d.deliveries,
        [ATTR.natsStreamSequence]: d.seq, [ATTR.messagingBodySize]: d.data.length,
      },
    }, extractContext(d.headers), (span) => this.#process(d, entry, suspect, (k, v) => span.setAttribute(k, v)));
  }

  async #process(d: Delivery, entry: Running, suspect: boolean, annotate: (key: string, value: string) => void): Promise<void> {
    let log = contextLogger(this.#o.logger, { alt_stream_seq: d.seq, deliveries: d.deliveries });
    if (d.deliveries > 1) log.warn('redelivered message', { subject: d.subject });
    const started = performance.now();
    const record = this.#o.recorder?.begin(d);
    const lease = entry.lease;
    const outcome = await processDelivery({
      rules: this.#rules, engine: this.#o.engine, gate: this.#o.gate,
      decode: () => this.#o.decode(d),
      lastStored: (altId, seq) => this.#o.publisher.lastStored(altId, seq),
      cancelRequested: (altId) => this.#o.cancelRequested?.(altId) ?? false,
      artifacts: (job, run, executionId) => this.#artifacts(job, run, executionId),
      currency: this.#o.currency, budgets: this.#o.budgets, parks: this.#o.parks, replays: this.#o.replays, keepAlt: this.#o.keepAlt,
    }, {
      d, record, signal: entry.abort.signal, log, suspect,
      // Task spans only when the delivery's span records (tracing on and sampled): nothing to pay otherwise.
      spans: trace.getActiveSpan()?.isRecording() ? new TaskSpans() : undefined,
      guard: () => (this.#leases.valid(lease) ? null : new AltlasError('LEASE_LOST', `the lease of message ${d.seq} was lost`)),
      onJob: (job) => {
        entry.job = job;
        this.#byAltId.set(job.id, entry);
        annotate(ATTR.altId, job.id);
        log = log.with({ alt_id: job.id });
        if (log.isDebugEnabled()) log.debug('job decoded', { form: job.source.form, tasks: job.tasks.map((t) => ({ task_id: t.id, kind: t.kind, dependencies: t.dependencies, parameters: t.parameters })) });
      },
    });
    const report = (verb: OutcomeReport['verb'], extra: { code?: string; status?: string } = {}) => {
      annotate(ATTR.outcome, verb);
      if (extra.code) annotate(ATTR.errorCode, extra.code);
      if (extra.status) annotate(ATTR.lastStatus, extra.status);
      this.#o.onOutcome?.({ verb, ...extra, durationMs: performance.now() - started, deliveries: d.deliveries });
    };
    await this.#execute(outcome, entry, record, log, report);
  }

  /** Runs what the outcome says; an I/O failure goes back through the fate table. */
  async #execute(outcome: Outcome, entry: Running, record: DeliveryRecord | undefined, log: ContextLogger, report: (verb: OutcomeReport['verb'], extra?: { code?: string; status?: string }) => void): Promise<void> {
    const lease = entry.lease;
    const d = () => lease.delivery;
    const after = (work: () => Promise<void>) => {
      const p = work().catch((e: Error) => log.warn('after-settlement work failed', { error: e.message })).finally(() => this.#after.delete(p));
      this.#after.add(p);
    };
    switch (outcome.kind) {
      case 'abandoned': {
        if (outcome.error.code !== 'LEASE_LOST' || !/claim/.test(outcome.error.message)) await record?.flushCheckpoints();
        log.warn('run abandoned: the message belongs to a newer delivery; nothing was published', { code: outcome.error.code, error: outcome.error.message });
        report('abandon', { code: outcome.error.code });
        after(async () => record?.close());
        return;
      }
      case 'handback': {
        await record?.flushCheckpoints();
        const level = outcome.error.code === 'JOB_ABORTED' ? 'info' : 'warn';
        log.log(level, 'job handed back to JetStream', { code: outcome.error.code, error: outcome.error.message, delay_ms: outcome.delayMs });
        if (this.#stopping) this.#parked.push({ d: d(), delayMs: outcome.delayMs, lease: this.#leases.hold(d(), () => {}) });
        else d().nak(outcome.delayMs);
        report('nak', { code: outcome.error.code });
        after(async () => {
          await record?.settled({ state: 'retrying', code: outcome.error.code, message: outcome.error.message, altId: outcome.job?.id });
          await record?.close();
        });
        return;
      }
      case 'done_before': {
        log.warn('the .last of this message is stored already (the earlier ack was lost): acked without running again');
        report('ack', { code: 'DONE_BEFORE' });
        after(async () => {
          const acked = await d().ackAck();
          if (acked) await record?.release();
          await record?.close();
        });
        return;
      }
      case 'parked': {
        // Its park is stored: the message is settled, its slot and lease are free; its checkpoints stay (the park's).
        log.info('job parked: waiting for a person', { task_id: outcome.task, code: 'JOB_PARKED' });
        report('ack', { code: 'JOB_PARKED' });
        after(async () => {
          await d().ackAck();
          await record?.settled({ state: 'waiting', code: 'JOB_PARKED', message: `task ${outcome.task} waits for a person: ${outcome.question}`, altId: outcome.job.id });
          await record?.close();
        });
        return;
      }
      case 'rejected': {
        // A job refused before it decoded still names its id on the lines about it when the id was recoverable.
        const jobLog = outcome.altId && !entry.job ? log.with({ alt_id: outcome.altId }) : log;
        return this.#reject(outcome.error, outcome.altId, outcome.last, entry, record, jobLog, report);
      }
      case 'ran': {
        const { job, last } = outcome;
        // Fencing: a run that may have lost its lease checks that no newer delivery claimed the message.
        if (!this.#leases.valid(lease) || ((d().deliveries > 1 || lease.suspect) && record && !(await record.current(d().deliveries).catch(() => true)))) {
          return this.#execute({ kind: 'abandoned', error: new AltlasError('LEASE_LOST', 'a newer delivery claimed the message before the .last was published'), job }, entry, record, log, report);
        }
        let duplicate = false;
        try {
          duplicate = (await this.#o.publisher.last(last, d(), d().headers)).duplicate;
        } catch (e) {
          const error = isAltlasError(e, 'LAST_TOO_LARGE') ? e : new AltlasError('LAST_PUBLISH_FAILED', `could not store the .last: ${(e as Error).message}`, { cause: e, context: { altId: job.id } });
          const verdict = decideFate({ error, deliveries: d().deliveries, ...this.#rules });
          if (verdict.verb === 'nak') {
            await record?.flushCheckpoints();
            log.warn('the .last could not be stored; the message will be redelivered', { code: error.code, error: error.message, delay_ms: verdict.delayMs });
            d().nak(verdict.delayMs);
            report('nak', { code: error.code });
            after(async () => {
              await record?.settled({ state: 'retrying', code: error.code, message: error.message });
              await record?.close();
            });
            return;
          }
          // The result cannot be stored as it is: a small failure .last says why, the DLQ keeps the job.
          const failure = failureLast(d(), job.id, error, Date.parse(last.start_time), { job, executionId: last.execution_id });
          return this.#reject(error, job.id, failure, entry, record, log, report);
        }
        if (duplicate) {
          this.#o.onDuplicate?.();
          log.warn('the LAST stream already held this .last (a second run of one message)', { code: 'DUPLICATE_LAST' });
        }
        const cancelled = last.metadata.error_code === 'JOB_CANCELLED';
        if (cancelled) this.#o.onCancelled?.(job.id);
        // A job that ended early but ran (cancelled, over its budget) says why.
        const code = cancelled || last.metadata.error_code === 'BUDGET_EXCEEDED' ? last.metadata.error_code as string : undefined;
        report('ack', { status: last.status, ...(code ? { code } : {}) });
        log.info('job finished', { status: last.status, success_rate: last.success_rate, tasks: Object.keys(last.task_results).length, duration_ms: last.execution_time_ms, ...(code ? { code } : {}) });
        after(async () => {
          // A confirmed ack only when checkpoints or a claim are to be removed after it; else no round trip.
          const release = (await record?.holdsRecords()) ?? false;
          let acked = false;
          if (release) {
            acked = await d().ackAck();
            if (!acked) log.warn('the ack was not confirmed; checkpoints are kept until they expire', { code: 'ACK_UNCONFIRMED' });
          } else d().ack();
          const why = cancelled ? 'cancelled by an operator' : code ? String(last.metadata.error ?? code) : '';
          await record?.settled({ state: cancelled ? 'cancelled' : last.status === 'failure' ? 'failed' : 'completed', lastStatus: last.status, last, ...(code ? { code, message: why } : {}) });
          if (acked) await record?.release();
          // A resumed parked job ended: its park's records go.
          if (d().headers?.get(RESUME_HEADER)) await this.#o.parks?.finished(job.id, d().seq);
          await record?.close();
        });
        return;
      }
    }
  }

  /** Stores outputs too large for the `.last` as artifact objects; the `.last` names every artifact by URL. */
  async #artifacts(job: Job, run: JobRun, executionId: string): Promise<ArtifactOptions> {
    const a = this.#o.artifacts;
    const stored = new Set<string>();
    if (a) {
      for (const r of run.results) {
        const text = r.output?.text;
        if (r.status !== 'completed' || !text || Buffer.byteLength(text) <= a.inlineMax) continue;
        const name = artifactObjectName(executionId, r.task_id);
        const bytes = new TextEncoder().encode(text);
        await a.objects.putBlob({ name }, a.codec?.encrypts ? a.codec.seal(bytes, `obj:${name}`) : bytes);
        stored.add(r.task_id);
      }
    }
    const subject = this.#o.publisher.lastSubject(job.id);
    const stream = this.#o.lastStream ?? 'LAST';
    return { stored, url: (taskId, exec, isStored) => (isStored && a ? objectUrl(a.bucket, artifactObjectName(exec, taskId)) : lastUrl(stream, subject, exec, taskId)) };
  }

  /** Failure `.last` (when there is one), DLQ copy, term. When a write fails, the message is naked instead. */
  async #reject(error: AltlasError, altId: string | null, last: Last | null, entry: Running, record: DeliveryRecord | undefined, log: ContextLogger, report: (verb: OutcomeReport['verb'], extra?: { code?: string }) => void): Promise<void> {
    const d = entry.lease.delivery;
    const handBack = async (what: string, e: unknown) => {
      log.error(`${what}; the message will be redelivered`, { code: error.code, error: (e as Error).message });
      d.nak(this.#rules.nakDelayMs);
      report('nak', { code: error.code });
      await record?.close();
    };
    if (last) {
      try {
        await this.#o.publisher.last(last, d, d.headers);
      } catch (e) {
        // With deliveries left, try again later; on the last one the DLQ copy is the record that must exist.
        if (d.deliveries < this.#rules.maxDeliver) return handBack('the failure .last could not be stored', e);
        log.error('the failure .last could not be stored; the DLQ copy is written anyway', { code: error.code, error: (e as Error).message });
      }
    }
    try {
      await this.#o.publisher.deadLetter(d.data, d.headers, d, error, altId);
    } catch (e) {
      return handBack('could not write the DLQ copy', e);
    }
    if (this.#o.termWithReason) d.term(`${error.code}: ${headerValue(redactText(error.message), 200)}`);
    else d.term();
    log.error('job rejected', { code: error.code, error: error.message, problems: error.problems.slice(0, 20), problems_total: error.problems.length });
    report('reject', { code: error.code });
    const after = (async () => {
      await record?.settled({ state: 'failed', lastStatus: last ? 'failure' : null, code: error.code, message: redactText(error.message.slice(0, 500)), altId });
      await record?.release();
      await record?.close();
    })().catch(() => {}).finally(() => this.#after.delete(after));
    this.#after.add(after);
  }
}
