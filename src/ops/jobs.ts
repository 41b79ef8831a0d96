/**
 * Job control shared by the `altlas` command and the dashboard: the jobs of the status bucket,
 * cancel requests, and the workers' heartbeats.
 */
import { KvWatchInclude, type KV, type KvEntry } from '@nats-io/kv';
import { IDENTITY_CODEC, type Codec } from '../security/codec.ts';
import { cancelKey, decodeEntry, JOB_STATES, readStatus, type JobState, type StatusEntry } from '../status/status.ts';
import type { CancelRequest, WorkerBeat } from '../status/fleet.ts';

/** Keys of the status bucket that are not job entries. */
const notAJob = (key: string) => key.startsWith('cancel.') || key.startsWith('_probe.');

/** The latest value of every key of a bucket, read once: a watch of the last values, ended when it caught up. */
export async function latestEntries(kv: KV, key = '>'): Promise<KvEntry[]> {
  if ((await kv.status()).values === 0) return [];
  const out: KvEntry[] = [];
  const w = await kv.watch({ key, include: KvWatchInclude.LastValue });
  const timer = setTimeout(() => w.stop(), 30_000);
  try {
    for await (const e of w) {
      if (e.operation === 'PUT' && e.value.length > 0) out.push(e);
      // delta: entries still to come of the initial values; 0 on the last one.
      if (e.isUpdate || !e.delta) break;
    }
  } finally {
    clearTimeout(timer);
    w.stop();
  }
  return out;
}

export interface JobFilter {
  state?: JobState;
  /** Jobs updated at or after this time. */
  since?: Date;
  limit?: number;
}

/** The jobs in the status bucket, newest first (by their last update). */
export async function listJobs(kv: KV, filter: JobFilter = {}, codec: Codec = IDENTITY_CODEC): Promise<StatusEntry[]> {
  const jobs: StatusEntry[] = [];
  for (const e of await latestEntries(kv)) {
    if (notAJob(e.key)) continue;
    let entry: StatusEntry;
    try {
      entry = decodeEntry(e.value, codec, e.key);
    } catch {
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
  const entry = await readStatus(kv, altId, codec);
  const request: CancelRequest = { alt_id: altId, requested_at: new Date().toISOString(), by };
  await kv.put(cancelKey(altId), JSON.stringify(request));
  return { alt_id: altId, state: entry?.state ?? null, worker_id: entry?.worker_id ?? null };
}

/** The workers whose heartbeat has not expired, by id. */
export async function listWorkers(kv: KV): Promise<WorkerBeat[]> {
  const out: WorkerBeat[] = [];
  for (const e of await latestEntries(kv)) {
    if (e.key.startsWith('_probe.')) continue;
    try {
      out.push(e.json<WorkerBeat>());
    } catch {
      // not a heartbeat
    }
  }
  return out.sort((a, b) => a.worker_id.localeCompare(b.worker_id));
}
