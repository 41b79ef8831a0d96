/**
 * Each validated form to the canonical {@link Job}. Pure; the mapping is documented in the
 * README (one table per form).
 */
import { AltlasError } from '../errors.ts';
import type { RunnerFormDoc, RunnerTaskDoc } from './forms/runner.ts';
import type { SegmentationFormDoc, SegmentDoc } from './forms/segmentation.ts';
import type { EnhancedFormDoc, EnhancedSegmentDoc } from './forms/enhanced.ts';
import { PRIORITIES, type ControlFlow, type DecodeWarning, type Job, type JobBudget, type JobTask, type Mode, type Priority } from './job.ts';

const isPriority = (v: unknown): v is Priority => typeof v === 'string' && (PRIORITIES as readonly string[]).includes(v);
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** metadata.budget as the schema checked it; null when the file sets none. */
function budgetOf(meta: Record<string, unknown>): JobBudget | null {
  const b = meta.budget as { tokens?: number; cost?: number } | undefined;
  if (!b || (b.tokens === undefined && b.cost === undefined)) return null;
  return { tokens: b.tokens ?? null, cost: b.cost ?? null };
}

/** Reads an RFC 3339 / ISO 8601 timestamp; one without a zone is UTC. Returns null when unreadable. */
const CANONICAL_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

export function toUtcIso(text: string): string | null {
  const t = text.trim();
  if (CANONICAL_UTC.test(t)) {
    const ms = Date.parse(t);
    if (Number.isNaN(ms)) return null;
    return t.length === 20 ? `${t.slice(0, 19)}.000Z` : t;
  }
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(t)) return null;
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(t) && /[T ]/.test(t);
  const withTime = /[T ]/.test(t) ? t.replace(' ', 'T') : `${t}T00:00:00`;
  const ms = Date.parse(hasZone ? withTime : `${withTime}Z`);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

function emptyParametersWarning(pointer: string, id: string): DecodeWarning {
  return { code: 'W_EMPTY_PARAMETERS', pointer, message: `task ${id} has an empty parameters map` };
}

function runnerTask(t: RunnerTaskDoc, i: number, warnings: DecodeWarning[]): JobTask {
  const parameters = t.parameters ?? {};
  if (t.parameters && Object.keys(t.parameters).length === 0) warnings.push(emptyParametersWarning(`/tasks/${i}/parameters`, t.id));
  return {
    id: t.id,
    text: t.description,
    kind: (typeof t.task_type === 'string' && t.task_type.trim() ? t.task_type.trim() : null) ?? (typeof parameters.task_type === 'string' && parameters.task_type.trim() ? parameters.task_type.trim() : null),
    dependencies: t.dependencies ?? [],
    parameters,
    timeout_seconds: t.timeout_seconds ?? (isUint(parameters.timeout_seconds) ? parameters.timeout_seconds : null),
    retry_count: t.retry_count ?? null,
    priority: t.priority ?? null,
    tags: t.tags ?? [],
    status: t.status ?? null,
    metadata: t.metadata ?? {},
    control: null,
  };
}

/** Runner form 1.0: priority, tags and expected_completion_time fall back to `metadata`. */
export function normalizeRunner(doc: RunnerFormDoc, warnings: DecodeWarning[]): Job {
  const meta = doc.metadata ?? {};
  return {
    id: doc.id,
    source: { form: 'runner', version: doc.version },
    created_at: toUtcIso(doc.created_at) ?? doc.created_at,
    title: doc.title,
    description: doc.description ?? null,
    mode: doc.mode ?? 'normal',
    persona: doc.persona ?? null,
    priority: doc.priority ?? (isPriority(meta.priority) ? meta.priority : 'medium'),
    tags: doc.tags ?? (isStringList(meta.tags) ? meta.tags : []),
    expected_completion_time: doc.expected_completion_time ?? (isUint(meta.expected_completion_time) ? meta.expected_completion_time : null),
    chaos_level: doc.chaos_level ?? null,
    language: doc.language ?? null,
    command: doc.command ?? null,
    metadata: meta,
    tasks: doc.tasks.map((t, i) => runnerTask(t, i, warnings)),
    global_variables: [],
    functions: [],
    budget: budgetOf(meta),
  };
}

function controlOf(s: EnhancedSegmentDoc): ControlFlow | null {
  const c: ControlFlow = {};
  if (s.condition) c.condition = s.condition as Record<string, unknown>;
  if (s.loop) c.loop = s.loop as Record<string, unknown>;
  if (s.function_def) c.function_def = s.function_def as Record<string, unknown>;
  if (s.function_call) c.function_call = s.function_call as Record<string, unknown>;
  if (s.variables && s.variables.length) c.variables = s.variables as Record<string, unknown>[];
  return Object.keys(c).length ? c : null;
}

function segmentTask(s: SegmentDoc | EnhancedSegmentDoc, i: number, warnings: DecodeWarning[], enhanced: boolean): JobTask {
  const parameters: Record<string, unknown> = {};
  for (const [k, p] of (s.parameters ?? []).entries()) {
    if (Object.hasOwn(parameters, p.name)) {
      warnings.push({ code: 'W_DUPLICATE_PARAMETER', pointer: `/segments/${i}/parameters/${k}`, message: `parameter ${p.name} is given twice; the last value is used` });
    }
    parameters[p.name] = p.value;
  }
  if (s.parameters && s.parameters.length === 0) warnings.push(emptyParametersWarning(`/segments/${i}/parameters`, s.id!));
  const meta = s.metadata ?? {};
  return {
    id: s.id!,
    text: s.content,
    kind: s.task_type.trim() || null,
    dependencies: s.dependencies ?? [],
    parameters,
    timeout_seconds: isUint(parameters.timeout_seconds) ? parameters.timeout_seconds : null,
    retry_count: isUint(parameters.retry_count) && parameters.retry_count <= 255 ? parameters.retry_count : null,
    priority: isPriority(meta.priority) ? meta.priority : null,
    tags: isStringList(meta.tags) ? meta.tags : [],
    status: null,
    metadata: meta,
    control: enhanced ? controlOf(s as EnhancedSegmentDoc) : null,
  };
}

/** Segmentation form 1.0 and enhanced form 2.0: `content` is the task text, parameters become an object. */
export function normalizeSegmentation(doc: SegmentationFormDoc | EnhancedFormDoc, warnings: DecodeWarning[]): Job {
  const enhanced = doc.version === '2.0';
  const created = toUtcIso(doc.timestamp ?? '');
  if (created === null) {
    throw new AltlasError('ALT_SCHEMA', 'the document breaks its schema: /timestamp', {
      problems: [{ pointer: '/timestamp', message: 'must be an ISO 8601 date-time such as 2025-04-28T00:28:21.922739' }],
    });
  }
  const meta = doc.metadata ?? {};
  const mode = (doc.mode ?? 'Normal').toLowerCase() as Mode;
  if (doc.chaos_level != null && mode !== 'chaos') {
    warnings.push({ code: 'W_CHAOS_LEVEL', pointer: '/chaos_level', message: `chaos_level is set but mode is ${doc.mode}; it is kept but only chaos mode uses it` });
  }
  const e = doc as EnhancedFormDoc;
  return {
    id: doc.id!,
    source: { form: enhanced ? 'enhanced' : 'segmentation', version: doc.version },
    created_at: created,
    title: doc.command.trim() || doc.id!,
    description: null,
    mode,
    persona: doc.persona ?? null,
    priority: isPriority(meta.priority) ? meta.priority : 'medium',
    tags: isStringList(meta.tags) ? meta.tags : [],
    expected_completion_time: isUint(meta.expected_completion_time) ? meta.expected_completion_time : null,
    chaos_level: doc.chaos_level ?? null,
    language: doc.language ?? null,
    command: doc.command,
    metadata: meta,
    tasks: doc.segments.map((s, i) => segmentTask(s, i, warnings, enhanced)),
    global_variables: enhanced ? ((e.global_variables ?? []) as Record<string, unknown>[]) : [],
    functions: enhanced ? ((e.functions ?? []) as Record<string, unknown>[]) : [],
    budget: budgetOf(meta),
  };
}

/** A canonical job written back as a runner-form 1.0 document (decodes to the same job). */
export function toRunnerForm(job: Job): Record<string, unknown> {
  return {
    id: job.id,
    version: '1.0',
    created_at: job.created_at,
    title: job.title,
    description: job.description,
    mode: job.mode,
    persona: job.persona,
    priority: job.priority,
    tags: job.tags,
    expected_completion_time: job.expected_completion_time,
    chaos_level: job.chaos_level,
    language: job.language,
    command: job.command,
    metadata: job.metadata,
    tasks: job.tasks.map((t) => ({
      id: t.id,
      description: t.text,
      task_type: t.kind,
      dependencies: t.dependencies,
      parameters: t.parameters,
      timeout_seconds: t.timeout_seconds,
      retry_count: t.retry_count,
      status: t.status,
      priority: t.priority,
      tags: t.tags,
      metadata: t.metadata,
    })),
  };
}
