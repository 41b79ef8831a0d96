/**
 * Replay from a task (pure): which top-level tasks or constructs run again — the one that holds
 * the task (2.0: its construct or call at the top level) and everything downstream of it — and
 * which recorded results of the finished run are kept; and `--set` applied to the document.
 */
import type { Job } from '../alt/job.ts';
import type { TaskResult } from '../engine/types.ts';
import { AltlasError } from '../errors.ts';
import type { Last } from '../last/index.ts';
import { compileProgram } from '../alt/program/compile.ts';

/** The top-level id of an instance key: `loop[3]/seg` → `loop`, `call/seg` → `call`, `a` → `a`. */
export const topOf = (key: string): string => key.split('/')[0].replace(/\[\d+\]$/, '');

/** The segment ids that run again when replaying from `from` (a task id, segment id or instance key): top-level ones and their constructs' members. Throws REPLAY_INVALID. */
export function rerunSet(job: Job, from: string): Set<string> {
  const program = compileProgram(job);
  const segment = from.split('/').pop()!.replace(/\[\d+\]$/, '');
  const node = program.nodes.find((n) => n.id === segment);
  if (!node) throw new AltlasError('REPLAY_INVALID', `job ${job.id} has no task ${from}`, { context: { altId: job.id, taskId: from } });
  const top = new Set(program.top.members);
  let at = node;
  while (!top.has(at.index) && at.owner !== null) at = program.nodes[at.owner];
  // A segment of a function body: every top-level member runs again (a call of it may be anywhere).
  const out = new Set(top.has(at.index) ? [at.index] : program.top.members);
  for (let grew = true; grew;) {
    grew = false;
    for (const i of program.top.members) {
      if (!out.has(i) && program.nodes[i].deps.some((d) => out.has(d))) {
        out.add(i);
        grew = true;
      }
    }
  }
  // The members of the constructs that run again (condition branches, loop and call bodies) run with them.
  const inside = (n: (typeof program.nodes)[number]): boolean => out.has(n.index) || (n.owner !== null && inside(program.nodes[n.owner]));
  return new Set(program.nodes.filter(inside).map((n) => n.id));
}

/** A `.last`'s task result as the engine's resume takes it. */
export function resultOf(r: Last['task_results'][string]): TaskResult {
  const m = r.metadata as Record<string, unknown>;
  return {
    task_id: r.task_id, status: r.status, start_time: r.start_time, end_time: r.end_time, duration_ms: r.duration_ms,
    output: r.output, error: r.error, error_code: (m.error_code as TaskResult['error_code']) ?? null, attempts: typeof m.attempts === 'number' ? m.attempts : 1,
    metadata: Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'attempts' && k !== 'error_code' && k !== 'resumed')),
  };
}

/** The completed results of a finished run that a replay from `from` keeps (every instance outside the rerun set). */
export function keptResults(job: Job, last: Last, from: string): TaskResult[] {
  const again = rerunSet(job, from);
  return Object.values(last.task_results).filter((r) => r.status === 'completed' && r.output && !again.has(topOf(r.task_id))).map(resultOf);
}

/** Reads `--set key=value`: the value as JSON when it parses, else the text. */
export function parseSet(text: string): { path: string; value: unknown } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new AltlasError('REPLAY_INVALID', `--set takes key=value, not ${JSON.stringify(text)}`);
  const raw = text.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // a text
  }
  return { path: text.slice(0, eq), value };
}

/**
 * Applies one `--set` to a parsed `.alt` document: `<task>.<parameter>=value` sets a parameter of a
 * task (a segment's in the list forms, by name in 2.0's parameter lists); `<name>=value` sets a
 * 2.0 global variable's value. Throws REPLAY_TASK naming what it does not find.
 */
export function applySet(doc: Record<string, unknown>, set: { path: string; value: unknown }): void {
  const dot = set.path.indexOf('.');
  const fail = (what: string) => new AltlasError('REPLAY_INVALID', `--set ${set.path}: ${what}`);
  if (dot < 0) {
    const vars = Array.isArray(doc.global_variables) ? (doc.global_variables as Record<string, unknown>[]) : null;
    const v = vars?.find((x) => x.name === set.path);
    if (!v) throw fail('no global variable of that name (a task parameter is <task>.<parameter>)');
    v.value = set.value;
    return;
  }
  const [taskId, param] = [set.path.slice(0, dot), set.path.slice(dot + 1)];
  const list = (Array.isArray(doc.tasks) ? doc.tasks : Array.isArray(doc.segments) ? doc.segments : []) as Record<string, unknown>[];
  const task = list.find((t) => t.id === taskId);
  if (!task) throw fail(`no task ${taskId}`);
  if (param === 'description' || param === 'content') {
    task[param] = set.value;
    return;
  }
  if (Array.isArray(task.parameters)) {
    const list2 = task.parameters as Record<string, unknown>[];
    const p = list2.find((x) => x.name === param);
    if (p) p.value = set.value;
    else list2.push({ name: param, value: set.value, type: typeof set.value === 'number' ? 'number' : typeof set.value === 'boolean' ? 'boolean' : 'string', required: false, description: 'set by altlas replay' });
  } else task.parameters = { ...(task.parameters as Record<string, unknown> | undefined), [param]: set.value };
}
