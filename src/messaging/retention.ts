/**
 * Retention settings of what exists against the configuration: the LAST, DLQ, usage and progress
 * streams' ages, size and duplicate window, the buckets' TTLs, and the consumer's ack wait and
 * deliveries. A worker reports a difference and changes nothing; `altlas init` reports them, and
 * `altlas init --apply` applies the configured values to what exists (subjects never change).
 */
import { type ConsumerConfig, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { Config } from '../config/schema.ts';

export type RetentionConfig = Pick<Config, 'ALT_MAX_BYTES' | 'ALT_STREAM_MAX_MSG_BYTES' | 'ALT_STREAM' | 'LAST_STREAM' | 'DLQ_STREAM' | 'RUNNER_DURABLE' | 'LAST_MAX_AGE_MS' | 'LAST_MAX_BYTES' | 'LAST_DUPLICATE_WINDOW_MS' | 'DLQ_MAX_AGE_MS' | 'USAGE_STREAM' | 'USAGE_MAX_AGE_MS'
  | 'RUNNER_STATUS_BUCKET' | 'RUNNER_CHECKPOINT_BUCKET' | 'RUNNER_WORKERS_BUCKET' | 'RUNNER_OBJECT_BUCKET' | 'RUNNER_STATUS_TTL_MS' | 'RUNNER_OBJECT_TTL_MS' | 'RUNNER_HEARTBEAT_MS'
  | 'RUNNER_ACK_WAIT_MS' | 'RUNNER_MAX_DELIVER' | 'HISTORY_ENABLED' | 'HISTORY_STREAM' | 'HISTORY_MAX_AGE_MS' | 'HISTORY_MAX_BYTES' | 'PROGRESS_ENABLED' | 'PROGRESS_STREAM' | 'PROGRESS_MAX_AGE_MS' | 'PROGRESS_MAX_BYTES' | 'PROGRESS_DUPLICATE_WINDOW_MS'>;

/** One setting of an existing stream or consumer that differs from the configuration. */
export interface Difference {
  /** The stream, or `<stream>.<consumer>`. */
  target: string;
  setting: 'max_age' | 'max_bytes' | 'max_msg_size' | 'duplicate_window' | 'ack_wait' | 'max_deliver';
  /** Nanoseconds for times (as JetStream keeps them), bytes or counts otherwise. */
  have: number;
  want: number;
  /** The variable the wanted value comes from. */
  variable: string;
}

interface Wanted {
  stream: string;
  setting: 'max_age' | 'max_bytes' | 'max_msg_size' | 'duplicate_window';
  want: number;
  variable: string;
}

/** LAST's duplicate window: LAST_DUPLICATE_WINDOW_MS, at most the stream's max age (the server refuses a longer one). */
export const lastDuplicateWindowMs = (c: Pick<Config, 'LAST_DUPLICATE_WINDOW_MS' | 'LAST_MAX_AGE_MS'>) => (c.LAST_MAX_AGE_MS > 0 ? Math.min(c.LAST_DUPLICATE_WINDOW_MS, c.LAST_MAX_AGE_MS) : c.LAST_DUPLICATE_WINDOW_MS);

/** The progress stream's duplicate window: PROGRESS_DUPLICATE_WINDOW_MS, at most its max age. */
export const progressDuplicateWindowMs = (c: Pick<Config, 'PROGRESS_DUPLICATE_WINDOW_MS' | 'PROGRESS_MAX_AGE_MS'>) => (c.PROGRESS_MAX_AGE_MS > 0 ? Math.min(c.PROGRESS_DUPLICATE_WINDOW_MS, c.PROGRESS_MAX_AGE_MS) : c.PROGRESS_DUPLICATE_WINDOW_MS);

/**
 * The ALT stream's max message size: ALT_STREAM_MAX_MSG_BYTES, or (0) ALT_MAX_BYTES plus 64 KiB
 * for a sealed job's envelope and its headers; -1: no limit. The server refuses a larger message,
 * so a producer cannot store what the decoder would refuse anyway, whatever the max payload.
 */
export const altStreamMaxMsgBytes = (c: Pick<Config, 'ALT_MAX_BYTES' | 'ALT_STREAM_MAX_MSG_BYTES'>) => (c.ALT_STREAM_MAX_MSG_BYTES === 0 ? c.ALT_MAX_BYTES + 65_536 : c.ALT_STREAM_MAX_MSG_BYTES);

/** The retention each stream of the runner should have, from the configuration. */
export function wantedRetention(c: RetentionConfig): Wanted[] {
  return [
    { stream: c.ALT_STREAM, setting: 'max_msg_size', want: altStreamMaxMsgBytes(c), variable: 'ALT_STREAM_MAX_MSG_BYTES' },
    { stream: c.LAST_STREAM, setting: 'max_age', want: nanos(c.LAST_MAX_AGE_MS), variable: 'LAST_MAX_AGE_MS' },
    { stream: c.LAST_STREAM, setting: 'max_bytes', want: c.LAST_MAX_BYTES, variable: 'LAST_MAX_BYTES' },
    { stream: c.LAST_STREAM, setting: 'duplicate_window', want: nanos(lastDuplicateWindowMs(c)), variable: 'LAST_DUPLICATE_WINDOW_MS' },
    { stream: c.DLQ_STREAM, setting: 'max_age', want: nanos(c.DLQ_MAX_AGE_MS), variable: 'DLQ_MAX_AGE_MS' },
    { stream: c.USAGE_STREAM, setting: 'max_age', want: nanos(c.USAGE_MAX_AGE_MS), variable: 'USAGE_MAX_AGE_MS' },
    { stream: `KV_${c.RUNNER_STATUS_BUCKET}`, setting: 'max_age', want: nanos(c.RUNNER_STATUS_TTL_MS), variable: 'RUNNER_STATUS_TTL_MS' },
    { stream: `KV_${c.RUNNER_CHECKPOINT_BUCKET}`, setting: 'max_age', want: nanos(c.RUNNER_STATUS_TTL_MS), variable: 'RUNNER_STATUS_TTL_MS' },
    { stream: `KV_${c.RUNNER_WORKERS_BUCKET}`, setting: 'max_age', want: nanos(c.RUNNER_HEARTBEAT_MS * 3), variable: 'RUNNER_HEARTBEAT_MS (× 3)' },
    { stream: `OBJ_${c.RUNNER_OBJECT_BUCKET}`, setting: 'max_age', want: nanos(c.RUNNER_OBJECT_TTL_MS), variable: 'RUNNER_OBJECT_TTL_MS' },
    ...(c.HISTORY_ENABLED ? [
      { stream: c.HISTORY_STREAM, setting: 'max_age' as const, want: nanos(c.HISTORY_MAX_AGE_MS), variable: 'HISTORY_MAX_AGE_MS' },
      { stream: c.HISTORY_STREAM, setting: 'max_bytes' as const, want: c.HISTORY_MAX_BYTES, variable: 'HISTORY_MAX_BYTES' },
    ] : []),
    ...(c.PROGRESS_ENABLED ? [
      { stream: c.PROGRESS_STREAM, setting: 'max_age' as const, want: nanos(c.PROGRESS_MAX_AGE_MS), variable: 'PROGRESS_MAX_AGE_MS' },
      { stream: c.PROGRESS_STREAM, setting: 'max_bytes' as const, want: c.PROGRESS_MAX_BYTES, variable: 'PROGRESS_MAX_BYTES' },
      { stream: c.PROGRESS_STREAM, setting: 'duplicate_window' as const, want: nanos(progressDuplicateWindowMs(c)), variable: 'PROGRESS_DUPLICATE_WINDOW_MS' },
    ] : []),
  ];
}

/** JetStream's value of a setting when the configuration leaves it unset. */
const UNSET: Record<string, number> = { max_age: 0, max_bytes: -1, max_msg_size: -1, duplicate_window: 0 };

/** The differences of one existing stream's configuration (pure). */
export function streamDifferences(c: RetentionConfig, name: string, have: Partial<StreamConfig>): Difference[] {
  return wantedRetention(c).filter((w) => w.stream === name).flatMap((w) => {
    const value = (have[w.setting] as number | undefined) ?? UNSET[w.setting];
    return value === w.want ? [] : [{ target: name, setting: w.setting, have: value, want: w.want, variable: w.variable }];
  });
}

/** The differences of the existing durable consumer's configuration (pure). */
export function consumerDifferences(c: RetentionConfig, have: Partial<ConsumerConfig>): Difference[] {
  const target = `${c.ALT_STREAM}.${c.RUNNER_DURABLE}`;
  const out: Difference[] = [];
  if ((have.ack_wait ?? 0) !== nanos(c.RUNNER_ACK_WAIT_MS)) out.push({ target, setting: 'ack_wait', have: have.ack_wait ?? 0, want: nanos(c.RUNNER_ACK_WAIT_MS), variable: 'RUNNER_ACK_WAIT_MS' });
  if ((have.max_deliver ?? -1) !== c.RUNNER_MAX_DELIVER) out.push({ target, setting: 'max_deliver', have: have.max_deliver ?? -1, want: c.RUNNER_MAX_DELIVER, variable: 'RUNNER_MAX_DELIVER' });
  return out;
}

/** Every difference of what exists (a stream or the consumer that does not exist has none). */
export async function differences(jsm: JetStreamManager, c: RetentionConfig): Promise<Difference[]> {
  const out: Difference[] = [];
  for (const name of [...new Set(wantedRetention(c).map((w) => w.stream))]) {
    const info = await jsm.streams.info(name).catch(() => null);
    if (info) out.push(...streamDifferences(c, name, info.config));
  }
  const consumer = await jsm.consumers.info(c.ALT_STREAM, c.RUNNER_DURABLE).catch(() => null);
  if (consumer) out.push(...consumerDifferences(c, consumer.config));
  return out;
}

/** Applies the configured values to what exists: one update per stream, one for the consumer. */
export async function applyDifferences(jsm: JetStreamManager, c: RetentionConfig, diffs: readonly Difference[]): Promise<void> {
  const byTarget = new Map<string, Difference[]>();
  for (const d of diffs) byTarget.set(d.target, [...(byTarget.get(d.target) ?? []), d]);
  for (const [target, list] of byTarget) {
    const patch = Object.fromEntries(list.map((d) => [d.setting, d.want]));
    if (target === `${c.ALT_STREAM}.${c.RUNNER_DURABLE}`) await jsm.consumers.update(c.ALT_STREAM, c.RUNNER_DURABLE, patch);
    else await jsm.streams.update(target, patch);
  }
}

const UNITS: [number, string][] = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'm'], [1_000, 's']];

/** A setting's value for people: times as `7d`, `1h30m`, `500ms`; 0 age as `forever`; -1 bytes as `no limit`. */
export function describeValue(setting: Difference['setting'], value: number): string {
  if (setting === 'max_bytes' || setting === 'max_msg_size') return value < 0 ? 'no limit' : `${value} bytes`;
  if (setting === 'max_deliver') return value < 0 ? 'no limit' : String(value);
  let ms = Math.round(value / 1e6);
  if (ms === 0) return setting === 'max_age' ? 'forever' : '0';
  let out = '';
  for (const [unit, name] of UNITS) {
    if (ms >= unit) {
      out += `${Math.floor(ms / unit)}${name}`;
      ms %= unit;
    }
  }
  return ms ? `${out}${ms}ms` : out;
}

/** One difference in words: `max_age 1h, configured 7d (LAST_MAX_AGE_MS)`. */
export function describeDifference(d: Difference): string {
  return `${d.setting} ${describeValue(d.setting, d.have)}, configured ${describeValue(d.setting, d.want)} (${d.variable})`;
}
