/**
 * The JetStream topology: streams ALT, LAST, ALT_DLQ, ALT_USAGE, ALT_PROGRESS (unless progress
 * is off) and ALT_HISTORY (unless history is off) and the durable pull consumer. Missing
 * parts are created when provisioning is on; an existing stream is never changed, and a
 * mismatch (subjects not covered, wrong retention) is reported with TOPOLOGY_MISMATCH.
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type ConsumerInfo, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { AltlasError, type Problem } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import { LANES, lanePrefixOf } from '../flow/lanes.ts';
import { altStreamMaxMsgBytes, consumerDifferences, describeDifference, lastDuplicateWindowMs, progressDuplicateWindowMs, streamDifferences, type Difference, type RetentionConfig } from './retention.ts';

export type TopologyConfig = RetentionConfig & Pick<Config, 'ALT_SUBJECTS' | 'RUNNER_LANES' | 'LAST_SUBJECT_PREFIX' | 'DLQ_SUBJECT_PREFIX' | 'RUNNER_CONCURRENCY' | 'RUNNER_PROVISION' | 'RUNNER_STREAM_REPLICAS'
  | 'PROGRESS_SUBJECT_PREFIX' | 'PROGRESS_LIVE_PREFIX' | 'USAGE_SUBJECT_PREFIX' | 'HISTORY_SUBJECT_PREFIX'>;

/** What `altlas init` does about what is missing, said in every refusal. */
const INIT_HINT = '"altlas init" creates what is missing (it never changes what exists)';

/** Most un-acked messages of the consumer across all workers (never below the per-process concurrency). */
export const MIN_MAX_ACK_PENDING = 1_000;

/** The stream configurations the runner creates when they are missing. */
export function desiredStreams(c: TopologyConfig): (Partial<StreamConfig> & { name: string })[] {
  const common = { storage: StorageType.File, num_replicas: c.RUNNER_STREAM_REPLICAS };
  return [
    { name: c.ALT_STREAM, subjects: c.ALT_SUBJECTS.split(',').map((s) => s.trim()).filter(Boolean), retention: RetentionPolicy.Workqueue, ...common, max_msg_size: altStreamMaxMsgBytes(c) },
    {
      name: c.LAST_STREAM, subjects: [`${c.LAST_SUBJECT_PREFIX}.>`], retention: RetentionPolicy.Limits, ...common, duplicate_window: nanos(lastDuplicateWindowMs(c)),
      max_age: nanos(c.LAST_MAX_AGE_MS), max_bytes: c.LAST_MAX_BYTES,
    },
    { name: c.DLQ_STREAM, subjects: [`${c.DLQ_SUBJECT_PREFIX}.>`], retention: RetentionPolicy.Limits, ...common, max_age: nanos(c.DLQ_MAX_AGE_MS) },
    // One record per AI call; a publish retried with the same message id within two minutes is one record.
    {
      name: c.USAGE_STREAM, subjects: [`${c.USAGE_SUBJECT_PREFIX}.>`], retention: RetentionPolicy.Limits, ...common, max_age: nanos(c.USAGE_MAX_AGE_MS),
      duplicate_window: nanos(c.USAGE_MAX_AGE_MS > 0 ? Math.min(120_000, c.USAGE_MAX_AGE_MS) : 120_000), deny_purge: true, deny_delete: true, allow_rollup_hdrs: false,
    },
    ...(c.PROGRESS_ENABLED ? [progressStream(c)] : []),
    // Each job's events, one subject per job (altlas history): limits retention, the oldest go first.
    ...(c.HISTORY_ENABLED ? [{
      name: c.HISTORY_STREAM, subjects: [`${c.HISTORY_SUBJECT_PREFIX}.>`], retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, ...common,
      max_age: nanos(c.HISTORY_MAX_AGE_MS), max_bytes: c.HISTORY_MAX_BYTES,
    }] : []),
  ];
}

/**
 * The progress stream: limits retention, discard old, a duplicate window for re-sent messages
 * (within its max age), and every stored message republished to the live prefix with its
 * sequence, which clients follow without a consumer.
 */
export function progressStream(c: TopologyConfig): Partial<StreamConfig> & { name: string } {
  return {
    name: c.PROGRESS_STREAM, subjects: [`${c.PROGRESS_SUBJECT_PREFIX}.>`], retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old,
    storage: StorageType.File, num_replicas: c.RUNNER_STREAM_REPLICAS, max_age: nanos(c.PROGRESS_MAX_AGE_MS), max_bytes: c.PROGRESS_MAX_BYTES,
    duplicate_window: nanos(progressDuplicateWindowMs(c)), republish: { src: `${c.PROGRESS_SUBJECT_PREFIX}.>`, dest: `${c.PROGRESS_LIVE_PREFIX}.>` },
  };
}

/** True when `have` (a stream's subject filters) matches every subject `want` can match. */
export function covers(have: readonly string[], want: string): boolean {
  const w = want.split('.');
  return have.some((h) => {
    const p = h.split('.');
    for (let i = 0; i < p.length; i++) {
      if (p[i] === '>') return i < w.length;
      if (i >= w.length) return false;
      if (p[i] === '*') {
        if (w[i] === '>') return false;
        continue;
      }
      if (p[i] !== w[i]) return false;
    }
    return p.length === w.length;
  });
}

/** With RUNNER_LANES: the filter of RUNNER_DURABLE, the subjects outside lanes (`<prefix>.*`); null without lanes. */
export const restFilter = (c: Pick<Config, 'RUNNER_LANES' | 'ALT_SUBJECTS'>): string | null => (c.RUNNER_LANES ? `${lanePrefixOf(c.ALT_SUBJECTS)}.*` : null);

const isNotFound = (e: unknown, code: number) => e instanceof JetStreamApiError && e.code === code;

async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | null> {
  try {
    return await jsm.streams.info(name);
  } catch (e) {
    if (isNotFound(e, JetStreamApiCodes.StreamNotFound)) return null;
    throw e;
  }
}

/** Leftover consumers named in a refusal, at most. */
const NAMED_AT_MOST = 10;

/** The consumers of the stream that RUNNER_LANES=true made (`<RUNNER_DURABLE>-<lane>-<tenant>`); empty when the server does not list them. */
export async function laneConsumersOf(jsm: JetStreamManager, c: Pick<Config, 'ALT_STREAM' | 'RUNNER_DURABLE'>): Promise<string[]> {
  const prefixes = LANES.map((lane) => `${c.RUNNER_DURABLE}-${lane}-`);
  const names: string[] = [];
  try {
    for await (const info of jsm.consumers.list(c.ALT_STREAM)) if (prefixes.some((p) => info.name.startsWith(p))) names.push(info.name);
  } catch {
    return names;
  }
  return names.sort();
}

/**
 * Lanes off on a stream that still has lane consumers: RUNNER_DURABLE on every subject would
 * overlap them (a work-queue stream refuses it), and their subjects would be pulled by none.
 */
async function refuseLeftoverLanes(jsm: JetStreamManager, c: TopologyConfig): Promise<void> {
  const left = await laneConsumersOf(jsm, c);
  if (!left.length) return;
  const named = left.slice(0, NAMED_AT_MOST).join(', ') + (left.length > NAMED_AT_MOST ? ` and ${left.length - NAMED_AT_MOST} more` : '');
  throw new AltlasError('TOPOLOGY_MISMATCH', `RUNNER_LANES is off, but stream ${c.ALT_STREAM} still has ${left.length} lane consumer${left.length === 1 ? '' : 's'} made with RUNNER_LANES=true: ${named}. `
    + `Consumer ${c.RUNNER_DURABLE} would take every subject, which a work-queue stream refuses beside them, and their jobs would wait for ever: `
    + `run the workers with RUNNER_LANES=true until the lanes are drained (an idle empty lane consumer is removed after RUNNER_LANE_IDLE_MS), or delete them (nats consumer rm ${c.ALT_STREAM} <name>; their messages stay in the stream)`);
}

/** Checks, and where allowed creates, the streams and the consumer. Returns the consumer's info. */
export async function ensureTopology(jsm: JetStreamManager, c: TopologyConfig, logger: Logger): Promise<ConsumerInfo> {
  const problems: Problem[] = [];
  for (const want of desiredStreams(c)) {
    const info = await streamInfo(jsm, want.name);
    if (!info) {
      if (!c.RUNNER_PROVISION) {
        problems.push({ pointer: want.name, message: `stream ${want.name} does not exist (RUNNER_PROVISION=false)` });
        continue;
      }
      await jsm.streams.add(want);
      logger.info('created stream', { stream: want.name, subjects: want.subjects });
      continue;
    }
    const missing = (want.subjects ?? []).filter((s) => !covers(info.config.subjects ?? [], s));
    if (missing.length) {
      problems.push({ pointer: want.name, message: `stream ${want.name} has subjects ${JSON.stringify(info.config.subjects)}, which do not cover ${missing.join(', ')}` });
    }
    if (want.republish && info.config.republish?.dest !== want.republish.dest) {
      problems.push({ pointer: want.name, message: `stream ${want.name} does not republish what it stores to ${want.republish.dest} (republish ${JSON.stringify(info.config.republish ?? null)}): clients could not follow it live` });
    }
    if (want.name === c.ALT_STREAM && info.config.retention === RetentionPolicy.Interest) {
      problems.push({ pointer: want.name, message: `stream ${want.name} uses interest retention; use workqueue or limits` });
    }
    // Retention settings are the operator's once the stream exists: report a difference, change nothing.
    const diffs = streamDifferences(c, want.name, info.config).filter((d) => d.setting !== 'duplicate_window');
    if (diffs.length) {
      const field = (d: Difference) => (d.setting === 'max_age' ? 'max_age_ms' : d.setting);
      const value = (d: Difference, v: number) => (d.setting === 'max_age' ? Math.round(v / 1e6) : v);
      logger.warn('an existing stream\'s retention differs from the configuration; it is left as it is', {
        stream: want.name, ...Object.fromEntries(diffs.flatMap((d) => [[field(d), value(d, d.have)], [`wanted_${field(d)}`, value(d, d.want)]])),
        differences: diffs.map(describeDifference), fix: 'altlas init --apply',
      });
    }
  }
  if (problems.length) {
    const missing = problems.some((p) => /does not exist/.test(p.message));
    throw new AltlasError('TOPOLOGY_MISMATCH', `JetStream topology does not match:\n  ${problems.map((p) => p.message).join('\n  ')}${missing ? `\n  ${INIT_HINT}` : '\n  fix the stream or the variables: neither the runner nor "altlas init" changes an existing stream\'s subjects'}`, { problems });
  }
  if (!c.RUNNER_LANES) await refuseLeftoverLanes(jsm, c);
  try {
    const info = await jsm.consumers.info(c.ALT_STREAM, c.RUNNER_DURABLE);
    const ackWaitMs = Math.round((info.config.ack_wait ?? 0) / 1e6);
    if (info.config.ack_policy !== AckPolicy.Explicit) {
      throw new AltlasError('TOPOLOGY_MISMATCH', `consumer ${c.RUNNER_DURABLE} must use explicit acks (it uses ${info.config.ack_policy})`);
    }
    const rest = restFilter(c);
    const lanesRest = restFilter({ ...c, RUNNER_LANES: true })!;
    if (!rest && info.config.filter_subject === lanesRest && !covers([lanesRest], c.ALT_SUBJECTS.split(',')[0].trim())) {
      throw new AltlasError('TOPOLOGY_MISMATCH', `RUNNER_LANES is off, but consumer ${c.RUNNER_DURABLE} takes only ${lanesRest} (the subjects outside lanes, as RUNNER_LANES=true made it): the lanes' jobs would wait for ever; run the workers with RUNNER_LANES=true, or delete ${c.RUNNER_DURABLE} (it is made again on every subject)`);
    }
    if (rest && info.config.filter_subject !== rest) {
      throw new AltlasError('TOPOLOGY_MISMATCH', `RUNNER_LANES=true needs consumer ${c.RUNNER_DURABLE} filtered on ${rest} (the subjects outside lanes; each lane of each tenant has its own consumer, and a work-queue stream allows no overlap), but it takes ${info.config.filter_subject || 'every subject'}: let it drain, delete it, and start again`);
    }
    const diffs = consumerDifferences(c, info.config);
    if (diffs.length) {
      logger.warn('the existing consumer differs from the configuration; its settings are used', {
        consumer: c.RUNNER_DURABLE, ack_wait_ms: ackWaitMs, max_deliver: info.config.max_deliver, differences: diffs.map(describeDifference), fix: 'altlas init --apply',
      });
    }
    return info;
  } catch (e) {
    if (!isNotFound(e, JetStreamApiCodes.ConsumerNotFound)) throw e;
  }
  if (!c.RUNNER_PROVISION) {
    throw new AltlasError('TOPOLOGY_MISMATCH', `consumer ${c.RUNNER_DURABLE} on stream ${c.ALT_STREAM} does not exist (RUNNER_PROVISION=false); ${INIT_HINT}`);
  }
  const info = await jsm.consumers.add(c.ALT_STREAM, {
    durable_name: c.RUNNER_DURABLE,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(c.RUNNER_ACK_WAIT_MS),
    max_deliver: c.RUNNER_MAX_DELIVER,
    max_ack_pending: Math.max(MIN_MAX_ACK_PENDING, c.RUNNER_CONCURRENCY),
    ...(restFilter(c) ? { filter_subject: restFilter(c)! } : {}),
  });
  logger.info('created consumer', { stream: c.ALT_STREAM, consumer: c.RUNNER_DURABLE });
  return info;
}
