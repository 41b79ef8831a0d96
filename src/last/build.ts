/** Builds the `.last` document of a run (or of a job that could not run): pure. */
import type { Job } from '../alt/job.ts';
import type { DecodeWarning } from '../alt/job.ts';
import type { AltlasError } from '../errors.ts';
import type { JobRun } from '../engine/run-job.ts';
import type { Artifact, Last, LastStatus, LastTaskResult } from './schema.ts';
import { failureSummary, summaryText } from './summary.ts';

export interface LastIds {
  /** uuid of the `.last` document. */
  id: string;
  /** uuid of this execution. */
  executionId: string;
  /** uuid generator for artifacts. */
  uuid: () => string;
  /** Epoch ms used for generated_at. */
  now: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The `.alt` metadata copied with keys prefixed `alt_`. */
function prefixed(metadata: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(metadata).map(([k, v]) => [`alt_${k}`, v]));
}

/** An edge from each dependency to its dependent (a dependency listed twice gives one edge). */
function edgesOf(job: Job): Last['execution_graph']['edges'] {
  return job.tasks.flatMap((t) => [...new Set(t.dependencies)].map((d) => ({ source: d, target: t.id, dependency_type: 'required' as const })));
}

/** success when every task completed, partialsuccess when some did, failure when none did or there are none. */
export function lastStatus(completed: number, total: number): LastStatus {
  if (total === 0 || completed === 0) return 'failure';
  return completed === total ? 'success' : 'partialsuccess';
}

export interface BuildLastInput {
  job: Job;
  run: JobRun;
  warnings?: readonly DecodeWarning[];
  /** Extra metadata (e.g. stream sequence, deliveries). */
  metadata?: Record<string, unknown>;
}

/** The `.last` of a job that ran. */
export function buildLast({ job, run, warnings = [], metadata = {} }: BuildLastInput, ids: LastIds): Last {
  const taskResults: Record<string, LastTaskResult> = {};
  const artifacts: Artifact[] = [];
  let tokens = 0;
  let totalTaskMs = 0;
  for (const r of run.results) {
    taskResults[r.task_id] = {
      task_id: r.task_id,
      execution_id: ids.executionId,
      status: r.status,
      start_time: r.start_time,
      end_time: r.end_time,
      duration_ms: r.duration_ms,
      output: r.output,
      error: r.error,
      metadata: { ...r.metadata, attempts: r.attempts, ...(r.error_code ? { error_code: r.error_code } : {}), ...(run.resumed.includes(r.task_id) ? { resumed: true } : {}) },
    };
    totalTaskMs += r.duration_ms;
    tokens += r.output?.tokens_used ?? 0;
    if (r.output && r.output.text.length > 0) {
      artifacts.push({
        id: ids.uuid(),
        name: `${r.task_id}-output.txt`,
        artifact_type: 'text',
        task_id: r.task_id,
        path: `last://${ids.executionId}/${r.task_id}/output.txt`,
        created_at: r.end_time ?? iso(run.endMs),
        size_bytes: Buffer.byteLength(r.output.text, 'utf8'),
        mime_type: 'text/plain; charset=utf-8',
        metadata: { model_used: r.output.model_used },
      });
    }
  }
  const counts = { completed: 0, failed: 0, timeout: 0, cancelled: 0, pending: 0, running: 0 };
  for (const r of run.results) counts[r.status]++;
  const total = run.results.length;
  const status = lastStatus(counts.completed, total);
  const base = {
    id: ids.id,
    execution_id: ids.executionId,
    alt_file_id: job.id,
    title: job.title,
    mode: job.mode,
    persona: job.persona,
    status,
    success_rate: total === 0 ? 0 : counts.completed / total,
    execution_time_ms: Math.max(0, run.endMs - run.startMs),
    start_time: iso(run.startMs),
    end_time: iso(run.endMs),
  };
  return {
    ...base,
    task_results: taskResults,
    artifacts,
    metadata: {
      ...prefixed(job.metadata),
      generated_at: iso(ids.now),
      total_task_duration_ms: totalTaskMs,
      tokens_used_total: tokens,
      alt_source_form: job.source.form,
      alt_source_version: job.source.version,
      decode_warnings: warnings.map((w) => ({ code: w.code, pointer: w.pointer, message: w.message })),
      resumed_tasks: run.resumed,
      ...(run.stopped ? { stopped: { code: run.stopped.code, message: run.stopped.message } } : {}),
      ...metadata,
    },
    tags: job.tags,
    priority: job.priority,
    execution_graph: {
      nodes: run.results.map((r) => ({ id: `node-${r.task_id}`, task_id: r.task_id, status: r.status, duration_ms: r.duration_ms, start_time: r.start_time, end_time: r.end_time })),
      edges: edgesOf(job),
    },
    summary: summaryText({ ...base, artifacts: artifacts.length, counts }),
    version: '1.0',
  };
}

export interface FailureInput {
  /** The job id, recovered where the job did not decode; '' when unknown. */
  altId: string;
  error: AltlasError;
  /** The decoded job, when the failure came after decoding (forbidden kind, unsupported feature). */
  job?: Job;
  startMs: number;
  endMs: number;
  metadata?: Record<string, unknown>;
}

/** The failure form: status failure, no task results, the error in `metadata.error`. */
export function buildFailureLast({ altId, error, job, startMs, endMs, metadata = {} }: FailureInput, ids: LastIds): Last {
  const base = {
    id: ids.id,
    execution_id: ids.executionId,
    alt_file_id: altId,
    title: job?.title ?? '',
    mode: job?.mode ?? 'normal',
    persona: job?.persona ?? null,
    status: 'failure' as const,
    success_rate: 0,
    execution_time_ms: Math.max(0, endMs - startMs),
    start_time: iso(startMs),
    end_time: iso(endMs),
  };
  return {
    ...base,
    task_results: {},
    artifacts: null,
    metadata: {
      ...(job ? prefixed(job.metadata) : {}),
      generated_at: iso(ids.now),
      total_task_duration_ms: 0,
      error: { code: error.code, message: error.message, problems: error.problems },
      ...metadata,
    },
    tags: job?.tags ?? [],
    priority: job?.priority ?? 'medium',
    execution_graph: {
      nodes: [],
      edges: job ? edgesOf(job) : [],
    },
    summary: failureSummary({ ...base, error }),
    version: '1.0',
  };
}
