/**
 * One delivery of an `.alt` message, from bytes to a decision: decode, check, run the graph,
 * build the `.last`, and say what to do with the message. No NATS here: the worker does the I/O.
 */
import { randomUUID } from 'node:crypto';
import { decodeAlt, recoverAltId, type DecodeLimits, type Job } from '../alt/index.ts';
import { AltlasError } from '../errors.ts';
import { preflight } from '../engine/preflight.ts';
import { runJob, type EngineOptions } from '../engine/run-job.ts';
import type { TaskBody, TaskEvent, TaskResult } from '../engine/types.ts';
import { buildFailureLast, buildLast, type Last } from '../last/index.ts';
import { decideFate } from './fate.ts';
import { trace } from '@opentelemetry/api';
import { TaskSpans } from '../telemetry/tracing.ts';

export interface DeliveryInfo {
  data: Uint8Array;
  subject: string;
  /** Content type from the message headers, if any (JSON or YAML hint). */
  contentType?: string;
  stream: string;
  seq: number;
  /** 1 for the first delivery. */
  deliveries: number;
}

export interface DeliveryOptions {
  limits: DecodeLimits;
  engine: EngineOptions;
  body: TaskBody;
  maxDeliver: number;
  nakDelayMs: number;
  nakMaxDelayMs: number;
  now?: () => number;
}

/** Per-delivery hooks: resume from checkpoints, status updates. */
export interface DeliveryHooks {
  /** Results of tasks completed in an earlier delivery of this message. */
  completed?: ReadonlyMap<string, TaskResult>;
  /** Called once the job decoded and passed its checks, before it runs. */
  onDecoded?: (job: Job) => Promise<void>;
  onEvent?: (e: TaskEvent) => void;
  /** Awaited after each task completes, before its dependents start (checkpoints). */
  onTaskCompleted?: (result: TaskResult) => Promise<void>;
}

export type Outcome =
  | { verb: 'ack'; last: Last; job: Job }
  | { verb: 'nak'; delayMs: number; error: AltlasError; job: Job | null }
  | { verb: 'reject'; error: AltlasError; last: Last | null; altId: string | null; job: Job | null };

const ids = (now: number, executionId: string = randomUUID()) => ({ id: randomUUID(), executionId, uuid: randomUUID, now });

/** Where a delivery came from, as every `.last` of it records in `metadata`. */
const deliveryMeta = (d: DeliveryInfo) => ({ alt_stream: d.stream, alt_stream_seq: d.seq, alt_subject: d.subject, deliveries: d.deliveries });

/**
 * The failure `.last` of a delivery that cannot end with a normal one (rejected input, a result
 * too large to store, a message no worker settled).
 */
export function deliveryFailureLast(d: DeliveryInfo, altId: string, error: AltlasError, startMs: number, options: { job?: Job; executionId?: string; now?: number } = {}): Last {
  const now = options.now ?? Date.now();
  return buildFailureLast({ altId, error, job: options.job, startMs, endMs: now, metadata: deliveryMeta(d) }, ids(now, options.executionId));
}

/** Runs one delivery; never rejects. `signal` stops the job (shutdown): the outcome is then a nak without delay. */
export async function processDelivery(d: DeliveryInfo, o: DeliveryOptions, signal?: AbortSignal, hooks: DeliveryHooks = {}): Promise<Outcome> {
  const now = o.now ?? Date.now;
  const startMs = now();
  const fate = (error: AltlasError | null) => decideFate({ error, deliveries: d.deliveries, maxDeliver: o.maxDeliver, nakDelayMs: o.nakDelayMs, nakMaxDelayMs: o.nakMaxDelayMs });
  const reject = (error: AltlasError, altId: string | null, job: Job | null): Outcome => ({
    verb: 'reject', error, altId, job,
    last: altId === null ? null : deliveryFailureLast(d, altId, error, startMs, { job: job ?? undefined, now: now() }),
  });

  const decoded = decodeAlt(d.data, { hint: d.contentType, limits: o.limits });
  if (!decoded.ok) return reject(decoded.error, recoverAltId(d.data, d.contentType), null);
  const { job, warnings } = decoded;
  const refused = preflight(job);
  if (refused) return reject(refused, job.id, job);

  await hooks.onDecoded?.(job);
  // Task spans only when the delivery's span records (tracing on and sampled): nothing to pay otherwise.
  const spans = trace.getActiveSpan()?.isRecording() ? new TaskSpans() : null;
  const onEvent = o.engine.onEvent;
  const run = await runJob(job, spans ? spans.wrap(o.body) : o.body, {
    ...o.engine,
    completed: hooks.completed,
    onTaskCompleted: hooks.onTaskCompleted,
    onEvent: (e) => {
      spans?.onEvent(e);
      onEvent?.(e);
      hooks.onEvent?.(e);
    },
  }, signal);
  if (run.stopped) {
    const verdict = fate(run.stopped);
    if (verdict.verb === 'nak') return { verb: 'nak', delayMs: verdict.delayMs, error: run.stopped, job };
    return reject(run.stopped, job.id, job);
  }
  return { verb: 'ack', job, last: buildLast({ job, run, warnings, metadata: deliveryMeta(d) }, ids(now())) };
}

/** The verb for a failure after the job ran (e.g. the `.last` could not be stored). */
export function afterRunFailure(error: AltlasError, d: DeliveryInfo, o: Pick<DeliveryOptions, 'maxDeliver' | 'nakDelayMs' | 'nakMaxDelayMs'>) {
  return decideFate({ error, deliveries: d.deliveries, maxDeliver: o.maxDeliver, nakDelayMs: o.nakDelayMs, nakMaxDelayMs: o.nakMaxDelayMs });
}
