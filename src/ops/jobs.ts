/**
 * Job control shared by the `altlas` command and the dashboard: the jobs of the status bucket,
 * cancel requests, and the workers' heartbeats.
 */
import type { KV } from '@nats-io/kv';
import type { JetStreamManager } from '@nats-io/jetstream';
import { bucketEntries, type BucketEntry } from '../status/store-access.ts';
import { IDENTITY_CODEC, type Codec } from '../security/codec.ts';
import { cancelKey, decodeEntry, JOB_STATES, readStatus, UnreadableEntry, type JobState, type StatusEntry } from '../status/status.ts';
import { isHeartbeat, type CancelRequest, type WorkerBeat } from '../status/fleet.ts';

/** Keys of the status bucket that are not job entries. */
const notAJob = (key: string) => key.startsWith('cancel.') || key.startsWith('_probe.') || key.startsWith('park.') || key.startsWith('decision.') || key.startsWith('replay.');

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
}

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
  jobs.sort((a, b) => b.updated_at.localeCompare(a.updated_at));
  return filter.limit ? jobs.slice(0, filter.limit) : jobs;
}

export const isJobState = (s: string): s is JobState => (JOB_STATES as readonly string[]).includes(s);

export interface CancelOutcome {
  alt_id: string;
  /** The job's state when the request was written (null: not started yet, or unknown). */
  state: JobState | null;
  worker_id: string | null;
}

/**
 * Writes a cancel request for a job: every worker watches them; the one running it aborts it at
 * once, and a job not started yet is cancelled when a worker picks it up.
 */
export async function requestCancel(kv: KV, altId: string, by: string, codec: Codec = IDENTITY_CODEC): Promise<CancelOutcome> {
  // An unreadable entry does not stop a cancel: the request is written all the same.
  const entry = await readStatus(kv, altId, codec).catch((e: unknown) => {
    if (e instanceof UnreadableEntry) return null;
    throw e;
  });
  const request: CancelRequest = { alt_id: altId, requested_at: new Date().toISOString(), by };
  await kv.put(cancelKey(altId), JSON.stringify(request));
  return { alt_id: altId, state: entry?.state ?? null, worker_id: entry?.worker_id ?? null };
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
