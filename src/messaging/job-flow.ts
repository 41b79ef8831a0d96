/**
 * One delivery from bytes to an {@link Outcome}: decode; on a redelivery, claim the message, ack
 * at once when its `.last` is stored already, and load its checkpoints (handing it back shortly
 * when they cannot be read); run the graph, waiting in the worker while the AI side is down;
 * build the `.last`. No acknowledgement is sent here: the worker executes the outcome.
 */
import { trace } from '@opentelemetry/api';
import type { DecodeResult, Job } from '../alt/index.ts';
import { recoverAltId, type JobHeader } from '../alt/index.ts';
import { AltlasError, toAltlasError } from '../errors.ts';
import type { Engine, JobRun } from '../engine/engine.ts';
import type { TaskResult } from '../engine/types.ts';
import { uuidV4 } from '../last/uuid.ts';
import { buildLast, buildCancelledLast, type ArtifactOptions } from '../last/index.ts';
import { notStarted } from '../last/build.ts';
import { buildBudgetLast } from '../last/budget.ts';
import type { Budgets } from '../budget/budgets.ts';
import { tenantOf } from '../flow/lanes.ts';
import type { DeliveryRecord } from '../status/recorder.ts';
import type { ContextLogger } from '../telemetry/logger.ts';
import type { AiGate, GateRelease } from './ai-gate.ts';
import type { DeliveryInfo } from '../contract/delivery.ts';
import type { TaskTrace } from '../telemetry/tracing.ts';
import type { RunContext } from './run-context.ts';
import { deliveryMeta, lastIds, outcomeOf, type Outcome, type SettleRules } from './settle.ts';
import type { Decision, OnTimeout } from '../approval/kind.ts';
import { RESUME_HEADER, cancelOrigin, type ParkRecord, type ParkStore } from '../approval/park.ts';
import type { MessageOrigin } from '../status/fleet.ts';
import { REPLAY_HEADER, type ReplaySeed } from '../replay/seed.ts';
import { parkForBudget, parkedBefore } from './budget-park.ts';

export interface FlowDeps {
  rules: SettleRules;
  engine: Engine<RunContext>;
  gate: AiGate;
  decode: (d: DeliveryInfo) => Promise<DecodeResult>;
  /** True when the LAST stream holds the `.last` of ALT message `seq` of this job already. */
  lastStored: (altId: string, seq: number) => Promise<boolean>;
  /** True when an operator asked to cancel this job. */
  cancelRequested: (altId: string, origin: MessageOrigin) => boolean;
  /** Stores outputs too large for the `.last` as artifact objects; says how the `.last` names its artifacts. */
  artifacts?: (job: Job, run: JobRun, executionId: string) => Promise<ArtifactOptions>;
  /** The price table's currency (the `.last`'s metadata.usage); null without one. */
  currency?: string | null;
  /** Job and tenant budgets; absent: none. */
  budgets?: Budgets | null;
  /** Parked jobs (approval tasks); absent: a job reaching an approval task fails with JOB_PARKED. */
  parks?: ParkStore | null;
  /** Reads a replay's seed (the results it keeps); absent: a replay message runs as a new job. */
  replays?: ((id: string) => Promise<ReplaySeed | null>) | null;
  /** RUNNER_KEEP_ALT: keeps the job's `.alt` (for a replay without its file); its failure is only logged. */
  keepAlt?: ((altId: string, data: Uint8Array) => Promise<void>) | null;
  now?: () => number;
}

export interface FlowInput {
  d: DeliveryInfo;
  record: DeliveryRecord | undefined;
  /** Aborts the run: shutdown (JOB_ABORTED), lease lost (LEASE_LOST), cancel (JOB_CANCELLED). */
  signal: AbortSignal;
  /** Checked before each AI call: null while this worker still owns the message. */
  guard: () => AltlasError | null;
  /** Checked immediately before each AI request is written (each HTTP attempt); default `guard`. */
  requestGuard?: () => AltlasError | null;
  log: ContextLogger;
  /** True when the delivery may have waited through a stall of this process: it is checked as a redelivery. */
  suspect?: boolean;
  /** The job span's task events, when the delivery is traced. */
  taskTrace?: TaskTrace;
  /** Called once the job id is known. */
  onJob?: (job: Job) => void;
}

const NO_RESULTS: ReadonlyMap<string, TaskResult> = new Map();

/** Results an aborted run completed: kept for the next run of the same message. */
function completedOf(run: JobRun, earlier: ReadonlyMap<string, TaskResult>): Map<string, TaskResult> {
  const out = new Map(earlier);
  for (const r of run.results) if (r.status === 'completed' && r.output) out.set(r.task_id, r);
  return out;
}

export async function processDelivery(deps: FlowDeps, input: FlowInput): Promise<Outcome> {
  const { d, record, signal } = input;
  let log = input.log;
  const now = deps.now ?? Date.now;
  const startMs = now();
  let job: Job | null = null;
  // A document that failed decoding may still say who it is: its header (kept in its failure .last), its id read from sealed bytes.
  const fail = (e: unknown, failed?: { header?: JobHeader; altId?: string | null }) => outcomeOf(toAltlasError(e), d, deps.rules, { job, header: failed?.header, altId: job?.id ?? failed?.altId ?? recoverAltId(d.data, d.contentType), startMs, now: now() });
  try {
    const decoded = await deps.decode(d);
    if (!decoded.ok) return fail(decoded.error, decoded);
    job = decoded.job;
    input.onJob?.(job);
    log = log.with({ alt_id: job.id });

    // The results a run takes instead of running the tasks: none, as a rule (one shared empty map, not one per job).
    let resume: ReadonlyMap<string, TaskResult> = NO_RESULTS;
    // The tasks a redelivery takes from the checkpoints of earlier deliveries (its `started` event names them).
    let fromCheckpoints: string[] = [];
    // Fail closed: a redelivery that cannot tell whether its .last is stored does not run (a second .last); it is handed back.
    const storedBefore = async (): Promise<boolean | Outcome> => {
      try {
        return await deps.lastStored(job!.id, d.seq);
      } catch (e) {
        if (d.deliveries < deps.rules.maxDeliver) return fail(new AltlasError('LAST_UNREADABLE', `could not read whether the .last of message ${d.seq} is stored: ${(e as Error).message}`, { cause: e }));
        log.warn('could not read whether the .last is stored on the last delivery; the job runs', { error: (e as Error).message });
        return false;
      }
    };
    if (d.deliveries > 1 || input.suspect) {
      const stored = await storedBefore();
      if (stored === true) return { kind: 'done_before', job };
      if (stored !== false) return stored;
      // An earlier delivery of this message (a resume's too) parked the job and its ack was lost: the park holds the job.
      const parked = deps.parks ? await parkedBefore(deps.parks, job, d, log, deps.rules.maxDeliver) : null;
      if (parked) return parked;
    }
    if ((d.deliveries > 1 || input.suspect) && record) {
      try {
        if (!(await record.claim())) return { kind: 'abandoned', error: new AltlasError('LEASE_LOST', `a newer delivery of message ${d.seq} holds its claim`, { context: { newer: true } }), job, newer: true };
        resume = await record.loadResume();
      } catch (e) {
        if (d.deliveries < deps.rules.maxDeliver) {
          return fail(new AltlasError('CHECKPOINTS_UNAVAILABLE', `could not read the checkpoints of message ${d.seq}: ${(e as Error).message}`, { cause: e }));
        }
        log.warn('could not load checkpoints on the last delivery; every task runs again', { error: (e as Error).message });
      }
      fromCheckpoints = [...resume.keys()];
      if (resume.size) log.info('resuming from checkpoints', { completed_tasks: resume.size });
    }

    // A parked job's resume: its parked message's completed results and the decisions.
    let approvals: ReadonlyMap<string, Decision> | undefined;
    let parkedFrom: ParkRecord | null = null;
    const origin = d.headers?.get(RESUME_HEADER);
    if (origin && deps.parks) {
      const claimed = await deps.parks.claimResume(job.id, origin, d.seq);
      if (!claimed) {
        log.warn('a resume of a job that is not parked any more (resumed by another message, or finished): acked without running', { resume_of: origin });
        return { kind: 'done_before', job };
      }
      resume = new Map([...claimed.results, ...resume]);
      approvals = claimed.decisions;
      parkedFrom = claimed.park;
      log.info('resuming a parked job', { resume_of: origin, completed_tasks: resume.size, decisions: approvals.size });
      record?.resumed(resume.size, claimed.park.reason === 'budget' ? 'budget' : 'approval');
    }

    // A replay (altlas replay): the results it keeps are its resume; its .last says which run it replays.
    let replayOf: ReplaySeed['replay_of'] | null = null;
    const replayId = d.headers?.get(REPLAY_HEADER);
    if (replayId && deps.replays) {
      const seed = await deps.replays(replayId);
      if (!seed || seed.alt_id !== job.id) return fail(new AltlasError('REPLAY_INVALID', `replay ${replayId} of job ${job.id} has no seed (expired, or written for another job)`, { context: { altId: job.id } }));
      resume = new Map([...seed.results.map((r) => [r.task_id, r] as const), ...resume]);
      replayOf = seed.replay_of;
      log.info('replaying a finished job', { replay_of: seed.replay_of.execution_id, from: seed.replay_of.from, completed_tasks: seed.results.length });
    }

    if (deps.cancelRequested(job.id, cancelOrigin(d))) {
      // A parked job cancelled before its resume ran: what it completed stays in its .last.
      const run = parkedFrom && resume.size ? notStarted(job, now(), resume) : undefined;
      return { kind: 'ran', job, last: buildCancelledLast({ job, warnings: decoded.warnings, metadata: deliveryMeta(d), atMs: now(), ...(run ? { run } : {}) }, lastIds(now())) };
    }
    const tenant = tenantOf(d.subject);
    const budgets = deps.budgets ?? null;
    // A tenant known to be over a period's budget: its job parks until the period turns, without a call
    // (no delivery spent, no worker held); a worker without parks hands it back to NATS.
    const exhausted = budgets?.tenantExceeded === 'wait' ? budgets.tenants?.exhaustedUntil(tenant) ?? null : null;
    const waitFor = (resumeAt: number, task: string, results: Iterable<TaskResult>) => parkForBudget(deps.parks!, { altId: job!.id, tenant, resumeAt, task, d, results: [...results], from: parkedFrom, job: job! }, now());
    if (exhausted !== null && deps.parks) return waitFor(exhausted, '', resume.values());
    if (exhausted !== null && d.deliveries < deps.rules.maxDeliver) {
      return fail(new AltlasError('BUDGET_WAIT', `tenant ${tenant ?? '_'} is over a period's budget until ${new Date(exhausted).toISOString()}`, { context: { altId: job.id, tenant, retryInMs: exhausted - now() } }));
    }
    const budget = budgets?.open(job, d.headers, resume) ?? null;
    const finish = async (r: JobRun, end: 'ran' | 'cancelled' | 'budget') => {
      const executionId = uuidV4();
      const artifacts = deps.artifacts ? await deps.artifacts(job!, r, executionId) : undefined;
      const metadata = { ...deliveryMeta(d), ...(budget ? { budget: budget.budget } : {}), ...(replayOf ? { replay_of: replayOf } : {}) };
      const input = { job: job!, run: r, warnings: decoded.warnings, metadata, artifacts, currency: deps.currency };
      if (end === 'cancelled') return buildCancelledLast({ ...input, atMs: now() }, lastIds(now(), executionId));
      return end === 'budget' ? buildBudgetLast(input, lastIds(now(), executionId)) : buildLast(input, lastIds(now(), executionId));
    };
    const keeping = deps.keepAlt?.(job.id, d.data).catch((e: Error) => log.warn('could not keep the .alt (RUNNER_KEEP_ALT): a replay of this run needs its file', { error: e.message }));
    const traceId = trace.getActiveSpan()?.spanContext().traceId;
    record?.started(job, traceId, budget?.budget, fromCheckpoints);
    let run: JobRun;
    try {
      // A job whose own calls fail while the AI side serves others is not waiting for an outage.
      let ownFault = false;
      let failedAt = 0;
      let released: GateRelease | null = null;
      for (;;) {
        const context: RunContext = { record, taskTrace: input.taskTrace, log, tenant, delivery: { seq: d.seq, deliveries: d.deliveries }, guard: input.requestGuard ?? input.guard, ...(approvals ? { approvals } : {}) };
        run = await deps.engine.run(job, { signal, resume, context, guard: input.guard, transientFailsTask: ownFault });
        if (run.stopped?.code !== 'AI_UNAVAILABLE' || signal.aborted || ownFault) break;
        resume = completedOf(run, resume);
        // Calls of other jobs were answered since this job's last failure: the failures are its own
        // (a prompt the provider fails every time); its tasks fail as any task failure does.
        if (failedAt > 0 && deps.gate.answeredAt > failedAt) {
          ownFault = true;
          log.warn('the AI side answers other calls but this job\'s keep failing: its tasks fail instead of waiting', { code: run.stopped.code, error: run.stopped.message });
          continue;
        }
        failedAt = now();
        // Its trial failed while the provider's health check answers and no other job waits: it
        // waits on its own, the gate left to open for new work, whose answers tell an outage from
        // this job's own failures. With others waiting, their trials tell it, and nothing new is pulled.
        const alone: boolean = released === 'trial' && deps.gate.waiting === 0 && (await deps.gate.healthy());
        if (!alone) deps.gate.markDown();
        log.warn('the AI side is unavailable; the job waits in the worker until it answers again', { code: run.stopped.code, error: run.stopped.message, completed_tasks: resume.size });
        void record?.settled({ state: 'waiting', code: run.stopped.code, message: run.stopped.message });
        try {
          released = alone ? await deps.gate.pause(signal) : await deps.gate.wait(signal);
        } catch {
          break;
        }
      }
    } finally {
      budget?.close();
    }
    if (run.stopped?.code === 'JOB_CANCELLED' || (signal.aborted && (signal.reason as AltlasError | undefined)?.code === 'JOB_CANCELLED')) {
      return { kind: 'ran', job, last: await finish(run, 'cancelled') };
    }
    const stopped = (signal.aborted ? toAltlasError(signal.reason) : null) ?? run.stopped;
    // An approval task: the job parks (what it completed, its body and where it waits stored) before its message is acked.
    if (stopped?.code === 'JOB_PARKED' && deps.parks) {
      const c = stopped.context;
      const question = String(c.question ?? '');
      const park = await deps.parks.park({
        altId: job.id, task: String(c.taskId), question, timeoutS: typeof c.timeoutS === 'number' ? c.timeoutS : null, onTimeout: (c.onTimeout as OnTimeout) ?? 'fail',
        d, results: [...completedOf(run, resume).values()], from: parkedFrom,
      }, now());
      return { kind: 'parked', job, task: park.task, question };
    }
    if (stopped?.code === 'BUDGET_WAIT' && deps.parks) return waitFor(Number(stopped.context.turnsAt), String(stopped.context.taskId ?? ''), completedOf(run, resume).values());
    // Over a budget: the job ends here with what it completed; so does a tenant's wait on the last delivery.
    if (stopped?.code === 'BUDGET_EXCEEDED' || (stopped?.code === 'BUDGET_WAIT' && d.deliveries >= deps.rules.maxDeliver)) {
      return { kind: 'ran', job, last: await finish(run, 'budget') };
    }
    if (stopped) return fail(stopped);
    await keeping;
    return { kind: 'ran', job, last: await finish(run, 'ran') };
  } catch (e) {
    return fail(e);
  }
}
