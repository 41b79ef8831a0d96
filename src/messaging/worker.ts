/**
 * The JetStream worker: pulls `.alt` messages for its free slots, keeps their leases alive,
 * runs each once (a redelivery of a message running here is adopted, not run again; a run whose
 * lease is lost stops before its next AI call and publishes nothing; a stale run is fenced off by
 * the newer delivery's claim), publishes the `.last` and acks only after JetStream stored it,
 * dead-letters what can never run, waits out AI outages without spending deliveries, and hands
 * unfinished work back on shutdown.
 */
import { hostname } from 'node:os';
import { SpanKind, trace } from '@opentelemetry/api';
import type { NatsConnection } from '@nats-io/nats-core';
import type { DecodeResult, Job } from '../alt/index.ts';
import { AltlasError, isAltlasError, toAltlasError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import type { Engine } from '../engine/engine.ts';
import type { DeliveryRecord, HoldReason, Recorder } from '../status/recorder.ts';
import { contextLogger, type ContextLogger, type Logger } from '../telemetry/logger.ts';
import { ATTR, SPAN } from '../telemetry/names.ts';
import { TaskTrace, extractContext, inSpan } from '../telemetry/tracing.ts';
import type { AiGate } from './ai-gate.ts';
import type { Delivery } from '../contract/delivery.ts';
import { processDelivery, type FlowDeps } from './job-flow.ts';
import { cancelOrigin, type ParkStore } from '../approval/park.ts';
import type { MessageOrigin } from '../status/fleet.ts';
import type { ReplaySeed } from '../replay/seed.ts';
import { Leases, StallWatch, admit, type Lease } from './leases.ts';
import { leaseTiming, type LeaseTiming } from './lease-timing.ts';
import type { Publisher } from './publisher.ts';
import { inboxPrefixOf } from './connect.ts';
import { PullLoop } from './pull.ts';
import { LaneIntake, type LaneIntakeOptions } from './lane-intake.ts';
import type { Outcome, SettleRules } from './settle.ts';
import { Settler } from './settler.ts';
import { HEADERS } from '../contract/subjects.ts';
import { artifactObjectName, lastUrl, objectUrl, type ArtifactOptions } from '../last/index.ts';
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
  cancelRequested?: (altId: string, origin: MessageOrigin) => boolean;
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
  /** This worker's id (`<host>:<pid>` by default), on the `run started` and `run ended` lines. */
  workerId?: string;
  /** Parked jobs (approval tasks): parks a job, resumes it, and removes its park once it ended. */
  parks?: ParkStore | null;
  /** Reads a replay's seed (altlas replay). */
  replays?: ((id: string) => Promise<ReplaySeed | null>) | null;
  /** Of `free` slots, how many jobs could start their AI calls now (room in the models' rate limits): the worker pulls no more. */
  room?: (free: number) => number;
  /** RUNNER_KEEP_ALT: keeps each job's `.alt`. */
  keepAlt?: ((altId: string, data: Uint8Array) => Promise<void>) | null;
  /** A run starts (not a redelivery adopted by a run here): metrics by lane and tenant. */
  onStart?: (d: Delivery) => void;
  /** RUNNER_LANES: pull through one consumer per lane and tenant (see lane-intake.ts) instead of the one pull loop. */
  lanes?: Omit<LaneIntakeOptions, 'nc' | 'stream' | 'durable' | 'concurrency' | 'inboxPrefix' | 'inFlight' | 'holds' | 'paused' | 'onMessage' | 'onError' | 'stamp'> | null;
}

export interface WorkerState {
  running: boolean;
  stopping: boolean;
  inFlight: number;
  processed: number;
  waitingForAi: number;
}

/**
 * Ack waits after a reconnect during which every first delivery is checked like a redelivery: a
 * nats-server killed and restarted can lose the acks it had not yet written to disk, and deliver
 * those messages again (as first deliveries, their count lost too) soon after it is back.
 */
const RECHECK_ACK_WAITS = 3;

/** True when a `x.y.z` server version is at least `min`. */
export function versionAtLeast(version: string, min: readonly [number, number, number]): boolean {
  const v = version.split(/[.-]/).slice(0, 3).map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i] > min[i];
  return true;
}

/** A delivery leased and waiting to run (held, or behind a run of its message that is stopping). */
interface Pending {
  d: Delivery;
  lease: Lease<Delivery>;
  box: { entry?: Running };
  /** Its record when it was held: its history shows it from its arrival. */
  record?: DeliveryRecord;
}

interface Running {
  lease: Lease<Delivery>;
  abort: AbortController;
  job: Job | null;
  /** AI requests this run let out (counted by the guard immediately before each is written). */
  aiCalls: number;
  /** Resolves with the error once the lease is lost: what the run waits for (a read, a publish) is given up then. */
  whenLost: Promise<AltlasError>;
  /** A newer delivery of the message, read while this run was stopping after its lease was lost: it runs once this one ended. */
  next?: Pending;
  /** The delivery's record, begun when it arrived and was held (its history says so); else begun when it runs. */
  record?: DeliveryRecord;
  /** The verb this run ended with (set when it settles). */
  outcome?: OutcomeReport['verb'] | 'error';
  /** The job id, once decoded or recovered from a job that did not decode. */
  altId?: string | null;
}

export class Worker {
  readonly #o: WorkerOptions;
  readonly #leases: Leases<Delivery>;
  readonly #timing: LeaseTiming;
  readonly #stalls = new StallWatch();
  readonly #pull: PullLoop | LaneIntake;
  readonly #rules: SettleRules;
  readonly #settler: Settler<Delivery>;
  /** What every delivery's flow is handed: one object for the worker, not one with its closures per job. */
  readonly #flow: FlowDeps;
  /** Jobs holding a slot, by ALT stream sequence. */
  readonly #running = new Map<number, Running>();
  readonly #byAltId = new Map<string, Running>();
  /** Work after the slot is free (ack round trip, checkpoint removal, final status). */
  readonly #after = new Set<Promise<void>>();
  /**
   * Deliveries that arrived for requests sent before a pause, a drain or a lowered concurrency,
   * leased: they run as slots free while the intake runs (handed back by a drain or a shutdown).
   */
  readonly #held: Pending[] = [];
  /** While stopping: deliveries that arrived for requests still waiting, and hand-backs, sent once those expired. */
  readonly #parked: { d: Delivery; delayMs: number; lease?: Lease<Delivery>; record?: DeliveryRecord }[] = [];
  #closing: Promise<void> | null = null;
  #started = false;
  #stopping = false;
  /** The highest stream sequence delivered to this worker. */
  #seenUpTo = 0;
  /**
   * After a reconnect: the server may have restarted and lost the acks it had not yet written,
   * and then delivers those messages again as first deliveries. Until `until`, and for every
   * sequence up to `upTo`, a first delivery is checked like a redelivery (its .last, its claim).
   */
  #recheck: { upTo: number; until: number } | null = null;
  #processed = 0;
  #concurrency: number;
  /** The fleet is paused (altlas pause): no new work is pulled. */
  #paused = false;
  /** altlas drain: resolves the drain once nothing runs here any more. */
  #draining: { done: () => void } | null = null;

  constructor(options: WorkerOptions) {
    this.#concurrency = options.config.RUNNER_CONCURRENCY;
    this.#o = options;
    this.#rules = { maxDeliver: options.maxDeliver, nakDelayMs: options.config.RUNNER_NAK_DELAY_MS, nakMaxDelayMs: options.config.RUNNER_NAK_MAX_DELAY_MS };
    this.#timing = leaseTiming(options.ackWaitMs);
    this.#settler = new Settler<Delivery>({
      rules: this.#rules, publisher: options.publisher, termWithReason: options.termWithReason,
      leases: { valid: (l) => this.#leases.valid(l), maySettle: (l) => this.#leases.maySettle(l) },
      stopping: () => this.#stopping,
      park: (d, delayMs, renewedAt) => this.#parked.push({ d, delayMs, lease: this.#leases.hold(d, () => {}, renewedAt) }),
      after: (work) => {
        const p = work.finally(() => this.#after.delete(p));
        this.#after.add(p);
      },
      onDuplicate: options.onDuplicate, onCancelled: options.onCancelled, parks: options.parks,
    });
    this.#leases = new Leases<Delivery>({ timing: this.#timing, connected: options.connected });
    this.#flow = {
      rules: this.#rules, engine: options.engine, gate: options.gate,
      decode: (d) => this.#o.decode(d as Delivery),
      lastStored: (altId, seq) => this.#o.publisher.lastStored(altId, seq),
      cancelRequested: (altId, origin) => this.#o.cancelRequested?.(altId, origin) ?? false,
      artifacts: (job, run, executionId) => this.#artifacts(job, run, executionId),
      currency: options.currency, budgets: options.budgets, parks: options.parks, replays: options.replays, keepAlt: options.keepAlt,
    };
    // What the pull loop and the lanes' intake share.
    const intake = {
      nc: options.nc, stream: options.config.ALT_STREAM, durable: options.config.RUNNER_DURABLE, concurrency: options.config.RUNNER_CONCURRENCY,
      inboxPrefix: inboxPrefixOf(options.nc), inFlight: () => this.#running.size,
      paused: () => this.#stopping || this.#paused || this.#draining !== null || options.gate.down, room: options.room,
      onMessage: (d: Delivery, requestedAt: number) => this.#receive(d, requestedAt),
      // A request's time is read after the stall watch noticed any stall that just ended.
      stamp: () => {
        const now = Date.now();
        this.#stalls.tick(now);
        return now;
      },
      onError: (e: Error) => options.logger.warn('pull request failed', { error: e.message }),
    };
    this.#pull = options.lanes ? new LaneIntake({ ...options.lanes, ...intake, holds: (seq) => this.#running.has(seq) }) : new PullLoop({
      ...intake,
      // A pull request outlives its worker on the server; nats-server 2.9 hands a redelivery to such a
      // dead request and then does not count it, so the next worker would see delivery 1 again. Requests
      // shorter than 2/3 of the ack wait have expired before any message of a dead worker is redelivered.
      expiresMs: Math.min(options.pullExpiresMs ?? 5_000, this.#timing.pullExpiresCapMs),
    });
  }

  /** Jobs this worker runs at once now. */
  get concurrency(): number {
    return this.#concurrency;
  }

  /** True while an operator's pause or drain keeps this worker from taking new work. */
  get paused(): boolean {
    return this.#paused || this.#draining !== null;
  }

  get state(): WorkerState {
    return { running: this.#started && !this.#stopping, stopping: this.#stopping, inFlight: this.#running.size, processed: this.#processed, waitingForAi: this.#o.gate.waiting };
  }

  /** The subjects of the jobs running here. */
  get runningSubjects(): string[] {
    return [...this.#running.values()].map((r) => r.lease.delivery.subject);
  }

  /** RUNNER_LANES: messages stored per lane and tenant at the intake's last scan; null without lanes. */
  get laneCounts(): { lane: string; tenant: string; count: number }[] | null {
    return this.#pull instanceof LaneIntake ? this.#pull.stored : null;
  }

  /** True while this worker runs ALT message `seq`. */
  holds(seq: number): boolean {
    return this.#running.has(seq);
  }

  /** The fractions of the ack wait this worker lives by. */
  get timing(): LeaseTiming {
    return this.#timing;
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
    this.#recheck = { upTo: this.#seenUpTo, until: Date.now() + RECHECK_ACK_WAITS * this.#o.ackWaitMs };
    this.#leases.tick();
    this.#pull.reconnected();
  }

  /** True when a first delivery must be checked like a redelivery: it may repeat one whose ack a restarted server lost. */
  #mayRepeat(seq: number): boolean {
    const r = this.#recheck;
    if (!r) return false;
    if (seq <= r.upTo || Date.now() < r.until) return true;
    this.#recheck = null;
    return false;
  }

  /** The AI gate opened again (or something else freed): ask for work. */
  kick(): void {
    this.#pull.kick();
  }

  /**
   * Pauses or resumes this worker's intake (altlas pause / resume): no new pull request while
   * paused, and a message that still arrives for a request sent before is held (leased) and runs
   * on resume. What runs goes on.
   */
  setPaused(paused: boolean): void {
    if (this.#paused === paused) return;
    this.#paused = paused;
    if (paused || this.#draining || this.#stopping) return;
    this.#startHeld();
    this.#pull.kick();
  }

  /** Starts held deliveries while the intake runs and slots are free (on resume, and as runs end). */
  #startHeld(): void {
    while (this.#held.length && this.#running.size < this.#concurrency && !this.#paused && !this.#draining && !this.#stopping) {
      const h = this.#held.shift()!;
      this.#start(h.d, h.d.receivedAt, h);
    }
  }

  /** Changes the jobs run at once (altlas workers set --concurrency): more are pulled at once; fewer as jobs end. */
  setConcurrency(n: number): void {
    this.#concurrency = n;
    this.#startHeld();
    this.#pull.setConcurrency(n);
  }

  /**
   * Drains this worker (altlas drain): takes no new work, lets what runs finish however long it
   * takes, and resolves once nothing runs (held messages are handed back by {@link close}).
   */
  drain(): Promise<void> {
    if (this.#draining) return this.#drained!;
    this.#drained = new Promise<void>((resolve) => {
      this.#draining = { done: resolve };
    });
    this.#parkHeld();
    this.#checkDrained();
    return this.#drained;
  }

  #drained: Promise<void> | null = null;

  #checkDrained(): void {
    if (this.#draining && this.#running.size === 0) this.#draining.done();
  }

  /** Held messages go to the hand-backs sent once no request of this worker is open. */
  #parkHeld(): void {
    for (const h of this.#held.splice(0)) this.#parked.push({ d: h.d, delayMs: 0, lease: h.lease, record: h.record });
  }

  /** Aborts a running job of this id whose message the cancel covers (an operator's cancel); true when one ran here. */
  cancel(altId: string, covers: (origin: MessageOrigin) => boolean): boolean {
    const r = this.#byAltId.get(altId);
    if (!r || !covers(cancelOrigin(r.lease.delivery))) return false;
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
      this.#parkHeld();
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
        // A delivery whose lease ran out meanwhile is left alone: JetStream redelivers it by itself.
        if (!p.lease || this.#leases.maySettle(p.lease)) {
          p.d.nak(p.delayMs);
          p.record?.handedBack('JOB_ABORTED');
        }
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

  #receive(d: Delivery, requestedAt = d.receivedAt): void {
    this.#stalls.tick(d.receivedAt);
    const repeat = this.#mayRepeat(d.seq);
    if (d.seq > this.#seenUpTo) this.#seenUpTo = d.seq;
    if (this.#stopping && !this.#running.has(d.seq)) {
      // A request sent before the shutdown was filled: hold the message (leased) and hand it back with the rest.
      this.#parked.push({ d, delayMs: 0, lease: this.#leases.hold(d, () => {}), record: this.#holdRecord(d, 'stopping') });
      return;
    }
    if ((this.#paused || this.#draining) && !this.#running.has(d.seq)) {
      // A request sent before the pause or drain was filled: hold the message (leased); it runs on resume, or is handed back.
      const box: { entry?: Running } = {};
      const lease = this.#leases.hold(d, (l) => box.entry && this.#lost(l, box.entry));
      const record = this.#holdRecord(d, this.#draining ? 'draining' : 'paused');
      if (this.#draining) this.#parked.push({ d, delayMs: 0, lease, record });
      else this.#held.push({ d, lease, box, record });
      this.#o.logger.info(this.#draining ? 'a delivery arrived while draining: it is handed back' : 'a delivery arrived while paused: held until the intake resumes', { alt_stream_seq: d.seq, deliveries: d.deliveries });
      return;
    }
    const held = this.#running.get(d.seq);
    if (held) {
      // JetStream redelivered a message that is still running here: keep one run, leased on the newest delivery.
      if (held.lease.adopt(d, Date.now())) {
        this.#leases.renew(held.lease);
        this.#o.logger.warn('redelivery of a job running here: it goes on under the new delivery', { alt_stream_seq: d.seq, deliveries: d.deliveries, alt_id: held.job?.id });
        return;
      }
      // The run here lost its lease and is stopping: the new delivery (leased from now) runs once it has ended.
      if (held.next) this.#leases.release(held.next.lease);
      const box: { entry?: Running } = {};
      held.next = { d, box, lease: this.#leases.hold(d, (lease) => box.entry && this.#lost(lease, box.entry)) };
      this.#o.logger.warn('redelivery of a job whose run here lost its lease: it runs once that run has stopped', { alt_stream_seq: d.seq, deliveries: d.deliveries, alt_id: held.job?.id });
      return;
    }
    if (this.#running.size >= this.#concurrency) {
      // A request sent before the concurrency was lowered was filled: hold the message (leased) until a slot frees.
      const box: { entry?: Running } = {};
      this.#held.push({ d, box, lease: this.#leases.hold(d, (l) => box.entry && this.#lost(l, box.entry)), record: this.#holdRecord(d, 'concurrency') });
      this.#o.logger.info('a delivery arrived beyond the concurrency: held until a slot frees', { alt_stream_seq: d.seq, deliveries: d.deliveries, concurrency: this.#concurrency });
      return;
    }
    this.#start(d, requestedAt, undefined, repeat);
  }

  /**
   * The record of a delivery held on arrival: its history says at once that it was delivered here
   * and why it waits (its id read from its bytes, no decoding), so a hold shows while it lasts.
   */
  #holdRecord(d: Delivery, reason: HoldReason): DeliveryRecord | undefined {
    const record = this.#o.recorder?.begin(d);
    const altId = record ? this.#o.publisher.altIdOf(d.data, d.contentType) : null;
    if (altId) record!.identified(altId, reason);
    return record;
  }

  /**
   * Starts a run of a delivery. One read after a stall of this process and requested before the
   * stall ended may have waited through it in the socket buffer: its lease is taken to have begun
   * when the stall began (or when it was requested, if later); one requested after the stall owns
   * a full lease. A delivery whose lease is lost before it ran is handed back with a nak while the
   * server's lease surely runs, and else released (the server has redelivered it, or will).
   */
  #start(d: Delivery, requestedAt: number, next?: Pending, repeat = false): void {
    const abort = new AbortController();
    let lease: Lease<Delivery>;
    let box: { entry?: Running };
    let suspect = false;
    if (next) {
      ({ lease, box } = next);
    } else {
      box = {};
      const stall = this.#stalls.overlapping(requestedAt, d.receivedAt);
      const admission = admit({ requestedAt, receivedAt: d.receivedAt, now: Date.now(), stall, timing: this.#timing, connected: this.#o.connected() });
      const fields = { alt_stream_seq: d.seq, deliveries: d.deliveries, ...(stall ? { stalled_ms: stall.end - stall.start } : {}) };
      if (admission.verdict !== 'run') {
        if (admission.verdict === 'nak') d.nak(0);
        this.#o.logger.warn(admission.verdict === 'nak'
          ? 'a delivery that waited through a stall of the worker lost its lease before it ran: handed back'
          : 'a delivery that waited through a stall of the worker lost its lease before it ran: released, JetStream redelivers it', { ...fields, unrenewed_ms: admission.unrenewedMs, code: 'LEASE_LOST' });
        this.#o.onOutcome?.({ verb: admission.verdict === 'nak' ? 'nak' : 'abandon', code: 'LEASE_LOST', durationMs: 0, deliveries: d.deliveries });
        this.#pull.kick();
        return;
      }
      suspect = admission.heldAcrossStall;
      this.#o.onStart?.(d);
      lease = this.#leases.hold(d, (l) => box.entry && this.#lost(l, box.entry), admission.startedAt, suspect);
      if (suspect) {
        this.#o.logger.warn('a delivery was read right after the worker stalled: its lease is renewed and it is checked like a redelivery', { ...fields, unrenewed_ms: lease.age(Date.now()) });
        this.#leases.renew(lease);
      }
    }
    const whenLost = new Promise<AltlasError>((resolve) => abort.signal.addEventListener('abort', () => {
      if (isAltlasError(abort.signal.reason, 'LEASE_LOST')) resolve(abort.signal.reason);
    }, { once: true }));
    const entry: Running = { abort, job: null, lease, aiCalls: 0, whenLost, ...(next?.record ? { record: next.record } : {}) };
    box.entry = entry;
    this.#running.set(d.seq, entry);
    void this.#handle(d, entry, suspect || repeat || lease.suspect).catch((e) => {
      this.#o.logger.error('unexpected error handling a message; it will be redelivered', { error: toAltlasError(e).message, code: 'INTERNAL', alt_stream_seq: d.seq });
    }).finally(() => {
      this.#leases.release(entry.lease);
      this.#running.delete(d.seq);
      if (entry.job && this.#byAltId.get(entry.job.id) === entry) this.#byAltId.delete(entry.job.id);
      this.#processed++;
      if (entry.next && !this.#stopping) this.#start(entry.next.d, entry.next.d.receivedAt, entry.next);
      else if (entry.next) this.#parked.push({ d: entry.next.d, delayMs: 0, lease: entry.next.lease });
      this.#startHeld();
      this.#pull.kick();
      this.#checkDrained();
    });
  }

  #lost(lease: Lease<Delivery>, entry: Running): void {
    const d = lease.delivery;
    this.#o.logger.warn('lease lost: the job stops here without publishing; JetStream hands it to another delivery', {
      alt_stream_seq: d.seq, deliveries: d.deliveries, alt_id: entry.job?.id, unrenewed_ms: lease.age(Date.now()), code: 'LEASE_LOST',
    });
    entry.abort.abort(new AltlasError('LEASE_LOST', `the lease of message ${d.seq} was not renewed in time`));
  }

  /** One delivery inside its CONSUMER span, the child of the producer's context from the headers. */
  #handle(d: Delivery, entry: Running, suspect: boolean): Promise<void> {
    // The attributes are set once the span is known to record: the jobs the sampler drops build none.
    return inSpan(SPAN.process(d.stream), { kind: SpanKind.CONSUMER }, extractContext(d.headers), (span) => this.#process(d, entry, suspect, (k, v) => span.setAttribute(k, v)), () => ({
      [ATTR.messagingSystem]: 'nats', [ATTR.messagingOperationType]: 'process', [ATTR.messagingOperationName]: 'process',
      [ATTR.messagingDestination]: d.subject, [ATTR.natsStream]: d.stream, [ATTR.messagingConsumerGroup]: this.#o.config.RUNNER_DURABLE,
      [ATTR.messagingMessageId]: d.headers?.get(HEADERS.msgId) || `${d.stream}:${d.seq}`, [ATTR.natsDeliveryCount]: d.deliveries,
      [ATTR.natsStreamSequence]: d.seq, [ATTR.messagingBodySize]: d.data.length,
    }));
  }

  /** A promise chain, not an async function: no suspended frame held per job in flight. */
  #process(d: Delivery, entry: Running, suspect: boolean, annotate: (key: string, value: string) => void): Promise<void> {
    const workerId = this.#o.workerId ?? `${hostname()}:${process.pid}`;
    const base = contextLogger(this.#o.logger, { alt_stream_seq: d.seq, deliveries: d.deliveries });
    // One line when the run starts and one when it stops, whatever stopped it: overlapping runs of a message can be counted from them.
    base.info('run started', { worker_id: workerId });
    const ended = () => {
      const altId = entry.job?.id ?? entry.altId;
      base.info('run ended', { ...(altId ? { alt_id: altId } : {}), worker_id: workerId, outcome: entry.outcome ?? 'abandon' });
    };
    return this.#run(d, entry, suspect, annotate, base).then(ended, (e: unknown) => {
      entry.outcome = 'error';
      ended();
      throw e;
    });
  }

  async #run(d: Delivery, entry: Running, suspect: boolean, annotate: (key: string, value: string) => void, base: ContextLogger): Promise<void> {
    let log = base;
    if (d.deliveries > 1) log.warn('redelivered message', { subject: d.subject });
    const started = performance.now();
    const jobSpan = trace.getActiveSpan();
    const record = entry.record ?? this.#o.recorder?.begin(d);
    const lease = entry.lease;
    // A run whose lease is lost ends at once, whatever it waits for (a read of the stores in an outage): its run line ends it.
    const abandoned = entry.whenLost.then((error): Outcome => ({ kind: 'abandoned', error, job: entry.job }));
    // Returned, not awaited: this function's frame ends here rather than staying suspended for the whole run.
    return Promise.race([abandoned, processDelivery(this.#flow, {
      d, record, signal: entry.abort.signal, log, suspect,
      // Task events on the job's span only when it records (tracing on and sampled): nothing to pay otherwise.
      taskTrace: jobSpan?.isRecording() ? new TaskTrace(jobSpan) : undefined,
      guard: () => (this.#leases.valid(lease) ? null : new AltlasError('LEASE_LOST', `the lease of message ${d.seq} was lost`)),
      // The same check where the request is handed to the transport; what it lets out is counted (a run that made no AI call can be handed back).
      requestGuard: () => {
        if (!this.#leases.valid(lease)) return new AltlasError('LEASE_LOST', `the lease of message ${d.seq} was lost`);
        entry.aiCalls++;
        return null;
      },
      onJob: (job) => {
        entry.job = job;
        record?.identified(job.id);
        this.#byAltId.set(job.id, entry);
        annotate(ATTR.altId, job.id);
        log = log.with({ alt_id: job.id });
        if (log.isDebugEnabled()) log.debug('job decoded', { form: job.source.form, tasks: job.tasks.map((t) => ({ task_id: t.id, kind: t.kind, dependencies: t.dependencies, parameters: t.parameters })) });
      },
    })]).then((outcome) => {
      entry.altId = outcome.kind === 'rejected' ? outcome.altId : outcome.job?.id ?? null;
      const report = (verb: OutcomeReport['verb'], extra: { code?: string; status?: string } = {}) => {
        entry.outcome = verb;
        record?.ended({ verb, ...extra, altId: entry.altId });
        annotate(ATTR.outcome, verb);
        if (extra.code) annotate(ATTR.errorCode, extra.code);
        if (extra.status) annotate(ATTR.lastStatus, extra.status);
        this.#o.onOutcome?.({ verb, ...extra, durationMs: performance.now() - started, deliveries: d.deliveries });
      };
      return this.#settler.settle(outcome, { lease, record, log, report, aiCalls: entry.aiCalls, whenLost: entry.whenLost, decoded: entry.job !== null });
    });
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
}
