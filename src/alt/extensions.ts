/**
 * Our extensions of the `.alt`, checked by the decoder (pure):
 *
 * - fallback chains: a task's `parameters.fallback`, an ordered list of provider/model pairs, each a
 *   string `"model"` / `"endpoint/model"` or an object `{provider?, model}`, at most 8 (ALT_FALLBACK);
 * - approval tasks: a task of kind `approval` (wherever a kind is given), with
 *   `approval_timeout_s` (seconds) and `on_timeout` (approve, reject, fail) (ALT_APPROVAL).
 */
import { AltlasError, type Problem } from '../errors.ts';
import type { Job, JobTask } from './job.ts';

/** Most pairs one chain may list after the task's own model. */
export const MAX_FALLBACK_PAIRS = 8;

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): v is string => typeof v === 'string' && v.trim() === v && v.length > 0 && v.length <= 256 && !/\s/.test(v);

/** The problems of a `parameters.fallback` value (empty: it is a valid chain). */
export function fallbackProblems(value: unknown, pointer: string): Problem[] {
  if (!Array.isArray(value)) return [{ pointer, message: 'fallback must be a list of "provider/model" strings or {provider?, model} objects' }];
  const problems: Problem[] = [];
  if (value.length === 0) problems.push({ pointer, message: 'fallback lists no model' });
  if (value.length > MAX_FALLBACK_PAIRS) problems.push({ pointer, message: `fallback lists ${value.length} models, at most ${MAX_FALLBACK_PAIRS}` });
  value.forEach((p, i) => {
    const at = `${pointer}/${i}`;
    if (typeof p === 'string') {
      if (!text(p) || p.startsWith('/') || p.endsWith('/')) problems.push({ pointer: at, message: 'a fallback string must be "model" or "provider/model" without white space' });
    } else if (isObject(p)) {
      const extra = Object.keys(p).filter((k) => k !== 'model' && k !== 'provider');
      if (extra.length) problems.push({ pointer: at, message: `a fallback pair has only provider and model, not ${extra.join(', ')}` });
      if (!text(p.model)) problems.push({ pointer: `${at}/model`, message: 'model must be a non-empty string without white space' });
      if (p.provider !== undefined && (typeof p.provider !== 'string' || !NAME.test(p.provider))) problems.push({ pointer: `${at}/provider`, message: 'provider must be an endpoint name (letters, digits, _ and -)' });
    } else problems.push({ pointer: at, message: 'a fallback pair is a "provider/model" string or a {provider?, model} object' });
  });
  return problems;
}

/** ALT_FALLBACK naming every task whose `parameters.fallback` is not a valid chain, or null. */
export function checkFallback(job: Job): AltlasError | null {
  const listKey = job.source.form === 'runner' ? 'tasks' : 'segments';
  const problems: Problem[] = [];
  let first: string | null = null;
  job.tasks.forEach((t, i) => {
    if (t.parameters.fallback === undefined) return;
    const found = fallbackProblems(t.parameters.fallback, `/${listKey}/${i}/parameters/fallback`);
    if (found.length) first ??= t.id;
    problems.push(...found);
  });
  if (first === null) return null;
  return new AltlasError('ALT_FALLBACK', `task ${first} has an invalid parameters.fallback: ${problems[0].message}`, { problems, context: { altId: job.id, taskId: first } });
}

export const APPROVAL_KIND = 'approval';
export const ON_TIMEOUT = ['approve', 'reject', 'fail'] as const;
export type OnTimeout = (typeof ON_TIMEOUT)[number];

const isApprovalKind = (k: unknown) => typeof k === 'string' && k.trim().toLowerCase() === APPROVAL_KIND;

/** True for a task of kind approval, wherever the kind is given. */
export function isApprovalTask(task: JobTask): boolean {
  return isApprovalKind(task.kind) || isApprovalKind(task.parameters.task_type);
}

/** The question, timeout and timeout action of an approval task (checked by the decoder). */
export function approvalSpec(task: JobTask): { question: string; timeoutS: number | null; onTimeout: OnTimeout } {
  const t = task.parameters.approval_timeout_s;
  const on = task.parameters.on_timeout;
  return {
    question: typeof task.parameters.prompt === 'string' && task.parameters.prompt.trim() ? task.parameters.prompt : task.text,
    timeoutS: typeof t === 'number' && t > 0 ? t : null,
    onTimeout: (ON_TIMEOUT as readonly unknown[]).includes(on) ? (on as OnTimeout) : 'fail',
  };
}

/** ALT_APPROVAL naming every approval task whose timeout or timeout action is not valid, or null. */
export function checkApprovals(job: Job): AltlasError | null {
  const listKey = job.source.form === 'runner' ? 'tasks' : 'segments';
  const problems: Problem[] = [];
  let first: string | null = null;
  job.tasks.forEach((t, i) => {
    if (!isApprovalTask(t)) return;
    const at = `/${listKey}/${i}/parameters`;
    const before = problems.length;
    const timeout = t.parameters.approval_timeout_s;
    if (timeout !== undefined && !(typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0)) problems.push({ pointer: `${at}/approval_timeout_s`, message: 'approval_timeout_s must be a positive number of seconds' });
    const on = t.parameters.on_timeout;
    if (on !== undefined && !(ON_TIMEOUT as readonly unknown[]).includes(on)) problems.push({ pointer: `${at}/on_timeout`, message: `on_timeout must be one of ${ON_TIMEOUT.join(', ')}` });
    if (on !== undefined && timeout === undefined) problems.push({ pointer: `${at}/on_timeout`, message: 'on_timeout needs approval_timeout_s' });
    if (problems.length > before) first ??= t.id;
  });
  if (first === null) return null;
  return new AltlasError('ALT_APPROVAL', `approval task ${first}: ${problems[0].message}`, { problems, context: { altId: job.id, taskId: first } });
}

/** The first error of our extensions' checks, or null. */
export function checkExtensions(job: Job): AltlasError | null {
  return checkFallback(job) ?? checkApprovals(job);
}
