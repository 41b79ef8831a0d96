/**
 * Job status in a JetStream KV bucket: one entry per job (key: the job id as a subject token).
 * The first write of a run comes when it has been running RUNNER_STATUS_FLUSH_MS, then at most one
 * coalesced write per interval, plus one per state change that matters to a reader (waiting for
 * the AI side, handed back, final). A job that ends with a stored `.last` before its first write
 * (on its first delivery) writes none: its `.last` in the LAST stream is its record, and readers
 * find it there ({@link entryFromLast}).
 */
import type { KV } from '@nats-io/kv';
import type { TaskEvent, TaskOutput, TaskStatus } from '../engine/types.ts';
import type { Job, JobBudget } from '../alt/job.ts';
import { subjectToken } from '../contract/subjects.ts';
import { IDENTITY_CODEC, type Codec } from '../security/codec.ts';
import { redactDataText } from '../security/redact.ts';
import { iso } from '../time.ts';
import type { TokenUsage } from '../ai/call.ts';
import { addToReport, emptyReport, spendOfOutput, type UsageReport } from '../usage/totals.ts';
import { prefixOf } from '../text.ts';

export const JOB_STATES = ['running', 'waiting', 'retrying', 'completed', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
/** States after which nothing more is written for the delivery. */
export const FINAL_STATES: readonly JobState[] = ['completed', 'failed', 'cancelled'];

export interface TaskState {
  state: TaskStatus | 'skipped';
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  resumed?: boolean;
  error_code?: string;
  /** 2.0: the segment an instance runs, its kind, and its loop iteration. */
  segment?: string;
  kind?: string;
  iteration?: number;
  /** Tasks (instances) this one waits for: the dashboard draws the graph from them. */
  deps?: string[];
  /** 2.0: the construct instance (condition, loop, call) this instance belongs to. */
  owner?: string;
  /** A completed AI task: its call's tokens by kind as reported (null where not) and cost (null when unknown). */
  usage?: TokenUsage;
  cost?: number | null;
  /** A completed task's output, its first {@link PREVIEW_CHARS} characters (the dashboard shows it while the job runs). */
  preview?: string;
}

/** Characters of a task's output a status entry keeps. */
export const PREVIEW_CHARS = 120;

/** The value of a status entry. */
export interface StatusEntry {
  alt_id: string;
  state: JobState;
  title: string;
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
  tasks_total: number;
  tasks_done: number;
  trace_id?: string;
  error: { code: string; message: string } | null;
  tasks: Record<string, TaskState>;
  /** The calls of the tasks completed so far (resumed ones included): tokens by kind, cost, by model. */
  usage?: UsageReport;
  /** The job's budget in force (tokens, money; null: no limit in that unit), when it has one. */
  budget?: JobBudget;
  /** The job's tenant: its subject's tenant token (`alt.<lane>.<tenant>`), `_` for none. */
  tenant?: string;
  /** With PAYLOAD_KEYS: title, error and tasks, encrypted (the plain fields above are then empty). */
  sealed?: string;
}

/** The status key of a job id. */
export const statusKey = (altId: string) => subjectToken(altId);
/** The key of a cancel request for a job (written by `altlas cancel`, watched by every worker). */
export const cancelKey = (altId: string) => `cancel.${subjectToken(altId)}`;

const dec = new TextDecoder();

/**
 * The bytes of an entry as written (sensitive parts sealed when the codec encrypts). Buffer.from:
 * a pooled slice, several times cheaper than TextEncoder for an entry's size.
 */
export function encodeEntry(e: StatusEntry, codec: Codec, key: string): Uint8Array {
  if (!codec.encrypts) return Buffer.from(JSON.stringify(e));
  const secret = Buffer.from(JSON.stringify({ title: e.title, error: e.error, tasks: e.tasks }));
  const sealed = Buffer.from(codec.seal(secret, `status:${key}`)).toString('base64');
  return Buffer.from(JSON.stringify({ ...e, title: '', error: e.error ? { code: e.error.code, message: '' } : null, tasks: {}, sealed }));
}

/** A value in the status bucket that is not a status entry (not JSON, or not of its shape): readers show it as unreadable and skip it. */
export class UnreadableEntry extends Error {
  readonly key: string;
  readonly reason: string;

  constructor(key: string, reason: string) {
    super(`the status entry ${key} is unreadable (${reason})`);
    this.key = key;
    this.reason = reason;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isTime = (v: unknown) => v === null || v === undefined || typeof v === 'string';

/** Why a parsed value is not a status entry as readers use it, or null when it is one. */
function shapeProblem(e: unknown): string | null {
  if (!isObject(e)) return 'not a JSON object';
  for (const f of ['alt_id', 'title', 'worker_id', 'received_at', 'updated_at'] as const) if (typeof e[f] !== 'string') return `${f} is not a string`;
  if (!(JOB_STATES as readonly unknown[]).includes(e.state)) return 'state is not a job state';
  if (!isTime(e.started_at) || !isTime(e.finished_at)) return 'started_at or finished_at is not a time';
  for (const f of ['tasks_total', 'tasks_done', 'deliveries'] as const) if (e[f] !== undefined && typeof e[f] !== 'number') return `${f} is not a number`;
  if (e.error !== null && e.error !== undefined && !(isObject(e.error) && typeof e.error.code === 'string' && typeof e.error.message === 'string')) return 'error is not {code, message}';
  if (!isObject(e.tasks)) return 'tasks is not an object';
  for (const t of Object.values(e.tasks)) if (!isObject(t) || typeof t.state !== 'string') return 'a task is not {state, ...}';
  return null;
}

/**
 * Reads an entry's bytes, opening the sealed part when the codec holds its key. A value that is
 * not JSON or not of an entry's shape throws {@link UnreadableEntry}: whoever wrote it, a reader
 * shows it as unreadable and goes on.
 */
export function decodeEntry(bytes: Uint8Array, codec: Codec, key: string): StatusEntry {
  let e: StatusEntry;
  try {
    e = JSON.parse(dec.decode(bytes)) as StatusEntry;
  } catch {
    throw new UnreadableEntry(key, 'not JSON');
  }
  if (isObject(e) && typeof e.sealed === 'string') {
    try {
      const secret = JSON.parse(dec.decode(codec.open(Buffer.from(e.sealed, 'base64'), `status:${key}`))) as Pick<StatusEntry, 'title' | 'error' | 'tasks'>;
      if (isObject(secret)) e = { ...e, ...secret, sealed: undefined };
    } catch {
      // not our key: the plain fields stay
    }
  }
  const problem = shapeProblem(e);
  if (problem) throw new UnreadableEntry(key, problem);
  // An entry is its job's: one found under another job's key got there another way (copied by a
  // JetStream API answer whose reply subject named that key) and says nothing of this job.
  if (statusKey(e.alt_id) !== key) throw new UnreadableEntry(key, `the entry of job ${e.alt_id}, not of this key`);
  return e;
}

/** What a status entry takes from the `.last` its delivery stored (the `.last`'s own shape, in part). */
export interface LastOutcome {
  alt_file_id: string;
  title: string;
  start_time: string;
  task_results: Record<string, { status: string; start_time: string | null; end_time: string | null; metadata: { attempts?: unknown; error_code?: unknown; resumed?: unknown } }>;
}

/** Where entries are written: a KV bucket, or a direct publish to its subject (the worker's fast path). */
export interface StatusSink {
  put(key: string, value: Uint8Array): Promise<unknown>;
}

/** Tracks one delivery of one job and writes its entry. Writes are serialised and never throw. */
export class StatusTracker {
  readonly #kv: StatusSink;
  readonly #key: string;
  readonly #flushMs: number;
  readonly #onError: (e: Error) => void;
  readonly #codec: Codec;
  readonly #entry: StatusEntry;
  readonly altId: string;
  #timer: NodeJS.Timeout | null = null;
  #chain: Promise<void> = Promise.resolve();
  #visible = false;
  #known = false;
  #closed = false;
  /** The delivery ended with a stored `.last` (see {@link reconcile}). */
  #lastStored = false;
  /**
   * What happened before the first write, applied to the entry only when one is written (or the
   * entry is reconciled): a job that ends within the flush time with its `.last` never pays for it.
   */
  #deferred: (() => void)[] | null = [];
  /** KV writes made so far. */
  writes = 0;

  constructor(kv: StatusSink, base: Pick<StatusEntry, 'alt_id' | 'alt_stream' | 'alt_stream_seq' | 'deliveries' | 'worker_id' | 'tenant'>, flushMs: number, onError: (e: Error) => void, codec: Codec = IDENTITY_CODEC, currency: string | null = null) {
    this.#kv = kv;
    this.#key = statusKey(base.alt_id);
    this.#flushMs = flushMs;
    this.#onError = onError;
    this.#codec = codec;
    this.altId = base.alt_id;
    const now = iso(Date.now());
    this.#entry = {
      ...base, state: 'running', title: '', received_at: now, updated_at: now, started_at: null, finished_at: null,
      last_status: null, tasks_total: 0, tasks_done: 0, error: null, tasks: {}, usage: emptyReport(currency),
    };
  }

  /** The job runs: its tasks are listed (resumed ones as completed); the first write waits RUNNER_STATUS_FLUSH_MS. */
  running(job: Job, traceId?: string, budget?: JobBudget | null): void {
    if (this.#deferred) {
      const at = Date.now();
      this.#deferred.push(() => this.#running(job, at, traceId, budget));
      this.#schedule();
      return;
    }
    this.#running(job, Date.now(), traceId, budget);
    this.#schedule();
  }

  #running(job: Job, at: number, traceId?: string, budget?: JobBudget | null): void {
    this.#entry.title = redactDataText(job.title);
    if (budget) this.#entry.budget = budget;
    if (traceId) this.#entry.trace_id = traceId;
    this.#entry.started_at ??= iso(at);
    // 1.0 jobs list every task at once; a 2.0 program lists its instances as they are created.
    if (job.source.form !== 'enhanced') for (const t of job.tasks) this.#entry.tasks[t.id] ??= { state: 'pending', attempts: 0, started_at: null, finished_at: null, ...(t.dependencies.length ? { deps: [...t.dependencies] } : {}) };
    this.#count();
  }

  onEvent = (e: TaskEvent): void => {
    if (this.#closed) return;
    if (this.#deferred) this.#deferred.push(() => this.#apply(e));
    else this.#apply(e);
    this.#schedule();
  };

  /** The entry as it stands (the events queued before the first write applied). */
  get entry(): StatusEntry {
    this.#applyDeferred();
    return this.#entry;
  }

  /** Applies the events queued before the first write (once). */
  #applyDeferred(): void {
    const queued = this.#deferred;
    this.#deferred = null;
    if (queued) for (const f of queued) f();
  }

  #apply(e: TaskEvent): void {
    if (e.type === 'skipped') {
      this.#entry.tasks[e.segmentId] ??= { state: 'skipped', attempts: 0, started_at: null, finished_at: null };
      return;
    }
    const t = (this.#entry.tasks[e.taskId] ??= { state: 'pending', attempts: 0, started_at: null, finished_at: null });
    if (e.type === 'instance_created') {
      Object.assign(t, { segment: e.segmentId, kind: e.kind, ...(e.iteration !== null ? { iteration: e.iteration } : {}), ...(e.dependencies.length ? { deps: e.dependencies } : {}), ...(e.owner ? { owner: e.owner } : {}) });
      // A template listed at job start becomes its instances: the bare segment entry goes.
      if (e.taskId !== e.segmentId && this.#entry.tasks[e.segmentId]?.state === 'pending') delete this.#entry.tasks[e.segmentId];
    } else if (e.type === 'task_started') Object.assign(t, { state: 'running', attempts: 1, started_at: iso(e.at) });
    else if (e.type === 'task_retrying') t.attempts = e.attempt;
    else if (e.type === 'task_resumed') {
      Object.assign(t, { state: 'completed', attempts: e.result.attempts, started_at: e.result.start_time, finished_at: e.result.end_time, resumed: true });
      this.#spent(t, e.result.output);
      if (e.result.output?.text) t.preview = prefixOf(e.result.output.text, PREVIEW_CHARS);
    } else if (e.type === 'task_finished') {
      // A task stopped by its job's parking (an approval task waiting, a call its tenant's budget refused, or one not reached) waits: pending, not cancelled.
      const parked = e.result.error_code === 'JOB_PARKED' || e.result.error_code === 'BUDGET_WAIT';
      Object.assign(t, { state: parked ? 'pending' : e.result.status, attempts: e.result.attempts, finished_at: parked ? null : e.result.end_time ?? iso(e.at) });
      if (e.result.error_code) t.error_code = e.result.error_code;
      if (e.result.status === 'completed') this.#spent(t, e.result.output);
      if (e.result.output?.text) t.preview = prefixOf(e.result.output.text, PREVIEW_CHARS);
    }
    this.#count();
  }

  /** Adds a completed task's call to the task and to the job's usage. */
  #spent(t: TaskState, output: TaskOutput | null): void {
    const spend = spendOfOutput(output);
    if (!spend || !this.#entry.usage) return;
    const u = spend.usage;
    t.usage = { input: u?.input ?? null, output: u?.output ?? null, cached_input: u?.cached_input ?? null, reasoning: u?.reasoning ?? null };
    t.cost = (output?.cost as number | null | undefined) ?? null;
    addToReport(this.#entry.usage, spend);
  }

  /**
   * The job ended with this `.last`: its tasks take the states the `.last` gives them (a cancel's
   * unfinished tasks end `cancelled`, never left `pending`), with attempts, times and error codes;
   * a task the `.last` has no result for and that never ended (a body the stop dropped) goes, and
   * the output previews go (the `.last` has the outputs). A job cancelled before it started gets
   * its title and tasks here. Written with the next state change.
   */
  reconcile(last: LastOutcome): void {
    this.#lastStored = true;
    if (this.#deferred) this.#deferred.push(() => this.#reconcile(last));
    else this.#reconcile(last);
  }

  #reconcile(last: LastOutcome): void {
    if (!this.#entry.title) this.#entry.title = redactDataText(last.title);
    this.#entry.started_at ??= last.start_time;
    const tasks = this.#entry.tasks;
    for (const [id, t] of Object.entries(tasks)) if (!last.task_results[id] && (t.state === 'pending' || t.state === 'running')) delete tasks[id];
    for (const [id, r] of Object.entries(last.task_results)) {
      const t = (tasks[id] ??= { state: 'pending', attempts: 0, started_at: null, finished_at: null });
      t.state = r.status as TaskState['state'];
      if (typeof r.metadata.attempts === 'number') t.attempts = r.metadata.attempts;
      t.started_at = r.start_time === r.end_time && t.started_at === null ? null : r.start_time;
      t.finished_at = r.end_time;
      if (typeof r.metadata.error_code === 'string') t.error_code = r.metadata.error_code;
      else delete t.error_code;
      if (r.metadata.resumed === true) t.resumed = true;
      // The .last holds the outputs and their usage now: the final entry stays small (a short job's only write).
      delete t.preview;
      delete t.usage;
      delete t.cost;
    }
    this.#count();
  }

  /** A state change: written at once (after any write in progress). */
  state(state: JobState, extra: Partial<Pick<StatusEntry, 'last_status' | 'error'>> = {}): Promise<void> {
    Object.assign(this.#entry, { state, ...extra });
    if (FINAL_STATES.includes(state)) {
      this.#entry.finished_at = iso(Date.now());
      this.#closed = true;
      // Finished within the flush time with its .last stored: that .last is the job's record, no entry is written.
      // A redelivery writes its final state (an earlier delivery may have left an entry that says running).
      if (!this.#visible && !this.#known && this.#lastStored && this.#entry.deliveries === 1) {
        if (this.#timer) clearTimeout(this.#timer);
        this.#timer = null;
        return this.#chain;
      }
    }
    return this.#flush();
  }

  /** Stops the coalescing timer and waits for the last write. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#chain;
  }

  #count(): void {
    const all = Object.values(this.#entry.tasks);
    this.#entry.tasks_total = all.filter((t) => t.state !== 'skipped').length;
    this.#entry.tasks_done = all.filter((t) => t.state === 'completed').length;
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#flush();
    }, this.#flushMs);
    this.#timer.unref?.();
  }

  #flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#visible = true;
    this.#applyDeferred();
    this.#chain = this.#chain.then(async () => {
      this.#entry.updated_at = iso(Date.now());
      try {
        await this.#kv.put(this.#key, encodeEntry(this.#entry, this.#codec, this.#key));
        this.writes++;
      } catch (e) {
        this.#onError(e as Error);
      }
    });
    return this.#chain;
  }

  /** The job has an entry already (an earlier message of it wrote one, e.g. its park): its final state is written. */
  entryExists(): void {
    this.#known = true;
  }

  /** True once an entry was written for this delivery. */
  get visible(): boolean {
    return this.#visible;
  }
}

/** The `.last` fields a status entry is made from when the job wrote none. */
export interface FinishedLast extends LastOutcome {
  status: string;
  end_time: string;
  metadata: Record<string, unknown>;
  execution_graph?: { nodes: { id: string; task_id: string }[]; edges: { source: string; target: string; dependency_type: string }[] } | null;
}

/**
 * The status entry of a job that finished without writing one, made from its stored `.last`:
 * state `completed` (`success`, `partialsuccess`), `failed` (`failure`) or `cancelled`
 * (`JOB_CANCELLED`), its tasks as the `.last` gives them, and the stream, sequence and deliveries
 * it came from. The worker is not recorded in a `.last`: `worker_id` is empty.
 */
export function entryFromLast(last: FinishedLast, storedAt: string, currency: string | null = null): StatusEntry {
  const m = last.metadata;
  const code = typeof m.error_code === 'string' ? m.error_code : null;
  const state: JobState = code === 'JOB_CANCELLED' ? 'cancelled' : last.status === 'failure' ? 'failed' : 'completed';
  const tracker = new StatusTracker({ put: async () => undefined }, {
    alt_id: last.alt_file_id,
    alt_stream: typeof m.source_stream === 'string' ? m.source_stream : '',
    alt_stream_seq: typeof m.source_stream_seq === 'number' ? m.source_stream_seq : 0,
    deliveries: typeof m.deliveries === 'number' ? m.deliveries : 1,
    worker_id: '',
  }, 0, () => {}, IDENTITY_CODEC, currency);
  tracker.reconcile(last);
  const e = tracker.entry;
  // What the dashboard draws: dependencies and a 2.0 member's construct from the graph's edges
  // (conditional: construct → member), an instance's segment and iteration, and the members not taken.
  const taskOf = new Map((last.execution_graph?.nodes ?? []).map((n) => [n.id, n.task_id]));
  for (const edge of last.execution_graph?.edges ?? []) {
    const from = taskOf.get(edge.source);
    const to = taskOf.get(edge.target);
    const t = to === undefined ? undefined : e.tasks[to];
    if (from === undefined || !t) continue;
    if (edge.dependency_type === 'conditional') t.owner = from;
    else (t.deps ??= []).push(from);
  }
  for (const [id, r] of Object.entries(last.task_results)) {
    const t = e.tasks[id];
    const meta = r.metadata as Record<string, unknown>;
    if (t && typeof meta.segment_id === 'string') t.segment = meta.segment_id;
    if (t && typeof meta.iteration === 'number') t.iteration = meta.iteration;
  }
  const flow = m.control_flow as { skipped?: { segment_id?: unknown }[] } | undefined;
  for (const x of flow?.skipped ?? []) if (typeof x.segment_id === 'string') e.tasks[x.segment_id] ??= { state: 'skipped', attempts: 0, started_at: null, finished_at: null };
  const usage = m.usage as UsageReport | undefined;
  return {
    ...e, state, received_at: last.start_time, started_at: last.start_time, updated_at: storedAt, finished_at: last.end_time, last_status: last.status,
    error: code ? { code, message: typeof m.error === 'string' ? m.error : '' } : null,
    ...(usage ? { usage } : {}),
    ...(m.budget && typeof m.budget === 'object' ? { budget: m.budget as JobBudget } : {}),
  };
}

/** Reads a job's status entry, or null. */
export async function readStatus(kv: KV, altId: string, codec: Codec = IDENTITY_CODEC): Promise<StatusEntry | null> {
  const key = statusKey(altId);
  const e = await kv.get(key);
  if (!e || e.operation !== 'PUT' || e.value.length === 0) return null;
  return decodeEntry(e.value, codec, key);
}
