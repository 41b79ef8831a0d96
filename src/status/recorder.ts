/**
 * What the worker records for each delivery: the job's status entry, its checkpoints (written
 * by budget), and on a redelivery its claim. The recorder is one engine observer registered once;
 * each run carries its {@link DeliveryRecord} as context.
 */
import { NO_TENANT, tenantOf } from '../flow/lanes.ts';
import type { Job, JobBudget } from '../alt/job.ts';
import type { TaskEvent, TaskResult } from '../engine/types.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { DeliveryInfo } from '../contract/delivery.ts';
import type { Codec } from '../security/codec.ts';
import { redactText } from '../security/redact.ts';
import { CheckpointBudget, type CheckpointStore } from './checkpoints.ts';
import { StatusTracker, type JobState, type LastOutcome, type StatusSink } from './status.ts';
import type { HistoryEntry, HistoryShared, HistoryWriter } from './history.ts';

export interface RecorderOptions {
  /** Where status entries go (the KV bucket, or a direct publish to its subjects). */
  status: StatusSink;
  checkpoints: CheckpointStore;
  workerId: string;
  /** RUNNER_STATUS_FLUSH_MS: the first write of a run and the coalescing interval. */
  flushMs: number;
  /** RUNNER_CHECKPOINT_BUDGET_MS: AI time a crash may re-pay per job. */
  budgetMs: number;
  /** RUNNER_CHECKPOINT_BUDGET_COST in nano-units: money a crash may re-pay per job. Default: no limit by money. */
  budgetCostNanos?: number;
  logger: Logger;
  codec?: Codec;
  /** The price table's currency (usage in status entries); null without one. */
  currency?: string | null;
  /** Each job's events (HISTORY_ENABLED); absent: none written. */
  history?: HistoryWriter | null;
}

/** Why a delivery that arrived waits, leased, before it runs (or is handed back unrun). */
export type HoldReason = 'paused' | 'draining' | 'stopping' | 'concurrency';

/** How a delivery ended, as the worker reports it. */
export interface Ending {
  verb: 'ack' | 'nak' | 'reject' | 'abandon';
  code?: string;
  status?: string;
  /** The job id, when the job decoded or its id was recovered. */
  altId?: string | null;
  /** A parked job's approval task. */
  task?: string;
}

export interface Settlement {
  state: JobState;
  /** The `.last` status, when one was stored. */
  lastStatus?: string | null;
  code?: string;
  message?: string;
  altId?: string | null;
  /** The `.last` stored for the delivery: the entry's tasks are made to agree with it. */
  last?: LastOutcome;
}

export class Recorder {
  readonly options: RecorderOptions;

  constructor(options: RecorderOptions) {
    this.options = options;
  }

  begin(d: DeliveryInfo): DeliveryRecord {
    return new DeliveryRecord(this.options, d);
  }

  /** The engine observer: routes each event to the record of the run it belongs to. */
  readonly observe = (e: TaskEvent, context: { record?: DeliveryRecord } | undefined): void => {
    context?.record?.onEvent(e);
  };
}

export class DeliveryRecord {
  /** An earlier message of this job left a status entry (a park's): the final state is written. */
  #entryExists = false;
  readonly #o: RecorderOptions;
  readonly #d: DeliveryInfo;
  readonly #budget: CheckpointBudget;
  #tracker: StatusTracker | null = null;
  #batches = 0;
  /** Object store names of outputs this message's checkpoints reference; made at the first (most jobs have none). */
  #objects: Set<string> | null = null;
  #claimed = false;
  /** The job id once known (history events name it). */
  #altId: string | null = null;
  /** What this delivery's history events share (made once). */
  #shared: HistoryShared | null = null;

  constructor(options: RecorderOptions, d: DeliveryInfo) {
    this.#o = options;
    this.#d = d;
    this.#budget = new CheckpointBudget(options.budgetMs, (batch) => this.#save(batch), options.budgetCostNanos);
  }

  get tracker(): StatusTracker | null {
    return this.#tracker;
  }

  /** Checkpoint batches written by this delivery. */
  get checkpointBatches(): number {
    return this.#budget.batches;
  }

  async #save(batch: TaskResult[]): Promise<void> {
    const { stream, seq, deliveries } = this.#d;
    try {
      for (const name of await this.#o.checkpoints.saveBatch(stream, seq, deliveries, this.#batches++, batch)) (this.#objects ??= new Set()).add(name);
      this.#event({ type: 'checkpointed', detail: { tasks: batch.length } });
    } catch (e) {
      this.#o.logger.warn('could not store checkpoints; those tasks would run again after a crash', { alt_stream_seq: seq, tasks: batch.length, error: (e as Error).message });
    }
  }

  /** The results stored by earlier deliveries (throws when they cannot be read). */
  async loadResume(): Promise<Map<string, TaskResult>> {
    const { stream, seq } = this.#d;
    const { results, objects } = await this.#o.checkpoints.load(stream, seq);
    for (const name of objects) (this.#objects ??= new Set()).add(name);
    return results;
  }

  /**
   * True when the message may have records in the checkpoint bucket: this delivery wrote a batch
   * or claimed it, or an earlier delivery ran it. Only then is the end worth a confirmed ack and a
   * purge; a first delivery that wrote nothing is acked without waiting.
   */
  async holdsRecords(): Promise<boolean> {
    await this.#budget.settled();
    return this.#batches > 0 || this.#claimed || this.#d.deliveries > 1 || (this.#objects?.size ?? 0) > 0;
  }

  async claim(): Promise<boolean> {
    this.#claimed = true;
    const won = await this.#o.checkpoints.claim(this.#d.stream, this.#d.seq, this.#d.deliveries, this.#o.workerId);
    if (won) this.#event({ type: 'claimed' });
    return won;
  }

  /**
   * One event of this delivery's job in its history (once the job id is known); never waits. It
   * names this worker, the message and the delivery (`shared`: what it says instead; the writer
   * stores them once per message).
   */
  #event(entry: HistoryEntry, shared?: HistoryShared): void {
    if (!this.#o.history || !this.#altId) return;
    this.#o.history.add(this.#altId, shared ?? (this.#shared ??= { worker_id: this.#o.workerId, alt_stream_seq: this.#d.seq, deliveries: this.#d.deliveries }), entry);
  }

  /**
   * The delivery's job is known (decoded, or its id recovered): its history says it was delivered
   * here; `held` when it arrived while the worker takes no work (paused, draining, stopping, at its
   * concurrency) and waits, leased, to run or be handed back.
   */
  identified(altId: string, held?: HoldReason): void {
    // A held delivery's id was read from its bytes; a decoded job that names another one is delivered under it.
    if (this.#altId === altId) return;
    this.#altId = altId;
    this.#event(held ? { type: 'delivered', detail: { held } } : { type: 'delivered' });
  }

  /** A held delivery was handed back unrun (a drain, a shutdown). */
  handedBack(code: string): void {
    this.#event({ type: 'handed_back', code });
  }

  /** The `.last` of this delivery is stored (`altId` when the job did not decode); `duplicate` when the LAST stream held it already. */
  stored(status: string, code?: string, altId?: string | null, duplicate = false): void {
    if (altId) this.identified(altId);
    this.#event({ type: 'last_stored', status, ...(code ? { code } : {}), ...(duplicate ? { detail: { duplicate } } : {}) });
  }

  /** The message was dead-lettered with no run of it here (the max-deliveries guard, the janitor); `lastStored` when its failure `.last` was stored after the DLQ copy. */
  deadLettered(altId: string, code: string, message: string, lastStored = false): void {
    this.#altId ??= altId;
    // Not this worker's doing: no worker named.
    const shared = { alt_stream_seq: this.#d.seq, deliveries: this.#d.deliveries };
    this.#event({ type: 'dead_lettered', code, error: message }, shared);
    if (lastStored) this.#event({ type: 'last_stored', status: 'failure', code }, shared);
  }

  /** A parked job's resume: it goes on with what it completed before. */
  resumed(completed: number, reason: 'approval' | 'budget' = 'approval'): void {
    this.#event({ type: 'resumed', detail: { completed, reason } });
    // The parked job has an entry (waiting): this delivery writes its final state, however short.
    this.#entryExists = true;
    this.#tracker?.entryExists();
  }

  /** The delivery ended: its history says how (handed back, dead-lettered, lease lost, parked, acked as done before; a `.last` stored is said by {@link stored}). */
  ended(e: Ending): void {
    if (e.altId) this.identified(e.altId);
    const fields = { ...(e.code ? { code: e.code } : {}), ...(e.status ? { status: e.status } : {}) };
    if (e.verb === 'ack' && (e.code === 'JOB_PARKED' || e.code === 'BUDGET_WAIT')) this.#event({ type: 'parked', code: e.code, detail: { task: e.task ?? null } });
    else if (e.verb === 'ack' && e.code === 'DONE_BEFORE') this.#event({ type: 'done_before', code: e.code });
    else if (e.verb === 'nak') this.#event({ type: e.code === 'LEASE_LOST' ? 'lease_lost' : 'handed_back', ...fields });
    else if (e.verb === 'reject') this.#event({ type: 'dead_lettered', ...fields });
    else if (e.verb === 'abandon' && e.code === 'LEASE_LOST') this.#event({ type: 'lease_lost', ...fields });
  }

  /** True while no newer delivery has claimed the message. */
  async current(deliveries: number): Promise<boolean> {
    return (await this.#o.checkpoints.claimedBy(this.#d.stream, this.#d.seq)) <= deliveries;
  }

  /** The job decoded and is about to run: status tracking starts (its first write is deferred). */
  started(job: Job, traceId?: string, budget?: JobBudget | null, fromCheckpoints: readonly string[] = []): void {
    this.identified(job.id);
    // A redelivery names the tasks it does not run again: what earlier deliveries completed and checkpointed.
    this.#event({ type: 'started', detail: { tasks: job.tasks.length, ...(fromCheckpoints.length ? { from_checkpoints: [...fromCheckpoints] } : {}) } });
    this.#track(job.id).running(job, traceId, budget);
  }

  #track(altId: string): StatusTracker {
    this.#tracker ??= new StatusTracker(this.#o.status, {
      alt_id: altId, alt_stream: this.#d.stream, alt_stream_seq: this.#d.seq, deliveries: this.#d.deliveries, worker_id: this.#o.workerId, tenant: tenantOf(this.#d.subject) ?? NO_TENANT,
    }, this.#o.flushMs, (e) => this.#o.logger.warn('could not write the job status', { error: e.message }), this.#o.codec, this.#o.currency ?? null);
    if (this.#entryExists) this.#tracker.entryExists();
    return this.#tracker;
  }

  onEvent(e: TaskEvent): void {
    this.#tracker?.onEvent(e);
    if (e.type === 'attempt_failed') this.#event({ type: 'attempt_failed', task_id: e.taskId, attempt: e.attempt, code: e.code, error: e.error });
    else if (e.type === 'task_finished') this.#event(e.result.error_code ? { type: 'task_finished', task_id: e.taskId, status: e.result.status, attempt: e.result.attempts, code: e.result.error_code } : { type: 'task_finished', task_id: e.taskId, status: e.result.status, attempt: e.result.attempts });
    if (e.type === 'task_finished' && e.kind === 'ai' && e.result.status === 'completed' && e.result.output) this.#budget.add(e.result);
  }

  /** Writes the checkpoints still pending (before the message is handed back). */
  flushCheckpoints(): Promise<void> {
    return this.#budget.flush();
  }

  /** Records a state of the delivery (waiting, retrying, completed, failed, cancelled). */
  async settled(s: Settlement): Promise<void> {
    const altId = this.#tracker?.altId ?? s.altId ?? s.last?.alt_file_id ?? null;
    if (!altId) return;
    const tracker = this.#track(altId);
    if (s.last) tracker.reconcile(s.last);
    await tracker.state(s.state, {
      last_status: s.lastStatus ?? null,
      // An error text (the logs policy): a retry's or a wait's reason is written as it came.
      error: s.code ? { code: s.code, message: redactText(s.message ?? '') } : null,
    });
  }

  /** Removes the message's checkpoints and claim in one purge (once its end is acknowledged). */
  async release(): Promise<void> {
    await this.#budget.settled();
    const { stream, seq } = this.#d;
    await this.#o.checkpoints.clear(stream, seq, this.#objects ?? []).catch((e: Error) => this.#o.logger.warn('could not remove checkpoints; they expire', { alt_stream_seq: seq, error: e.message }));
  }

  async close(): Promise<void> {
    await this.#budget.settled();
    await this.#tracker?.close();
  }
}
