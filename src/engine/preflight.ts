/** Checks made before a job starts: constructs this runner does not execute, and forbidden task kinds. */
import { AltlasError } from '../errors.ts';
import type { Job } from '../alt/job.ts';

/** Task kinds that would act on the worker's host: a message on a bus must never run commands or touch files. */
export const FORBIDDEN_KINDS: readonly string[] = ['file_operation', 'system_command'];

/**
 * Returns why the job cannot run at all, or null. 2.0 control flow (condition, loop,
 * function_def, function_call, variables, file-level functions and global variables) is not
 * executed by this runner: such a job fails with ALT_UNSUPPORTED_FEATURE naming the constructs.
 */
export function preflight(job: Job): AltlasError | null {
  const forbidden = job.tasks.flatMap((t, i) => (t.kind && FORBIDDEN_KINDS.includes(t.kind.toLowerCase()) ? [{ t, i }] : []));
  if (forbidden.length) {
    return new AltlasError('TASK_KIND_FORBIDDEN', `task kind ${forbidden[0].t.kind} is not allowed (task ${forbidden[0].t.id}): the runner never acts on its host`, {
      problems: forbidden.map(({ t, i }) => ({ pointer: `/tasks/${i}`, message: `task ${t.id} has the forbidden kind ${t.kind}` })),
      context: { altId: job.id, taskId: forbidden[0].t.id },
    });
  }
  const constructs = new Set<string>();
  const problems = job.tasks.flatMap((t, i) => {
    const used = Object.keys(t.control ?? {});
    used.forEach((c) => constructs.add(c));
    return used.length ? [{ pointer: `/segments/${i}`, message: `task ${t.id} uses ${used.join(', ')}` }] : [];
  });
  if (job.functions.length) {
    constructs.add('functions');
    problems.push({ pointer: '/functions', message: 'the file defines functions' });
  }
  if (job.global_variables.length) {
    constructs.add('global_variables');
    problems.push({ pointer: '/global_variables', message: 'the file defines global variables' });
  }
  if (constructs.size) {
    return new AltlasError('ALT_UNSUPPORTED_FEATURE', `this runner does not execute 2.0 control flow: ${[...constructs].join(', ')}`, {
      problems,
      context: { altId: job.id, constructs: [...constructs] },
    });
  }
  return null;
}
