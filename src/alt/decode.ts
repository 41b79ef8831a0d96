/**
 * The decoder: bytes (and an optional content type or file name) to a canonical job with its
 * warnings, or a typed decode error. It never throws: every outcome is a {@link DecodeResult}.
 */
import { AltlasError, toAltlasError, type Problem } from '../errors.ts';
import type { EnhancedFormDoc } from './forms/enhanced.ts';
import type { RunnerFormDoc } from './forms/runner.ts';
import type { SegmentationFormDoc } from './forms/segmentation.ts';
import { checkControlFlow } from './control-flow.ts';
import { detectForm, versionOf } from './detect.ts';
import { checkGraph } from './graph.ts';
import type { AltForm, DecodeWarning, Job } from './job.ts';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from './limits.ts';
import { normalizeRunner, normalizeSegmentation } from './normalize.ts';
import { limitError, parsePayload, type Syntax } from './parse.ts';
import { compile, schemaFile } from './schema-check.ts';
import { jobWarnings } from './warnings.ts';
import { jobHeader, type JobHeader } from './header.ts';
import { applyOriginalDefaults } from './defaults.ts';
import { checkKinds } from './kinds.ts';
import { checkExtensions } from './extensions.ts';
import { compileProgram, hasConstructs } from './program/compile.ts';

export type DecodeResult =
  | { ok: true; job: Job; warnings: DecodeWarning[]; syntax: Syntax }
  /**
   * `header`: what a document that parsed but failed its checks says about itself (its failure `.last` keeps it).
   * `altId`: the job id read from the decrypted bytes of a sealed job (its bytes name none).
   */
  | { ok: false; error: AltlasError; header?: JobHeader; altId?: string | null };

export interface DecodeOptions {
  /** A content type (`application/json`, `application/yaml`) or a file name; else the syntax is sniffed. */
  hint?: string;
  /** Caps; unset ones take {@link DEFAULT_DECODE_LIMITS}. */
  limits?: Partial<DecodeLimits>;
}

/** Each form's schema, as generated into `schemas/` from its TypeBox definition (src/schema-files.ts). */
const validators = {
  runner: compile<RunnerFormDoc>(schemaFile('alt-runner-1.0.schema.json')),
  segmentation: compile<SegmentationFormDoc>(schemaFile('alt-segmentation-1.0.schema.json')),
  enhanced: compile<EnhancedFormDoc>(schemaFile('alt-enhanced-2.0.schema.json')),
};

function validateForm(form: AltForm, doc: Record<string, unknown>, limits: DecodeLimits): void {
  const list = form === 'runner' ? doc.tasks : doc.segments;
  if (Array.isArray(list) && list.length > limits.maxTasks) {
    throw limitError('tasks', list.length, limits.maxTasks, form === 'runner' ? '/tasks' : '/segments');
  }
  const check = validators[form];
  if (!check(doc)) {
    const problems = check.problems(doc);
    const first = problems[0];
    throw new AltlasError('ALT_SCHEMA', `the document breaks the ${form} form schema: ${first ? `${first.pointer || '/'} ${first.message}` : ''}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, {
      problems,
      context: { form },
    });
  }
}

function decodeValue(value: unknown, limits: DecodeLimits): { job: Job; warnings: DecodeWarning[] } {
  const form = detectForm(value);
  let doc = value as Record<string, unknown>;
  const version = versionOf(doc.version);
  if (typeof doc.version === 'number' && version !== undefined) doc = { ...doc, version };
  const warnings: DecodeWarning[] = [];
  if (form !== 'runner') doc = applyOriginalDefaults(doc, warnings);
  validateForm(form, doc, limits);

  const job = form === 'runner'
    ? normalizeRunner(doc as unknown as RunnerFormDoc, warnings)
    : normalizeSegmentation(doc as unknown as SegmentationFormDoc | EnhancedFormDoc, warnings);
  const listKey = form === 'runner' ? 'tasks' : 'segments';
  const graphError = checkGraph(job.tasks, listKey, limits.maxDependencyDepth);
  if (graphError) throw graphError;
  if (form === 'enhanced') {
    const flowError = checkControlFlow(doc as unknown as EnhancedFormDoc);
    if (flowError) throw flowError;
  }
  const forbidden = checkKinds(job);
  if (forbidden) throw forbidden;
  // Our extensions: fallback chains (ALT_FALLBACK), approval tasks (ALT_APPROVAL).
  const extension = checkExtensions(job);
  if (extension) throw extension;
  // The structure of 2.0 programs (members, references, cycles): the worker compiles the same way.
  // A job without constructs compiles to one block of AI tasks, with nothing to check or warn
  // about: the engine compiles it when it runs (caching a program per job costs the decoder more
  // than the rest of its checks).
  if (!hasConstructs(job)) {
    warnings.push(...jobWarnings(job, listKey));
    return { job, warnings };
  }
  const program = compileProgram(job);
  // Body members and control segments are tied to their construct: never isolated.
  const top = new Set(program.top.members);
  const linked = new Set(program.nodes.filter((n) => n.kind !== 'ai' || !top.has(n.index)).map((n) => n.id));
  warnings.push(...jobWarnings(job, listKey, linked), ...program.warnings);
  return { job, warnings };
}

/** An error with at most `max` problems; `context.problems_omitted` says how many more there were. */
export function capped(error: AltlasError, max: number): AltlasError {
  if (error.problems.length <= max) return error;
  const omitted = error.problems.length - max + Number(error.context.problems_omitted ?? 0);
  return new AltlasError(error.code, error.message, { cause: error.cause, problems: error.problems.slice(0, max), context: { ...error.context, problems_omitted: omitted } });
}

/** Decodes one `.alt` payload. Never throws; a failure is `{ ok: false, error }` with a stable code. */
export function decodeAlt(input: Uint8Array | string, options: DecodeOptions = {}): DecodeResult {
  const limits = options.limits ? { ...DEFAULT_DECODE_LIMITS, ...options.limits } : DEFAULT_DECODE_LIMITS;
  let parsed: unknown;
  try {
    const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
    const { value, syntax } = parsePayload(bytes, limits, options.hint);
    parsed = value;
    const { job, warnings } = decodeValue(value, limits);
    return { ok: true, job, warnings, syntax };
  } catch (e) {
    const error = capped(toAltlasError(e), limits.maxProblems);
    const header = parsed === undefined ? null : jobHeader(parsed);
    return header ? { ok: false, error, header } : { ok: false, error };
  }
}
