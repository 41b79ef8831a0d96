/**
 * What happens to an `.alt` message: one pure table from the outcome of a delivery to a verb.
 *
 * | outcome                                         | verb                                   |
 * |-------------------------------------------------|----------------------------------------|
 * | the job ran and its `.last` is stored           | ack                                    |
 * | error with fate `reject` (invalid input)        | failure `.last` (id known) + DLQ + term |
 * | error with fate `retry`, deliveries left        | nak with a delay growing per delivery  |
 * | error with fate `retry` on the last delivery    | failure `.last` + DLQ + term           |
 * | JOB_ABORTED (this worker shuts down)            | nak without delay (another worker)     |
 * | BUDGET_WAIT (its tenant's period is spent)      | nak until the period turns             |
 *
 * A BUDGET_WAIT reaches this table only from a worker without the status stores (the benchmark's
 * bare worker): with them, the job parks until the period turns instead (messaging/budget-park.ts).
 */
import type { AltlasError } from '../errors.ts';

export type Verb =
  | { verb: 'ack' }
  | { verb: 'nak'; delayMs: number }
  | { verb: 'reject' };

export interface FateInput {
  /** null when the job completed and its `.last` is stored. */
  error: AltlasError | null;
  /** This delivery's number, 1 for the first. */
  deliveries: number;
  maxDeliver: number;
  nakDelayMs: number;
  nakMaxDelayMs: number;
}

/** Delay before redelivery number `deliveries + 1`: nakDelayMs × 2^(deliveries−1), capped. */
export function nakDelay(deliveries: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(deliveries - 1, 0), 30));
}

export function decideFate({ error, deliveries, maxDeliver, nakDelayMs, nakMaxDelayMs }: FateInput): Verb {
  if (error === null) return { verb: 'ack' };
  if (error.code === 'JOB_ABORTED') return { verb: 'nak', delayMs: 0 };
  if (error.fate === 'reject' || error.fate === 'task') return { verb: 'reject' };
  if (deliveries >= maxDeliver) return { verb: 'reject' };
  // A deliberate wait, not a failure: the message comes back when the tenant's period has turned.
  const wait = error.code === 'BUDGET_WAIT' ? Number(error.context.retryInMs) : Number.NaN;
  if (Number.isFinite(wait) && wait >= 0) return { verb: 'nak', delayMs: Math.ceil(wait) };
  return { verb: 'nak', delayMs: nakDelay(deliveries, nakDelayMs, nakMaxDelayMs) };
}
