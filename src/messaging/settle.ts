/**
 * How a delivery ends, decided before anything is sent: the {@link Outcome} of running it, and the
 * pure rules that turn an outcome (or an I/O failure while settling) into verbs. The worker only
 * executes what these say.
 *
 * | outcome                                      | what the worker sends                                   |
 * |----------------------------------------------|---------------------------------------------------------|
 * | ran (the `.last` is built; cancelled too)    | `.last`, then ack (checkpoints removed once confirmed)   |
 * | done before (its `.last` is stored already)  | ack, nothing else                                       |
 * | rejected (fate reject, or retries exhausted) | failure `.last` (id known), DLQ copy, term              |
 * | handed back (transient, shutdown)            | pending checkpoints, then nak with a delay              |
 * | abandoned (lease lost, newer claim)          | pending checkpoints; nothing on the message             |
 * | parked (approval task, tenant's budget wait) | ack (its park stored before; checkpoints kept)          |
 * | abandoned, lease lost before any AI call     | a nak at once, while the server's lease surely runs     |
 *
 * A failed publish of the `.last` (or a claim that cannot be read before it) is an error like
 * any other: the fate table turns it into a hand-back or a rejection.
 */
import { NO_TENANT, tenantOf } from '../flow/lanes.ts';
import type { Job } from '../alt/job.ts';
import type { JobHeader } from '../alt/header.ts';
import { AltlasError } from '../errors.ts';
import { buildFailureLast, type Last, type LastIds } from '../last/index.ts';
import { uuidV4 } from '../last/uuid.ts';
import { decideFate, type Verb } from './fate.ts';
import type { DeliveryInfo } from '../contract/delivery.ts';

export type Outcome =
  | { kind: 'ran'; job: Job; last: Last }
  /** `heldBy`: not a stored `.last` but the resume (that message's sequence) of the park an earlier delivery of it stored. */
  | { kind: 'done_before'; job: Job; heldBy?: number }
  | { kind: 'rejected'; error: AltlasError; altId: string | null; job: Job | null; last: Last | null }
  | { kind: 'handback'; error: AltlasError; delayMs: number; job: Job | null }
  | { kind: 'abandoned'; error: AltlasError; job: Job | null; newer?: boolean }
  /** Parked: an approval task waits for a person (JOB_PARKED, the default), or the tenant's budget for its period to turn (BUDGET_WAIT, until `resumeAt`). */
  | { kind: 'parked'; job: Job; task: string; question: string; code?: 'JOB_PARKED' | 'BUDGET_WAIT'; resumeAt?: number };

export interface SettleRules {
  maxDeliver: number;
  nakDelayMs: number;
  nakMaxDelayMs: number;
}

/** Ids of a `.last`: fresh uuids, the execution id given or new, generated at `now`. */
export const lastIds = (now: number, executionId: string = uuidV4()): LastIds => ({ id: uuidV4(), executionId, uuid: uuidV4, now });

/** Where a delivery came from, as every `.last` of it records in `metadata` (never with the `alt_` prefix of copied keys). */
/** The delivery a `.last` came from, and the job's tenant (the subject's tenant token; `_` for none, as usage records say). */
export const deliveryMeta = (d: DeliveryInfo) => ({ source_stream: d.stream, source_stream_seq: d.seq, source_subject: d.subject, deliveries: d.deliveries, tenant: tenantOf(d.subject) ?? NO_TENANT });

/**
 * The failure `.last` of a delivery that cannot end with a normal one (rejected input, a result
 * too large to store, a message no worker settled).
 */
export function failureLast(d: DeliveryInfo, altId: string, error: AltlasError, startMs: number, options: { job?: JobHeader | null; executionId?: string; now?: number } = {}): Last {
  const now = options.now ?? Date.now();
  return buildFailureLast({ altId, error, job: options.job ?? undefined, startMs, endMs: now, metadata: deliveryMeta(d) }, lastIds(now, options.executionId));
}

/** The outcome of an error met while processing (before or instead of a result). */
export function outcomeOf(error: AltlasError, d: DeliveryInfo, rules: SettleRules, ctx: { job: Job | null; altId: string | null; startMs: number; now?: number; header?: JobHeader | null }): Outcome {
  if (error.code === 'LEASE_LOST') return { kind: 'abandoned', error, job: ctx.job, newer: error.context.newer === true };
  const verdict: Verb = decideFate({ error, deliveries: d.deliveries, ...rules });
  if (verdict.verb === 'nak') return { kind: 'handback', error, delayMs: verdict.delayMs, job: ctx.job };
  const altId = ctx.job?.id ?? ctx.altId;
  return { kind: 'rejected', error, altId, job: ctx.job, last: altId === null ? null : failureLast(d, altId, error, ctx.startMs, { job: ctx.job ?? ctx.header, now: ctx.now }) };
}

/**
 * What a run that lost its lease (or met a newer claim) sends on its delivery: a nak only when it
 * made no AI call, no newer delivery claimed the message, the worker is not shutting down (its
 * hand-backs are parked) and the server's lease surely still runs; else nothing, and JetStream
 * redelivers the message by itself.
 */
export function lostLeaseVerb(s: { newer: boolean; aiCalls: number; stopping: boolean; maySettle: boolean }): 'nak' | 'none' {
  return !s.newer && s.aiCalls === 0 && !s.stopping && s.maySettle ? 'nak' : 'none';
}
