/**
 * Job status in a JetStream KV bucket: one entry per job (key: the job id as a subject token),
 * updated as the engine's events arrive. Task events are coalesced: at most one write per
 * RUNNER_STATUS_FLUSH_MS, plus one per job state change.
 */
import type { KV } from '@nats-io/kv';
import type { TaskEvent, TaskStatus } from '../engine/types.ts';
import type { Job } from '../alt/job.ts';
import { subjectToken } from '../messaging/subjects.ts';

export const JOB_STATES = ['pending', 'running', 'retrying', 'completed', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface TaskState {
  state: TaskStatus;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  resumed?: boolean;
  error_code?: string;
}

/** The value of a status entry. */
export interface StatusEntry {
  alt_id: string;
  state: JobState;
  alt_stream: string;
  alt_stream_seq: number;
  deliveries: number;
  worker_id: string;
  received_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** The `.last` status once the job finished with one. */
  last_status: string | null;
  error: { code: string; message: string } | null;
  tasks: Record<string, TaskState>;
}

/** The status key of a job id. */
export const statusKey = (altId: string) => subjectToken(altId);

const iso = (ms: number) => new Date(ms).toISOString();

/** Tracks one delivery of one job and writes its entry. Writes are serialised and never throw. */
export class StatusTracker {
  readonly #kv: KV;
  readonly #key: string;
  readonly #flushMs: number;
  readonly #onError: (e: Error) => void;
  readonly entry: StatusEntry;
  #timer: NodeJS.Timeout | null = null;
  #chain: Promise<void> = Promise.resolve();
  /** KV writes made so far. */
  writes = 0;

  constructor(kv: KV, base: Pick<StatusEntry, 'alt_id' | 'alt_stream' | 'alt_stream_seq' | 'deliveries' | 'worker_id'>, flushMs: number, onError: (e: Error) => void) {
    this.#kv = kv;
    this.#key = statusKey(base.alt_id);
    this.#flushMs = flushMs;
    this.#onError = onError;
    const now = iso(Date.now());
    this.entry = { ...base, state: 'pending', received_at: now, updated_at: now, started_at: null, finished_at: null, last_status: null, error: null, tasks: {} };
  }

  /** The job runs: every task is listed (resumed ones as completed). */
  running(job: Job, resumed: ReadonlyMap<string, { attempts: number; start_time: string | null; end_time: string | null }>): Promise<void> {
    for (const t of job.tasks) {
      const r = resumed.get(t.id);
      this.entry.tasks[t.id] = r
        ? { state: 'completed', attempts: r.attempts, started_at: r.start_time, finished_at: r.end_time, resumed: true }
        : { state: 'pending', attempts: 0, started_at: null, finished_at: null };
    }
    this.entry.started_at = iso(Date.now());
    return this.state('running');
  }

  onEvent = (e: TaskEvent): void => {
    const t = (this.entry.tasks[e.taskId] ??= { state: 'pending', attempts: 0, started_at: null, finished_at: null });
    if (e.type === 'task_started') Object.assign(t, { state: 'running', attempts: 1, started_at: iso(e.at) });
    else if (e.type === 'task_retrying') t.attempts = e.attempt;
    else if (e.type === 'task_finished') {
      Object.assign(t, { state: e.result.status, attempts: e.result.attempts, finished_at: e.result.end_time ?? iso(e.at) });
      if (e.result.error_code) t.error_code = e.result.error_code;
    }
    this.#schedule();
  };

  /** A job state change: written at once (after any write in progress). */
  state(state: JobState, extra: Partial<Pick<StatusEntry, 'last_status' | 'error'>> = {}): Promise<void> {
    Object.assign(this.entry, { state, ...extra });
    if (state === 'completed' || state === 'failed' || state === 'cancelled') this.entry.finished_at = iso(Date.now());
    return this.#flush();
  }

  /** Stops the coalescing timer and waits for the last write. */
  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#chain;
  }

  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#flush();
    }, this.#flushMs);
  }

  #flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#chain = this.#chain.then(async () => {
      this.entry.updated_at = iso(Date.now());
      try {
        await this.#kv.put(this.#key, JSON.stringify(this.entry));
        this.writes++;
      } catch (e) {
        this.#onError(e as Error);
      }
    });
    return this.#chain;
  }
}

/** Reads a job's status entry, or null. */
export async function readStatus(kv: KV, altId: string): Promise<StatusEntry | null> {
  const e = await kv.get(statusKey(altId));
  if (!e || e.operation !== 'PUT' || e.value.length === 0) return null;
  return e.json<StatusEntry>();
}
