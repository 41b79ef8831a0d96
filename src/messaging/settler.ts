/**
 * The settlement of one delivery: executes an {@link Outcome} (see settle.ts) on the message, the
 * stores and the LAST stream. One method per outcome kind; every decision goes through the pure
 * rules (the fate table for errors, a failed publish included; {@link lostLeaseVerb} for a run
 * that lost its lease); nothing calls back into {@link Settler.settle}. The lease is checked
 * before anything is sent: a verb (ack, nak, term) goes out only while the server's lease surely
 * runs, a `.last` only while the lease holds and no newer delivery claimed the message (fail
 * closed: a claim that cannot be read counts as lost).
 */
import type { MsgHdrs } from '@nats-io/nats-core';
import { AltlasError, isAltlasError } from '../errors.ts';
import type { Last } from '../last/index.ts';
import { redactText } from '../security/redact.ts';
import type { DeliveryRecord } from '../status/recorder.ts';
import type { ContextLogger } from '../telemetry/logger.ts';
import type { DeliveryInfo } from '../contract/delivery.ts';
import type { Lease, LeasedDelivery } from './leases.ts';
import { failureLast, lostLeaseVerb, outcomeOf, type Outcome, type SettleRules } from './settle.ts';
import { headerValue } from '../contract/subjects.ts';
import { RESUME_HEADER } from '../approval/park.ts';

/** What the settler sends on a delivery. */
export interface SettleDelivery extends LeasedDelivery, DeliveryInfo {
  headers?: MsgHdrs | undefined;
  ack(): void;
  ackAck(): Promise<boolean>;
  nak(delayMs?: number): void;
  term(reason?: string): void;
}

/** The records of a delivery the settler writes (status, checkpoints, claim). */
export type SettleRecord = Pick<DeliveryRecord, 'flushCheckpoints' | 'holdsRecords' | 'current' | 'settled' | 'release' | 'close' | 'stored'>;

export type ReportedVerb = 'ack' | 'nak' | 'reject' | 'abandon';

export interface SettlerOptions<D extends SettleDelivery> {
  rules: SettleRules;
  publisher: {
    last(last: Last, d: Pick<DeliveryInfo, 'stream' | 'seq'>, original: MsgHdrs | undefined): Promise<{ duplicate: boolean }>;
    deadLetter(data: Uint8Array, original: MsgHdrs | undefined, d: Pick<DeliveryInfo, 'stream' | 'seq' | 'subject' | 'deliveries'>, error: AltlasError, altId: string | null): Promise<void>;
  };
  leases: { valid(lease: Lease<D>): boolean; maySettle(lease: Lease<D>): boolean };
  /** A reason on +TERM (nats-server 2.10.4). */
  termWithReason?: boolean;
  /** True while the worker shuts down: hand-backs are parked and sent once no request of it is open. */
  stopping: () => boolean;
  park: (d: D, delayMs: number, renewedAt: number) => void;
  /** Work after the slot is free (ack round trip, checkpoint removal, final status): tracked for shutdown. */
  after: (work: Promise<void>) => void;
  onDuplicate?: () => void;
  onCancelled?: (altId: string) => void;
  /** Parked jobs: a resumed parked job that ended has its park's records removed. */
  parks?: { finished(altId: string, seq: number): Promise<void> } | null;
  now?: () => number;
}

/** One run being settled. */
export interface SettleRun<D extends SettleDelivery> {
  lease: Lease<D>;
  record?: SettleRecord;
  log: ContextLogger;
  /** Reports the verb (metrics, spans, the `run ended` line). */
  report: (verb: ReportedVerb, extra?: { code?: string; status?: string }) => void;
  /** AI requests the run let out. */
  aiCalls: number;
  /** Resolves with the error once the lease is lost. */
  whenLost: Promise<AltlasError>;
  /** True when the job decoded (its lines carry its id already). */
  decoded: boolean;
}

type Fence = 'ok' | 'lost' | 'newer' | Error;

/** Executes the outcome of a delivery: one method per outcome kind (see the file comment). */
export class Settler<D extends SettleDelivery> {
  readonly #o: SettlerOptions<D>;

  constructor(options: SettlerOptions<D>) {
    this.#o = options;
  }

  settle(outcome: Outcome, run: SettleRun<D>): Promise<void> {
    switch (outcome.kind) {
      case 'abandoned': return this.abandoned(outcome, run);
      case 'handback': return this.handback(outcome, run);
      case 'done_before': return this.doneBefore(outcome, run);
      case 'rejected': return this.rejected(outcome, run);
      case 'ran': return this.ran(outcome, run);
      case 'parked': return this.parked(outcome, run);
    }
  }

  /** Lease lost or a newer claim: nothing is published; a hand-back only when the run made no AI call and the server's lease surely runs. */
  async abandoned(o: Extract<Outcome, { kind: 'abandoned' }>, run: SettleRun<D>): Promise<void> {
    const { record, log } = run;
    // The results completed are written for the next delivery after the run ended (a store may not answer now).
    const close = async () => {
      if (!o.newer) await record?.flushCheckpoints();
      await record?.close();
    };
    const verb = lostLeaseVerb({ newer: o.newer === true, aiCalls: run.aiCalls, stopping: this.#o.stopping(), maySettle: this.#o.leases.maySettle(run.lease) });
    if (verb === 'nak') {
      run.lease.delivery.nak(0);
      log.warn('lease lost before any AI call: the job is handed back to JetStream', { code: o.error.code, error: o.error.message });
      run.report('nak', { code: o.error.code });
    } else {
      log.warn('run abandoned: the message belongs to a newer delivery; nothing was published', { code: o.error.code, error: o.error.message });
      run.report('abandon', { code: o.error.code });
    }
    this.#after(close(), log);
  }

  /** A transient failure or a shutdown: pending checkpoints, then a nak with the table's delay. */
  async handback(o: Extract<Outcome, { kind: 'handback' }>, run: SettleRun<D>): Promise<void> {
    const { record, log, lease } = run;
    // A lease past settling already (the worker was stopped, say): the run ends at once, its checkpoints written after it.
    if (!this.#settleable(run, 'hand-back', true)) return;
    await record?.flushCheckpoints();
    if (!this.#settleable(run, 'hand-back')) return;
    const d = lease.delivery;
    log.log(o.error.code === 'JOB_ABORTED' ? 'info' : 'warn', 'job handed back to JetStream', { code: o.error.code, error: o.error.message, delay_ms: o.delayMs });
    if (this.#o.stopping()) this.#o.park(d, o.delayMs, lease.renewedAt);
    else d.nak(o.delayMs);
    run.report('nak', { code: o.error.code });
    this.#after((async () => {
      await record?.settled({ state: 'retrying', code: o.error.code, message: o.error.message, altId: o.job?.id });
      await record?.close();
    })(), log);
  }

  /** Its `.last` is stored already: acked, nothing else. */
  async doneBefore(o: Extract<Outcome, { kind: 'done_before' }>, run: SettleRun<D>): Promise<void> {
    const { record, log, lease } = run;
    if (!this.#settleable(run, 'ack')) return;
    if (o.heldBy !== undefined) log.warn('an earlier delivery of this message parked the job and its resume holds it now (the earlier ack was lost): acked without running', { resumed_by: o.heldBy });
    else log.warn('the .last of this message is stored already (the earlier ack was lost): acked without running again');
    run.report('ack', { code: 'DONE_BEFORE' });
    const d = lease.delivery;
    this.#after((async () => {
      const acked = await d.ackAck();
      // A parked job's checkpoints are its park's: they stay for its resumed run.
      if (acked && o.heldBy === undefined) await record?.release();
      await record?.close();
    })(), log);
  }

  /** An approval task waits for a person, or the tenant's budget for its period: the park is stored, the message is acked (its checkpoints stay, the park's). */
  async parked(o: Extract<Outcome, { kind: 'parked' }>, run: SettleRun<D>): Promise<void> {
    const { record, log, lease } = run;
    if (!this.#settleable(run, 'ack')) return;
    const budget = o.code === 'BUDGET_WAIT';
    const code = budget ? 'BUDGET_WAIT' : 'JOB_PARKED';
    if (budget) log.info('job parked: waiting for its tenant\'s budget period to turn', { code, ...(Number.isFinite(o.resumeAt) ? { resume_at: new Date(o.resumeAt!).toISOString() } : {}), ...(o.task ? { task_id: o.task } : {}) });
    else log.info('job parked: waiting for a person', { task_id: o.task, code });
    run.report('ack', { code });
    const d = lease.delivery;
    this.#after((async () => {
      await d.ackAck();
      await record?.settled({ state: 'waiting', code, message: budget ? o.question : `task ${o.task} waits for a person: ${o.question}`, altId: o.job.id });
      await record?.close();
    })(), log);
  }

  /** Failure `.last` (when there is one), DLQ copy, term; a write that fails hands the message back instead. */
  async rejected(o: Extract<Outcome, { kind: 'rejected' }>, run: SettleRun<D>): Promise<void> {
    const { error, altId, last } = o;
    const { record, lease } = run;
    // A job refused before it decoded still names its id on the lines about it when the id was recoverable.
    const log = altId && !run.decoded ? run.log.with({ alt_id: altId }) : run.log;
    const d = lease.delivery;
    const lost = async () => {
      log.warn('the lease ran out before the job could be rejected: nothing is sent on the message; JetStream hands it to a new delivery', { code: 'LEASE_LOST', rejected_code: error.code });
      run.report('abandon', { code: 'LEASE_LOST' });
      await record?.close();
    };
    const handBack = async (what: string, e: unknown) => {
      if (!this.#o.leases.maySettle(lease)) return lost();
      log.error(`${what}; the message will be redelivered`, { code: error.code, error: (e as Error).message });
      d.nak(this.#o.rules.nakDelayMs);
      run.report('nak', { code: error.code });
      await record?.close();
    };
    if (!this.#o.leases.valid(lease)) return lost();
    if (last) {
      try {
        const { duplicate } = await this.#o.publisher.last(last, d, d.headers);
        record?.stored(last.status, error.code, altId, duplicate);
      } catch (e) {
        // With deliveries left, try again later; on the last one the DLQ copy is the record that must exist.
        if (d.deliveries < this.#o.rules.maxDeliver) return handBack('the failure .last could not be stored', e);
        log.error('the failure .last could not be stored; the DLQ copy is written anyway', { code: error.code, error: (e as Error).message });
      }
    }
    try {
      await this.#o.publisher.deadLetter(d.data, d.headers, d, error, altId);
    } catch (e) {
      return handBack('could not write the DLQ copy', e);
    }
    if (!this.#o.leases.maySettle(lease)) return lost();
    if (this.#o.termWithReason) d.term(`${error.code}: ${headerValue(redactText(error.message), 200)}`);
    else d.term();
    log.error('job rejected', { code: error.code, error: error.message, problems: error.problems.slice(0, 20), problems_total: error.problems.length });
    run.report('reject', { code: error.code });
    this.#after((async () => {
      await record?.settled({ state: 'failed', lastStatus: last ? 'failure' : null, code: error.code, message: redactText(error.message.slice(0, 500)), altId });
      await record?.release();
      await record?.close();
    })(), log);
  }

  /** The job ran: fence, `.last`, then ack (confirmed when records are to be removed after it). */
  async ran(o: Extract<Outcome, { kind: 'ran' }>, run: SettleRun<D>): Promise<void> {
    const { job, last } = o;
    const { record, log, lease } = run;
    const d = lease.delivery;
    const fence = await Promise.race([this.#fence(run), run.whenLost.then((): Fence => 'lost')]);
    if (fence === 'lost' || fence === 'newer') {
      return this.abandoned({ kind: 'abandoned', error: new AltlasError('LEASE_LOST', 'a newer delivery claimed the message before the .last was published', { context: { newer: true } }), job, newer: true }, run);
    }
    if (fence instanceof Error) {
      // Fail closed: nothing is published; the fate table says how the message goes back.
      const error = new AltlasError('CHECKPOINTS_UNAVAILABLE', `could not confirm the claim of message ${d.seq} before publishing: ${fence.message}`, { cause: fence, context: { altId: job.id } });
      log.warn('the claim could not be confirmed; nothing is published and the message is handed back', { code: error.code, error: error.message });
      return this.#failed(error, job, last, run);
    }
    let duplicate: boolean;
    try {
      // The lease lost while the .last is on its way: the run ends without a verb (a .last that lands is found by the redelivery).
      const stored = await Promise.race([this.#o.publisher.last(last, d, d.headers), run.whenLost]);
      if (stored instanceof AltlasError) return this.abandoned({ kind: 'abandoned', error: stored, job, newer: true }, run);
      duplicate = stored.duplicate;
    } catch (e) {
      const error = isAltlasError(e, 'LAST_TOO_LARGE') ? e : new AltlasError('LAST_PUBLISH_FAILED', `could not store the .last: ${(e as Error).message}`, { cause: e, context: { altId: job.id } });
      return this.#failed(error, job, last, run);
    }
    if (duplicate) {
      this.#o.onDuplicate?.();
      log.warn('the LAST stream already held this .last (a second run of one message)', { code: 'DUPLICATE_LAST' });
    }
    const cancelled = last.metadata.error_code === 'JOB_CANCELLED';
    if (cancelled) this.#o.onCancelled?.(job.id);
    // A job that ended early but ran (cancelled, over its budget) says why.
    const code = cancelled || last.metadata.error_code === 'BUDGET_EXCEEDED' ? last.metadata.error_code as string : undefined;
    // Its history says so now, whatever happens to the ack (a lease that runs out before it, say).
    record?.stored(last.status, code, job.id, duplicate);
    log.info('job finished', { status: last.status, success_rate: last.success_rate, tasks: Object.keys(last.task_results).length, duration_ms: last.execution_time_ms, ...(code ? { code } : {}) });
    const release = await record?.holdsRecords() ?? false;
    // The .last is stored: a delivery whose lease ran out meanwhile is not acked (its redelivery finds the .last and acks).
    if (!this.#settleable(run, 'ack')) return;
    run.report('ack', { status: last.status, ...(code ? { code } : {}) });
    if (!release) d.ack();
    this.#after((async () => {
      // A confirmed ack only when checkpoints or a claim are to be removed after it; else no round trip.
      let acked = false;
      if (release) {
        acked = this.#o.leases.maySettle(lease) && await d.ackAck();
        if (!acked) log.warn('the ack was not confirmed; checkpoints are kept until they expire', { code: 'ACK_UNCONFIRMED' });
      }
      const why = cancelled ? 'cancelled by an operator' : code ? String(last.metadata.error ?? code) : '';
      await record?.settled({ state: cancelled ? 'cancelled' : last.status === 'failure' ? 'failed' : 'completed', lastStatus: last.status, last, ...(code ? { code, message: why } : {}) });
      if (acked) await record?.release();
      // A resumed parked job ended: its park's records go.
      if (d.headers?.get(RESUME_HEADER)) await this.#o.parks?.finished(job.id, d.seq);
      await record?.close();
    })(), log);
  }

  /** A publish (or the fence) failed: the fate table decides between a hand-back and a rejection with a small failure `.last`. */
  #failed(error: AltlasError, job: Extract<Outcome, { kind: 'ran' }>['job'], last: Last, run: SettleRun<D>): Promise<void> {
    const d = run.lease.delivery;
    const now = this.#o.now?.() ?? Date.now();
    const next = outcomeOf(error, d, this.#o.rules, { job, altId: job.id, startMs: Date.parse(last.start_time), now });
    if (next.kind === 'handback') return this.handback(next, run);
    if (next.kind === 'rejected') {
      // The result cannot be stored as it is: a small failure .last says why (its execution id kept), the DLQ keeps the job.
      return this.rejected({ ...next, last: failureLast(d, job.id, error, Date.parse(last.start_time), { job, executionId: last.execution_id, now }) }, run);
    }
    return this.abandoned({ kind: 'abandoned', error, job, newer: true }, run);
  }

  /** 'ok' while this run owns the message; 'lost' when its lease is lost; 'newer' when a newer delivery claimed it; the error when the claim could not be read. */
  async #fence(run: SettleRun<D>): Promise<Fence> {
    const { lease, record } = run;
    if (!this.#o.leases.valid(lease)) return 'lost';
    if ((lease.delivery.deliveries > 1 || lease.suspect) && record) {
      let current: boolean;
      try {
        current = await record.current(lease.delivery.deliveries);
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
      if (!current) return 'newer';
      // The read took time: the lease is checked again against the clock.
      if (!this.#o.leases.valid(lease)) return 'lost';
    }
    return 'ok';
  }

  /** A verb goes out only while the server's lease surely runs; else the run ends without one (the message comes back by itself). */
  #settleable(run: SettleRun<D>, what: string, flush = false): boolean {
    if (this.#o.leases.maySettle(run.lease)) return true;
    run.log.warn(`the lease ran out before the ${what} could be sent: nothing is sent on the message; JetStream hands it to a new delivery`, { code: 'LEASE_LOST', unrenewed_ms: run.lease.age(this.#o.now?.() ?? Date.now()) });
    run.report('abandon', { code: 'LEASE_LOST' });
    // The results completed (`flush`) are written for the next delivery after the run ended: a store may not answer now.
    this.#after((async () => {
      if (flush) await run.record?.flushCheckpoints();
      await run.record?.close();
    })(), run.log);
    return false;
  }

  #after(work: Promise<void>, log: ContextLogger): void {
    this.#o.after(work.catch((e: Error) => log.warn('after-settlement work failed', { error: e.message })));
  }
}
