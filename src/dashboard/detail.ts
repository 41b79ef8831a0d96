/**
 * One job in detail for the dashboard, from what is stored (no status entry needed): its `.alt`
 * as received (kept by RUNNER_KEEP_ALT in the object store), its `.last`, and per task the prompt
 * the runner built (rebuilt from the kept `.alt` and the outputs of the tasks it depends on) and
 * the full output (an artifact is fetched when the task is opened). Bodies leave through the
 * route table's shaper, under the data policy.
 */
import { HEADERS, subjectToken } from '../contract/subjects.ts';
import { decodeAlt } from '../alt/decode.ts';
import type { Job } from '../alt/job.ts';
import { buildPrompt, type Prompt } from '../ai/prompt.ts';
import type { TaskOutput } from '../engine/types.ts';
import { parseArtifactUrl } from '../last/artifacts.ts';
import { readLast } from '../last/read.ts';
import type { Last } from '../last/schema.ts';
import { keptAltObject } from '../replay/seed.ts';
import { isSealed } from '../security/codec.ts';
import { readObject } from '../status/store-access.ts';
import { parse as parseYaml } from 'yaml';
import type { DashboardData } from './data.ts';

/** Characters of one output or `.alt` the page gets at most (the rest is cut, and said so). */
export const MAX_DETAIL_CHARS = 1_000_000;

const cut = (text: string) => (text.length > MAX_DETAIL_CHARS ? { text: text.slice(0, MAX_DETAIL_CHARS), truncated: true, chars: text.length } : { text, truncated: false, chars: text.length });

/** The newest `.last` of a job, or null. */
export async function newestLast(d: DashboardData, id: string): Promise<{ last: Last; seq: number; altSeq: string | null } | null> {
  const m = await d.dlq.jsm.streams.getMessage(d.config.LAST_STREAM, { last_by_subj: `${d.config.LAST_SUBJECT_PREFIX}.${subjectToken(id)}` }).catch(() => null);
  if (!m) return null;
  try {
    return { last: readLast(m.data, d.codec), seq: m.seq, altSeq: m.header?.get(HEADERS.altStreamSeq) || null };
  } catch {
    return null;
  }
}

/** The job's kept `.alt` bytes (opened when sealed), or null when none is kept. */
export async function keptAltBytes(d: DashboardData, id: string): Promise<Uint8Array | null> {
  // Job bodies are kept in RUNNER_BODY_BUCKET (the operator's and the runner's alone); earlier versions kept them among the artifacts.
  const blob = await readObject(d.dlq.jsm, d.config.RUNNER_BODY_BUCKET, keptAltObject(id)).catch(() => null)
    ?? await readObject(d.dlq.jsm, d.config.RUNNER_OBJECT_BUCKET, keptAltObject(id)).catch(() => null);
  if (!blob) return null;
  return isSealed(blob) ? d.codec.open(blob, 'alt') : blob;
}

/** The `.alt` as received: parsed (JSON or YAML) so that the shaper masks secret keys, else its text. */
export async function keptAlt(d: DashboardData, id: string): Promise<{ alt_id: string; kept: boolean; document?: unknown; text?: string }> {
  const bytes = await keptAltBytes(d, id);
  if (!bytes) return { alt_id: id, kept: false };
  const text = new TextDecoder().decode(bytes);
  try {
    return { alt_id: id, kept: true, document: text.trimStart().startsWith('{') ? JSON.parse(text) : parseYaml(text) };
  } catch {
    return { alt_id: id, kept: true, text: cut(text).text };
  }
}

/** A task's full output: its artifact when the `.last` holds a preview, else the `.last`'s text. */
async function fullOutput(d: DashboardData, last: Last, taskId: string): Promise<{ text: string; artifact: string | null } | null> {
  const out = last.task_results[taskId]?.output;
  if (!out) return null;
  const artifact = (last.artifacts ?? []).find((a) => a.task_id === taskId)?.path ?? null;
  const loc = artifact ? parseArtifactUrl(artifact) : null;
  if (loc?.kind === 'obj') {
    const blob = await readObject(d.dlq.jsm, loc.bucket, loc.name).catch(() => null);
    if (blob) return { text: new TextDecoder().decode(isSealed(blob) ? d.codec.open(blob, `obj:${loc.name}`) : blob), artifact };
  }
  return { text: out.text, artifact };
}

/** The prompt of a task of a 1.0-style graph, rebuilt from the job and its dependencies' outputs; null when the task is not one of the job's (a 2.0 instance). */
function promptOf(job: Job, last: Last, taskId: string, outputs: Map<string, string>): Prompt | null {
  const task = job.tasks.find((t) => t.id === taskId);
  if (!task) return null;
  const deps = new Map<string, TaskOutput>();
  for (const dep of task.dependencies) {
    const r = last.task_results[dep];
    if (r?.output) deps.set(dep, { ...r.output, text: outputs.get(dep) ?? r.output.text } as TaskOutput);
  }
  return buildPrompt(task, job, deps);
}

export interface TaskDetail {
  alt_id: string;
  task_id: string;
  status: string;
  error: string | null;
  attempts: unknown;
  prompt: Prompt | null;
  /** Why there is no prompt. */
  prompt_note: string | null;
  output: { text: string; truncated: boolean; chars: number } | null;
  artifact: string | null;
}

/** One task of a finished job: its prompt and its full output. */
export async function taskDetail(d: DashboardData, id: string, taskId: string): Promise<TaskDetail | null> {
  const found = await newestLast(d, id);
  const r = found?.last.task_results[taskId];
  if (!found || !r) return null;
  const last = found.last;
  const output = await fullOutput(d, last, taskId);
  const bytes = await keptAltBytes(d, id);
  let prompt: Prompt | null = null;
  let note: string | null = null;
  if (!bytes) note = 'the .alt is not kept (RUNNER_KEEP_ALT=false, or older than RUNNER_OBJECT_TTL_MS): the prompt cannot be rebuilt';
  else {
    const decoded = decodeAlt(bytes);
    if (!decoded.ok) note = `the kept .alt does not decode (${decoded.error.code})`;
    else {
      const job = decoded.job;
      const outputs = new Map<string, string>();
      for (const dep of job.tasks.find((t) => t.id === taskId)?.dependencies ?? []) {
        const o = await fullOutput(d, last, dep);
        if (o) outputs.set(dep, o.text);
      }
      prompt = promptOf(job, last, taskId, outputs);
      if (!prompt) note = 'a task of a 2.0 program (an instance): its prompt is not rebuilt here';
    }
  }
  return {
    alt_id: id, task_id: taskId, status: r.status, error: r.error, attempts: r.metadata?.attempts ?? null,
    prompt, prompt_note: note, output: output ? cut(output.text) : null, artifact: output?.artifact ?? null,
  };
}
