/**
 * Job control shared by the `altlas` command and the dashboard: the jobs of the status bucket (and
 * of the LAST stream, for a job that finished without writing an entry), cancel requests, and the
 * workers' heartbeats.
 */
import type { KV } from '@nats-io/kv';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Config } from '../config/schema.ts';
import { bucketEntries, firstSeqSince, storedMessages, type BucketEntry } from '../status/store-access.ts';
import { readLast } from '../last/read.ts';
import { IDENTITY_CODEC, type Codec } from '../security/codec.ts';
import { cancelKey, decodeEntry, entryFromLast, FINAL_STATES, JOB_STATES, readStatus, UnreadableEntry, type FinishedLast, type JobState, type StatusEntry } from '../status/status.ts';
import { lookupLast, type LookupConfig } from '../last/lookup.ts';
import { isHeartbeat, type CancelRequest, type WorkerBeat } from '../status/fleet.ts';

/** Keys of the status bucket that are not job entries. */
export const notAJob = (key: string) => key.startsWith('cancel.') || key.startsWith('_probe.') || key.startsWith('park.') || key.startsWith('decision.') || key.startsWith('replay.');

/** A bucket to read: its name and the JetStream manager to read it with (no consumer is created). */
export interface BucketSource {
  jsm: JetStreamManager;
  bucket: string;
}

/** The latest value of every key of a bucket, read once (the keys' delete markers left out). */
export async function latestEntries(src: BucketSource, key = '>'): Promise<BucketEntry[]> {
  return (await bucketEntries(src.jsm, src.bucket, key)).filter((e) => e.operation === 'PUT' && e.value.length > 0);
}

export interface JobFilter {
  state?: JobState;
  /** Jobs updated at or after this time. */
  since?: Date;
  limit?: number;
  /** Told of each value that is not a status entry (not JSON, or not of its shape): it is skipped. */
  onUnreadable?: (e: UnreadableEntry) => void;
  /**
   * The LAST stream: the jobs that finished within RUNNER_STATUS_FLUSH_MS wrote no entry, so the
   * `.last`s stored since `since` (else in the last {@link RECENT_MS}), at most `limit` (else
   * {@link RECENT_MAX}) of the newest, add the jobs the bucket does not hold.
   */
  lasts?: { jsm: JetStreamManager; stream: string };
}

/** How far back `altlas jobs` looks in LAST without --since, and how many `.last`s it reads at most. */
export const RECENT_MS = 15 * 60_000;
export const RECENT_MAX = 1_000;

/** The jobs in the status bucket, newest first (by their last update). */
export async function listJobs(src: BucketSource, filter: JobFilter = {}, codec: Codec = IDENTITY_CODEC): Promise<StatusEntry[]> {
  const jobs: StatusEntry[] = [];
  for (const e of await latestEntries(src)) {
    if (notAJob(e.key)) continue;
    let entry: StatusEntry;
    try {
      entry = decodeEntry(e.value, codec, e.key);
    } catch (err) {
      if (err instanceof UnreadableEntry) filter.onUnreadable?.(err);
      continue;
    }
    if (filter.state && entry.state !== filter.state) continue;
    if (filter.since && Date.parse(entry.updated_at) < filter.since.getTime()) continue;
    jobs.push(entry);
  }
  if (filter.lasts) {
    const known = new Set(jobs.map((j) => j.alt_id));
    for (const entry of await recentFromLasts(filter.lasts, filter.since ?? new Date(Date.now() - RECENT_MS), filter.limit || RECENT_MAX, codec)) {
      if (known.has(entry.alt_id) || (filter.state && entry.state !== filter.state)) continue;
      known.add(entry.alt_id);
      jobs.push(entry);
    }
  }
  jobs.sort((a, b) => b.updated_at.localeCompare(a.updated_at));
  return filter.limit ? jobs.slice(0, filter.limit) : jobs;
}

/** The jobs of the `.last`s stored since `since`, newest first (a job's newest only), at most `max` read. */
async function recentFromLasts(src: { jsm: JetStreamManager; stream: string }, since: Date, max: number, codec: Codec): Promise<StatusEntry[]> {
  const info = await src.jsm.streams.info(src.stream).catch(() => null);
  if (!info || info.state.messages === 0) return [];
  const { first_seq: first, last_seq: last } = info.state;
  const from = Math.max(await firstSeqSince(src.jsm, src.stream, first, last, since), last - max + 1);
  const out = new Map<string, StatusEntry>();
  for await (const m of storedMessages(src.jsm, src.stream, '>', from, last, true)) {
    try {
      const entry = entryFromLast(readLast(m.data, codec) as unknown as FinishedLast, m.time.toISOString());
      if (entry.alt_id) out.set(entry.alt_id, entry);
    } catch {
      // not a .last this process can read
    }
  }
  return [...out.values()];
}

/** Where a job's record is: its status entry, and its `.last` in the LAST stream. */
export interface JobSource {
  kv: KV;
  jsm: JetStreamManager;
  config: LookupConfig;
}

/**
 * A job's status: its entry in the status bucket or, for a job that finished within
 * RUNNER_STATUS_FLUSH_MS (no entry written), an entry made from its `.last`. When both exist the
 * newer tells (a job submitted again), except that a `.last` of the message an entry still calls
 * running means that message finished. Null when neither exists.
 */
export async function readJob(src: JobSource, altId: string, codec: Codec = IDENTITY_CODEC, options: { strict?: boolean } = {}): Promise<StatusEntry | null> {
  const [entry, stored] = await Promise.all([
    // An entry that is not a status entry counts as none (its .last, if stored, tells), unless strict.
    readStatus(src.kv, altId, codec).catch((e: unknown) => {
      if (e instanceof UnreadableEntry && !options.strict) return null;
      throw e;
    }),
    lookupLast(src.jsm, src.config, altId, codec).then((x) => ({ x, error: null }), (error: Error) => ({ x: null, error })),
  ]);
  // A .last that cannot be read (ALT_DECRYPT without its key) only matters when there is no entry.
  if (stored.error && !entry) throw stored.error;
  const found = stored.x;
  if (!found) return entry;
  const fromLast = () => entryFromLast(found.last as unknown as FinishedLast, found.storedAt);
  if (!entry) return fromLast();
  if (found.altStreamSeq === entry.alt_stream_seq && entry.alt_stream_seq > 0) return FINAL_STATES.includes(entry.state) ? entry : fromLast();
  return Date.parse(found.storedAt) > Date.parse(entry.updated_at) ? fromLast() : entry;
}

export const isJobState = (s: string): s is JobState => (JOB_STATES as readonly string[]).includes(s);

/**
 * What a cancel found: `active` (a state recorded and not final: running, waiting, retrying),
 * `queued_or_unknown` (no state recorded: waiting in the stream, started less than
 * RUNNER_STATUS_FLUSH_MS ago, or no such job) or `finished` (its last run ended, its `.last` or
 * final state stored: the request cancels a message of it still waiting, a rerun).
 */
export type CancelFound = 'active' | 'queued_or_unknown' | 'finished';

export interface CancelOutcome {
  alt_id: string;
  found: CancelFound;
  /** The job's state when the request was written (null: none recorded). */
  state: JobState | null;
  worker_id: string | null;
  /** A request was written (always). */
  armed: boolean;
  /** The ALT stream's last sequence the request covers. */
  alt_stream_seq: number;
  /** What the command prints after the id, and the dashboard shows. */
  message: string;
}

/** The words for each outcome, shared by the command and the dashboard. */
export function cancelMessage(o: Pick<CancelOutcome, 'found' | 'state' | 'worker_id'>): string {
  if (o.found === 'finished') return `its last run ended ${o.state} already; a message of it still waiting in the stream (a rerun) is cancelled, one published later runs`;
  if (o.found === 'active') return `${o.state} on ${o.worker_id || 'a worker'}`;
  return 'no state recorded yet: cancelled where it runs, or when a worker picks it up (a message of it published after this cancel runs)';
}

/**
 * Writes a cancel request for a job, bound to the messages stored before it (the ALT stream's last
 * sequence, read once): the worker running one aborts it at once, and one waiting in the stream is
 * cancelled when a worker picks it up; a message published later runs. For a job whose last run
 * finished it cancels a rerun still waiting (the request is bound, so harmless to later ones). `beforeWrite` runs just before the request is written (the history's entry), told what was found.
 */
export async function requestCancel(src: JobSource & { config: Pick<Config, 'ALT_STREAM'> }, altId: string, by: string, codec: Codec = IDENTITY_CODEC, beforeWrite?: (found: CancelFound) => Promise<unknown>): Promise<CancelOutcome> {
  const [entry, info] = await Promise.all([readJob(src, altId, codec), src.jsm.streams.info(src.config.ALT_STREAM)]);
  const state = entry?.state ?? null;
  const worker_id = entry?.worker_id || null;
  const found: CancelFound = state === null ? 'queued_or_unknown' : FINAL_STATES.includes(state) ? 'finished' : 'active';
  const outcome = { alt_id: altId, found, state, worker_id };
  const request: CancelRequest = { alt_id: altId, requested_at: new Date().toISOString(), by, alt_stream: src.config.ALT_STREAM, alt_stream_seq: info.state.last_seq };
  await beforeWrite?.(found);
  await src.kv.put(cancelKey(altId), JSON.stringify(request));
  return { ...outcome, armed: true, alt_stream_seq: request.alt_stream_seq, message: cancelMessage(outcome) };
}

/** The workers whose heartbeat has not expired, by id. */
export async function listWorkers(src: BucketSource): Promise<WorkerBeat[]> {
  const out: WorkerBeat[] = [];
  for (const e of await latestEntries(src)) {
    if (e.key.startsWith('_probe.')) continue;
    try {
      const beat = e.json<WorkerBeat>();
      if (isHeartbeat(beat)) out.push(beat);
    } catch {
      // not a heartbeat
    }
  }
  return out.sort((a, b) => a.worker_id.localeCompare(b.worker_id));
}
