/** The task body of an AI task: prompt, model and parameters from the task, one call through the client. */
import type { TaskBody, TaskOutput } from '../engine/types.ts';
import { isRunContext } from '../messaging/run-context.ts';
import type { ProgressPublisher } from '../progress/publisher.ts';
import { callProgress } from '../progress/task-progress.ts';
import { logProgressTrouble } from '../progress/trouble.ts';
import type { AiClient, AttemptInfo } from './client.ts';
import { buildPrompt, generationParameters, modelOf } from './prompt.ts';

export interface AiTaskOptions {
  /** Model when the task does not name one (AI_MODEL). */
  defaultModel: string;
  /**
   * Where the answers go as they arrive (the progress stream), and how long a task waits after
   * its call for them to be stored (PROGRESS_DRAIN_MS); absent: no progress.
   */
  progress?: { publisher: ProgressPublisher; drainMs: number } | null;
}

/**
 * Every AI task is one call; forbidden kinds were refused when the job was decoded. The output
 * is the original's `{text, model_used, tokens_used, processing_time_ms}` followed by ours:
 * `usage` (the call's tokens by kind as reported, null where unknown, and the HTTP attempt that
 * answered; the model that answered is model_used). With progress, every chunk of every attempt
 * goes to the progress stream, and the task ends only once they are stored (or the drain time
 * passed), so a job's `.last` never precedes its progress.
 */
export function aiTaskBody(client: Pick<AiClient, 'complete'>, options: AiTaskOptions): TaskBody {
  return async (task, ctx) => {
    const run = isRunContext(ctx.context) ? ctx.context : null;
    const progress = options.progress ? callProgress(options.progress.publisher, {
      job: ctx.job.id, alt_seq: run?.delivery?.seq ?? null, deliveries: run?.delivery?.deliveries ?? null, task: ctx.key, task_attempt: ctx.attempt,
    }, ctx.signal, run ? (t) => logProgressTrouble(run.log, t) : undefined) : null;
    const onAttempt = run || progress ? (info: AttemptInfo) => {
      progress?.onAttempt(info);
      if (run && info.outcome === 'transient') run.log.warn('AI attempt failed; it may be retried', { task_id: ctx.key, attempt: info.attempt, status: info.status ?? undefined, error: info.error, model: info.model });
    } : undefined;
    const call = () => client.complete({
      prompt: buildPrompt(task, ctx.job, ctx.dependencyOutputs),
      model: modelOf(task, options.defaultModel),
      parameters: generationParameters(task),
      origin: { jobId: ctx.job.id, priority: task.priority ?? ctx.job.priority, taskKey: ctx.key, taskAttempt: ctx.attempt },
    }, { signal: ctx.signal, onAttempt, onChunk: progress?.onChunk });
    let answer;
    try {
      answer = run?.spans ? await run.spans.within(ctx.key, call) : await call();
    } finally {
      if (progress) await progress.settle(options.progress!.drainMs);
    }
    const output: TaskOutput = { text: answer.text, model_used: answer.model, tokens_used: answer.tokens ?? 0, processing_time_ms: answer.providerMs ?? 0, usage: answer.usage };
    return output;
  };
}
