/** The original runner's warnings, computed on the canonical job: findings, never errors. */
import type { DecodeWarning, Job } from './job.ts';

/** Seconds above which a task timeout is suspicious (the original's bound). */
export const MAX_SENSIBLE_TIMEOUT_S = 7200;
export const MAX_SENSIBLE_RETRIES = 20;

const NONE: ReadonlySet<string> = new Set();

/**
 * Warnings of a job; `listKey` is `tasks` or `segments` (for the pointers). `linked`: tasks a 2.0
 * construct ties to others (body members, constructs, variable segments), never isolated.
 */
export function jobWarnings(job: Job, listKey: string, linked: ReadonlySet<string> = NONE): DecodeWarning[] {
  const out: DecodeWarning[] = [];
  if (job.tasks.length === 0) out.push({ code: 'W_NO_TASKS', pointer: `/${listKey}`, message: 'the job has no tasks' });
  if (job.expected_completion_time === 0) {
    out.push({ code: 'W_EXPECTED_TIME_ZERO', pointer: '/expected_completion_time', message: 'expected_completion_time is 0' });
  }
  const hasDependents = new Set<string>();
  for (const t of job.tasks) for (const d of t.dependencies) hasDependents.add(d);
  // A job whose tasks depend on nothing runs them side by side (the segmentation service's usual
  // output): no task stands out as isolated. Only among tasks linked by dependencies does one.
  const graph = hasDependents.size > 0;
  for (let i = 0; i < job.tasks.length; i++) {
    const t = job.tasks[i];
    if (t.timeout_seconds !== null && (t.timeout_seconds === 0 || t.timeout_seconds > MAX_SENSIBLE_TIMEOUT_S)) {
      out.push({ code: 'W_TIMEOUT_RANGE', pointer: `/${listKey}/${i}/timeout_seconds`, message: `task ${t.id} has timeout_seconds ${t.timeout_seconds} (expected 1..${MAX_SENSIBLE_TIMEOUT_S})` });
    }
    if (t.retry_count !== null && t.retry_count > MAX_SENSIBLE_RETRIES) {
      out.push({ code: 'W_RETRY_COUNT', pointer: `/${listKey}/${i}/retry_count`, message: `task ${t.id} has retry_count ${t.retry_count} (more than ${MAX_SENSIBLE_RETRIES})` });
    }
    if (graph && t.dependencies.length === 0 && !hasDependents.has(t.id) && !linked.has(t.id)) {
      out.push({ code: 'W_ISOLATED_TASK', pointer: `/${listKey}/${i}`, message: `task ${t.id} neither depends on nor is needed by another task` });
    }
  }
  return out;
}
