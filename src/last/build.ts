/** Builds the `.last` document of a run (or of a job that could not run): pure but for the ids given. */
import type { DecodeWarning, Job } from '../alt/job.ts';
import type { JobHeader } from '../alt/header.ts';
import type { AltlasError } from '../errors.ts';
import type { JobRun } from '../engine/engine.ts';
import type { TaskResult } from '../engine/types.ts';
import { subjectToken } from '../contract/subjects.ts';
import { redactData, redactDataText, redactText } from '../security/redact.ts';
import { artifactObjectName, lastUrl, objectUrl } from './artifacts.ts';
import type { Artifact, Last, LastStatus, LastTaskResult } from './schema.ts';
import { failureSummary, summaryText } from './summary.ts';
import { iso } from '../time.ts';
import { reportOfOutputs } from '../usage/totals.ts';
import { cutText, prefixOf } from '../text.ts';
import { compileProgram } from '../alt/program/compile.ts';

export interface LastIds {
  /** uuid of the `.last` document. */
  id: string;
  /** uuid of this execution. */
  executionId: string;
  /** uuid generator (task results, nodes, artifacts). */
  uuid: () => string;
  /** Epoch ms: when the `.last` is generated (its end_time). */
  now: number;
}

export interface ArtifactOptions {
  /** The URL of a task's output bytes: in the object store when `stored`, else inside the `.last`. */
  url: (taskId: string, executionId: string, stored: boolean) => string;
  /** Task keys whose full output was stored as an object: the `.last` keeps a preview. */
  stored?: ReadonlySet<string>;
  /** Characters (code points, whole grapheme clusters) of that preview, before its `…`. Default 2,000. */
  previewChars?: number;
}

/** Most problems a failure `.last` lists (the rest are counted). */
export const MAX_RESULT_PROBLEMS = 50;
/** Longest error text a `.last` carries. */
export const MAX_ERROR_CHARS = 2_000;

/** A text cut to `n` characters (code points, never inside a surrogate pair or a grapheme cluster). */
const cut = (s: string, n = MAX_ERROR_CHARS) => cutText(s, n);

/** The `.alt` metadata copied with keys prefixed `alt_`, secrets redacted (the data policy: ordinary keys and texts stay as they are). */
function prefixed(metadata: Record<string, unknown>, redactKeys: readonly string[] | undefined): Record<string, unknown> {
  const safe = redactData(metadata, redactKeys) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(safe).map(([k, v]) => [`alt_${k}`, v]));
}

/**
 * An artifact's file name, `<task_id>_output.txt` as the original writes it. A 2.0 instance key
 * (`each[0]/describe`) has its `/` written as `__`, so the name stays one file in the original's
 * layout (`artifacts/<execution_id>/<name>`); a name taken already gets a number.
 */
export function artifactName(taskId: string, taken: Set<string>): string {
  const base = taskId.replace(/[/\\]/g, '__');
  let name = `${base}_output.txt`;
  for (let n = 2; taken.has(name); n++) name = `${base}_${n}_output.txt`;
  taken.add(name);
  return name;
}

/** success when every task completed, partialsuccess when some did, failure when none did or there are none. */
export function lastStatus(completed: number, total: number): LastStatus {
  if (total === 0 || completed === 0) return 'failure';
  return completed === total ? 'success' : 'partialsuccess';
}

const defaultArtifacts = (job: Job): ArtifactOptions => ({
  url: (taskId, executionId, stored) => (stored
    ? objectUrl('ALT_OUTPUTS', artifactObjectName(executionId, taskId))
    : lastUrl('LAST', `last.${subjectToken(job.id)}`, executionId, taskId)),
});

export interface BuildLastInput {
  job: Job;
  run: Pick<JobRun, 'results' | 'startMs' | 'endMs' | 'resumed' | 'skipped' | 'edges' | 'stopped'>;
  warnings?: readonly DecodeWarning[];
  /** Extra metadata of ours (stream, sequence, deliveries): never `alt_`-prefixed. */
  metadata?: Record<string, unknown>;
  artifacts?: ArtifactOptions;
  /** Extra key fragments to redact; default the configured LOG_REDACT (see configureRedaction). */
  redactKeys?: readonly string[];
  /** The price table's currency (metadata.usage); null without one. */
  currency?: string | null;
}

/** The `.last` of a job that ran. */
export function buildLast({ job, run, warnings = [], metadata = {}, artifacts, redactKeys, currency = null }: BuildLastInput, ids: LastIds): Last {
  const art = artifacts ?? defaultArtifacts(job);
  const preview = art.previewChars ?? 2_000;
  const created = iso(ids.now);
  const taskResults: Record<string, LastTaskResult> = {};
  const artifactList: Artifact[] = [];
  const resumed = new Set(run.resumed);
  let tokens = 0;
  let totalTaskMs = 0;
  const names = new Set<string>();
  let earliest = Number.POSITIVE_INFINITY;
  const counts = { total: run.results.length, completed: 0, failed: 0, timeout: 0, cancelled: 0, pending: 0, running: 0 };
  for (const r of run.results) {
    counts[r.status]++;
    const startMs = r.start_time ? Date.parse(r.start_time) : Number.NaN;
    if (!Number.isNaN(startMs) && startMs < earliest) earliest = startMs;
    const stored = art.stored?.has(r.task_id) === true;
    let output = r.output;
    if (output) {
      const full = output.text;
      const bytes = Buffer.byteLength(full, 'utf8');
      const tokensUsed = Number.isInteger(output.tokens_used) && output.tokens_used >= 0 ? output.tokens_used : 0;
      const path = full.length > 0 ? art.url(r.task_id, ids.executionId, stored) : null;
      output = { ...output, tokens_used: tokensUsed };
      if (stored && path) output = { ...output, text: `${prefixOf(full, preview)}…`, truncated: true, size_bytes: bytes, artifact: path };
      tokens += tokensUsed;
      if (path) {
        artifactList.push({
          id: ids.uuid(), name: artifactName(r.task_id, names), artifact_type: 'text', task_id: r.task_id, path, created_at: created,
          size_bytes: bytes, mime_type: 'text/plain', metadata: { model_used: output.model_used, stored: stored ? 'object' : 'inline' },
        });
      }
    }
    // A 2.0 construct's time spans its members': only the tasks' own time adds up.
    if (!r.metadata.control) totalTaskMs += r.duration_ms;
    taskResults[r.task_id] = {
      task_id: r.task_id,
      execution_id: ids.uuid(),
      status: r.status,
      // A task that never started gets the time its result was made, as the original does.
      start_time: r.start_time ?? r.end_time ?? created,
      end_time: r.end_time,
      duration_ms: r.duration_ms,
      output,
      error: r.error === null ? null : redactText(cut(r.error)),
      metadata: {
        ...r.metadata, attempts: r.attempts,
        ...(r.error_code ? { error_code: r.error_code } : {}), ...(resumed.has(r.task_id) ? { resumed: true } : {}),
      },
    };
  }
  const total = counts.total;
  const status = lastStatus(counts.completed, total);
  const startMs = Number.isFinite(earliest) ? Math.min(earliest, ids.now) : Math.min(run.startMs, ids.now);
  const nodeIds = new Map<string, string>();
  const nodes = Object.values(taskResults).map((r) => {
    const id = ids.uuid();
    nodeIds.set(r.task_id, id);
    return { id, task_id: r.task_id, status: r.status, duration_ms: r.duration_ms, start_time: r.start_time, end_time: r.end_time };
  });
  const edges = run.edges.flatMap((e) => {
    const source = nodeIds.get(e.source);
    const target = nodeIds.get(e.target);
    return source && target ? [{ source, target, dependency_type: e.dependency_type }] : [];
  });
  const enhanced = job.source.form === 'enhanced';
  const base = {
    id: ids.id,
    execution_id: ids.executionId,
    alt_file_id: job.id,
    title: redactDataText(job.title, redactKeys),
    mode: job.mode,
    persona: job.persona === null ? null : redactDataText(job.persona, redactKeys),
    status,
    success_rate: total === 0 ? 0 : counts.completed / total,
    execution_time_ms: Math.max(0, ids.now - startMs),
    start_time: iso(startMs),
    end_time: created,
  };
  return {
    ...base,
    task_results: taskResults,
    artifacts: artifactList,
    metadata: {
      ...prefixed(job.metadata, redactKeys),
      generated_at: created,
      total_task_duration_ms: totalTaskMs,
      tokens_used_total: tokens,
      // Ours: the calls whose answers this .last holds, by kind and by the model that answered.
      usage: reportOfOutputs(run.results.map((r) => r.output), currency),
      source_form: job.source.form,
      source_version: job.source.version,
      decode_warnings: warnings.map((w) => ({ code: w.code, pointer: w.pointer, message: redactText(w.message) })),
      resumed_tasks: run.resumed,
      ...(enhanced ? { control_flow: { skipped: run.skipped } } : {}),
      ...(run.stopped ? { stopped: { code: run.stopped.code, message: redactText(cut(run.stopped.message)) } } : {}),
      ...metadata,
    },
    tags: redactData(job.tags, redactKeys) as string[],
    priority: job.priority,
    execution_graph: { nodes, edges },
    summary: summaryText({
      ...base, artifacts: artifactList.length, counts,
      extra: enhanced && run.skipped.length ? [`- Skipped Members: ${run.skipped.length}`] : undefined,
    }),
    version: '1.0',
  };
}

export interface CancelledInput extends Omit<BuildLastInput, 'run'> {
  /** The run so far, when the job had started. */
  run?: BuildLastInput['run'];
  atMs: number;
}

/** What an operator's cancel says, in the `.last`'s metadata and summary. */
export const CANCELLED_MESSAGE = 'the job was cancelled by an operator';
const CANCELLED_TASK = 'Cancelled by an operator (altlas cancel)';

/**
 * The results of a job cancelled before it started: one per task the job would have started with
 * (for a 2.0 program its top-level segments; members of bodies are listed as not reached); a task
 * in `kept` (a parked job's completed results) keeps its result.
 */
export function notStarted(job: Job, atMs: number, kept?: ReadonlyMap<string, TaskResult>): BuildLastInput['run'] {
  const at = iso(atMs);
  const program = compileProgram(job);
  const top = new Set(program.top.members);
  const result = (taskId: string): TaskResult => ({
    task_id: taskId, status: 'cancelled', start_time: null, end_time: at, duration_ms: 0, output: null, error: CANCELLED_TASK,
    error_code: 'JOB_CANCELLED', attempts: 0, metadata: program.enhanced ? { segment_id: taskId } : {},
  });
  return {
    startMs: atMs, endMs: atMs, resumed: [], edges: [], stopped: null,
    results: program.nodes.filter((n) => top.has(n.index)).map((n) => kept?.get(n.id) ?? result(n.id)),
    skipped: program.nodes.filter((n) => !top.has(n.index)).map((n) => ({ segment_id: n.id, reason: 'not reached: the job was cancelled before it started' })),
  };
}

/**
 * The `.last` of a job an operator cancelled. Its status comes from the counts as for any job
 * (a cancelled job with completed tasks is `partialsuccess`); the cancel is in `metadata.error`,
 * `metadata.error_code` (JOB_CANCELLED) and the summary. Tasks the cancel stopped end `cancelled`
 * with JOB_CANCELLED, those in flight with their real times; what ended before it keeps its result.
 */
export function buildCancelledLast(input: CancelledInput, ids: LastIds): Last {
  const at = iso(input.atMs);
  const run = input.run
    ? {
      ...input.run, stopped: null,
      results: input.run.results.map((r): TaskResult => (r.status === 'completed' || (r.error_code !== 'JOB_CANCELLED' && r.status !== 'pending' && r.status !== 'running') ? r : {
        ...r, status: 'cancelled', error: CANCELLED_TASK, error_code: 'JOB_CANCELLED', output: null,
        end_time: r.end_time ?? at, duration_ms: r.end_time !== null ? r.duration_ms : r.start_time ? Math.max(0, input.atMs - Date.parse(r.start_time)) : 0,
      })),
    }
    : notStarted(input.job, input.atMs);
  const last = buildLast({ ...input, run }, ids);
  return {
    ...last,
    metadata: { ...last.metadata, error: CANCELLED_MESSAGE, error_code: 'JOB_CANCELLED' },
    summary: `${last.summary}\n- Cancelled: ${CANCELLED_MESSAGE}`,
  };
}

export interface FailureInput {
  /** The job id, recovered where the job did not decode; '' when unknown. */
  altId: string;
  error: AltlasError;
  /** The decoded job, or the header of a document that parsed but failed its checks. */
  job?: JobHeader;
  startMs: number;
  endMs: number;
  metadata?: Record<string, unknown>;
  /** Extra key fragments to redact; default the configured LOG_REDACT. */
  redactKeys?: readonly string[];
  /** Most problems listed (the rest counted in `error_problems_more`). Default 50. */
  maxProblems?: number;
}

/** The failure form (the original's): status failure, no task results, `metadata.error` the message; our code and problems beside it. */
export function buildFailureLast({ altId, error, job, startMs, endMs, metadata = {}, redactKeys, maxProblems = MAX_RESULT_PROBLEMS }: FailureInput, ids: LastIds): Last {
  const message = redactText(cut(`${error.code}: ${error.message}`));
  const problems = error.problems.slice(0, maxProblems).map((p) => ({ pointer: cut(p.pointer, 300), message: redactText(cut(p.message, 500)) }));
  const more = Math.max(0, error.problems.length - problems.length) + Number(error.context.problems_omitted ?? 0);
  const time = iso(ids.now);
  return {
    id: ids.id,
    execution_id: ids.executionId,
    alt_file_id: altId,
    title: redactDataText(job?.title ?? '', redactKeys),
    mode: job?.mode ?? 'normal',
    persona: job?.persona == null ? null : redactDataText(job.persona, redactKeys),
    status: 'failure',
    success_rate: 0,
    execution_time_ms: Math.max(0, endMs - startMs),
    start_time: iso(Math.min(startMs, endMs)),
    end_time: iso(endMs),
    task_results: {},
    artifacts: [],
    metadata: {
      ...(job ? prefixed(job.metadata, redactKeys) : {}),
      generated_at: time,
      total_task_duration_ms: 0,
      error: message,
      error_code: error.code,
      error_problems: problems,
      ...(more ? { error_problems_more: more } : {}),
      ...metadata,
    },
    tags: redactData(job?.tags ?? [], redactKeys) as string[],
    priority: job?.priority ?? 'medium',
    execution_graph: null,
    summary: failureSummary({ title: redactDataText(job?.title ?? altId, redactKeys), execution_id: ids.executionId, error: message, time }),
    version: '1.0',
  };
}
