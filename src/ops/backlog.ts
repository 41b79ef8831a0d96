/**
 * The backlog of the ALT stream as its consumers see it: with RUNNER_LANES the waiting jobs are on
 * the lane consumers (`<RUNNER_DURABLE>-<lane>-<tenant>`), not on RUNNER_DURABLE alone, so the
 * counts are summed over every consumer of the stream (one listing, a page per 256 consumers) and
 * given per lane. The consumers of a work-queue stream never overlap: the sums count each message
 * once. Without the right to list the consumers, RUNNER_DURABLE's own counts are read.
 */
import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import { LANES, laneOf } from '../flow/lanes.ts';

/** A lane's label in the backlog: ALT_LAS's priorities, and `none` for consumers outside lanes (RUNNER_DURABLE). */
export const BACKLOG_LANES = [...LANES, 'none'] as const;
export type BacklogLane = (typeof BACKLOG_LANES)[number];

export interface Counts {
  /** Messages not yet delivered. */
  pending: number;
  /** Delivered and not yet acknowledged. */
  ack_pending: number;
}

export interface Backlog extends Counts {
  /** Consumers counted (1: RUNNER_DURABLE alone). */
  consumers: number;
  redelivered: number;
  /** Pull requests waiting on the server. */
  waiting: number;
  /** Per lane, highest first, then `none`; every lane listed (0 without work). */
  lanes: ({ lane: BacklogLane; consumers: number } & Counts)[];
}

/** The lane of a consumer: that of its filter subject (`alt.high.acme` → `high`), else `none`. */
const laneOfConsumer = (c: ConsumerInfo): BacklogLane => laneOf(c.config.filter_subject ?? '') ?? 'none';

/** Sums the counts of `consumers`, per lane. */
export function backlogOf(consumers: readonly ConsumerInfo[]): Backlog {
  const lanes = BACKLOG_LANES.map((lane) => ({ lane, consumers: 0, pending: 0, ack_pending: 0 }));
  const total: Backlog = { consumers: 0, pending: 0, ack_pending: 0, redelivered: 0, waiting: 0, lanes };
  for (const c of consumers) {
    const l = lanes[BACKLOG_LANES.indexOf(laneOfConsumer(c))];
    l.consumers++;
    l.pending += c.num_pending;
    l.ack_pending += c.num_ack_pending;
    total.consumers++;
    total.pending += c.num_pending;
    total.ack_pending += c.num_ack_pending;
    total.redelivered += c.num_redelivered;
    total.waiting += c.num_waiting;
  }
  return total;
}

/**
 * The backlog of `stream` over every consumer; RUNNER_DURABLE's alone when they cannot be listed;
 * null when RUNNER_DURABLE cannot be read either (missing, or no answer) and none is listed.
 */
export async function readBacklog(jsm: JetStreamManager, stream: string, durable: string): Promise<Backlog | null> {
  try {
    const all: ConsumerInfo[] = [];
    for await (const c of jsm.consumers.list(stream)) all.push(c);
    if (all.some((c) => c.name === durable)) return backlogOf(all);
  } catch {
    // Not allowed to list (an older permission set), or no answer: RUNNER_DURABLE's own counts.
  }
  const own = await jsm.consumers.info(stream, durable).catch(() => null);
  return own ? backlogOf([own]) : null;
}
