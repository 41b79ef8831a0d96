/**
 * Task kinds: normalised before they are compared (Unicode NFKC, format characters such as the
 * zero-width space removed, white space and dashes folded to `_`, lower case), and the kinds
 * that would act on the worker host refused wherever a kind can be given (`task_type`, and
 * `parameters.task_type` in every form).
 */
import { AltlasError, type Problem } from '../errors.ts';
import type { Job } from './job.ts';

/** Kinds that would act on the worker's host: a message on a bus must never run commands or touch files. */
export const FORBIDDEN_KINDS: readonly string[] = ['file_operation', 'system_command'];

/** The comparable form of a kind: `" System-Command\u200b\n"` → `system_command`. */
export function normalizeKind(kind: string): string {
  return kind.normalize('NFKC').replace(/[\p{Cf}\p{Cc}]/gu, '').toLowerCase().trim().replace(/[\s\-]+/g, '_').replace(/^_+|_+$/g, '');
}

/** Returns TASK_KIND_FORBIDDEN naming every task that asks for a forbidden kind, or null. */
export function checkKinds(job: Job): AltlasError | null {
  const listKey = job.source.form === 'runner' ? 'tasks' : 'segments';
  const problems: Problem[] = [];
  let first: { id: string; kind: string } | null = null;
  job.tasks.forEach((t, i) => {
    const given = [t.kind, t.parameters.task_type].filter((k): k is string => typeof k === 'string');
    for (const k of given) {
      const n = normalizeKind(k);
      if (!FORBIDDEN_KINDS.includes(n)) continue;
      first ??= { id: t.id, kind: n };
      problems.push({ pointer: `/${listKey}/${i}`, message: `task ${t.id} has the forbidden kind ${n}` });
      break;
    }
  });
  if (!first) return null;
  const f = first as { id: string; kind: string };
  return new AltlasError('TASK_KIND_FORBIDDEN', `task kind ${f.kind} is not allowed (task ${f.id}): the runner never acts on its host`, {
    problems, context: { altId: job.id, taskId: f.id },
  });
}
