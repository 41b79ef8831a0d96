/**
 * Builds the prompt of a task. The template (documented in the README):
 *
 *   system: "You are <persona>. Mode: <mode>[, chaos level <n>]. [Answer in <language>.] [Task kind: <kind>.]"
 *   user:   ["Context from earlier tasks:\n[<id>]\n<output text>\n\n"...] + "Task:\n<prompt>"
 *
 * The prompt is `parameters.prompt`, else the task's text; `parameters.persona` and
 * `parameters.mode` override the job's.
 */
import type { Job, JobTask } from '../alt/job.ts';
import type { TaskOutput } from '../engine/types.ts';

export interface Prompt {
  system: string;
  user: string;
}

/** Generation parameters passed to the provider when a task sets them. */
export const GENERATION_PARAMETERS = [
  'max_tokens', 'temperature', 'top_p', 'top_k', 'stop', 'seed', 'presence_penalty', 'frequency_penalty', 'repeat_penalty',
] as const;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v : undefined);

export function buildPrompt(task: JobTask, job: Job, dependencyOutputs: ReadonlyMap<string, TaskOutput>): Prompt {
  const p = task.parameters;
  const persona = str(p.persona) ?? job.persona ?? 'technical_expert';
  const mode = str(p.mode)?.toLowerCase() ?? job.mode;
  const parts = [`You are ${persona}.`, `Mode: ${mode}${mode === 'chaos' && job.chaos_level !== null ? `, chaos level ${job.chaos_level}` : ''}.`];
  if (job.language) parts.push(`Answer in ${job.language}.`);
  if (task.kind) parts.push(`Task kind: ${task.kind}.`);
  const context = [...dependencyOutputs].map(([id, out]) => `[${id}]\n${out.text}`);
  const prompt = str(p.prompt) ?? task.text;
  const user = `${context.length ? `Context from earlier tasks:\n${context.join('\n\n')}\n\n` : ''}Task:\n${prompt}`;
  return { system: parts.join(' '), user };
}

/** The generation parameters a task sets (only the known names). */
export function generationParameters(task: JobTask): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of GENERATION_PARAMETERS) if (task.parameters[k] !== undefined) out[k] = task.parameters[k];
  return out;
}

/** The model of a task: `parameters.model`, else the configured default. */
export function modelOf(task: JobTask, fallback: string): string {
  return str(task.parameters.model) ?? fallback;
}
