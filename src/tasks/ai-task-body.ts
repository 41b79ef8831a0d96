/** The task body of an AI task: prompt, model and parameters from the task, one call through the client. */
import type { TaskBody, TaskOutput } from '../engine/types.ts';
import type { RunContext } from '../messaging/run-context.ts';
import { costNanos, fromNanos, priceOf, type PriceTable } from '../usage/prices.ts';
import type { ProgressPublisher } from '../progress/publisher.ts';
import { callProgress } from '../progress/task-progress.ts';
import { logProgressTrouble } from '../progress/trouble.ts';
import type { AiAnswer, AttemptInfo, CallOptions } from '../ai/client.ts';
import type { ChainRequest } from '../ai/fallback-client.ts';
import { buildPrompt, generationParameters, modelOf } from '../ai/prompt.ts';

export interface AiTaskOptions {
  /** Model when the task does not name one (AI_MODEL). */
  defaultModel: string;
  /** The price table (AI_PRICES); absent: every cost is unknown. */
  prices?: PriceTable | null;
  /**
   * max_tokens for a call whose task sets none, when a budget applies to its job or tenant (so that
   * its worst case is known); null: the provider's own limit.
   */
  capOutput?: (jobId: string, tenant: string | null) => number | null;
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
 * answered; the model that answered is model_used) and `cost` (in the price table's currency,
 * at the price of the model that answered; null when unpriced or the tokens are unknown), and,
 * when the call ran a fallback chain, `fallback` (the pair that answered and every pair tried). With
 * progress, every chunk of every attempt goes to the progress stream, and the task ends only once
 * they are stored (or the drain time passed), so a job's `.last` never precedes its progress.
 */
export function aiTaskBody(client: { complete(request: ChainRequest, options: CallOptions): Promise<AiAnswer> }, options: AiTaskOptions): TaskBody<RunContext> {
  const prices = options.prices ?? null;
  return async (task, ctx) => {
    const run = ctx.context ?? null;
    const progress = options.progress ? callProgress(options.progress.publisher, {
      job: ctx.job.id, alt_seq: run?.delivery?.seq ?? null, deliveries: run?.delivery?.deliveries ?? null, task: ctx.key, task_attempt: ctx.attempt,
    }, ctx.signal, run ? (t) => logProgressTrouble(run.log, t) : undefined) : null;
    const onAttempt = run || progress ? (info: AttemptInfo) => {
      progress?.onAttempt(info);
      if (run && info.outcome === 'transient') run.log.warn('AI attempt failed; it may be retried', { task_id: ctx.key, attempt: info.attempt, status: info.status ?? undefined, error: info.error, model: info.model });
    } : undefined;
    const tenant = run?.tenant ?? null;
    const parameters = generationParameters(task);
    if (parameters.max_tokens === undefined) {
      const cap = options.capOutput?.(ctx.job.id, tenant) ?? null;
      if (cap !== null) parameters.max_tokens = cap;
    }
    const call = () => client.complete({
      prompt: buildPrompt(task, ctx.job, ctx.dependencyOutputs),
      model: modelOf(task, options.defaultModel),
      parameters,
      ...(task.parameters.fallback === undefined ? {} : { fallback: task.parameters.fallback }),
      origin: { jobId: ctx.job.id, tenant, priority: task.priority ?? ctx.job.priority, taskKey: ctx.key, taskAttempt: ctx.attempt },
    }, { signal: ctx.signal, onAttempt, onChunk: progress?.onChunk, guard: run?.guard });
    let running: Promise<AiAnswer>;
    try {
      running = run?.taskTrace ? run.taskTrace.within(ctx.key, call) : call();
    } catch (e) {
      running = Promise.reject(e);
    }
    // Returned as a promise chain, not awaited: this frame ends rather than staying suspended for the whole call.
    const answered = progress ? running.finally(() => progress.settle(options.progress!.drainMs)) : running;
    return answered.then((answer): TaskOutput => {
      const cost = costNanos(priceOf(prices, answer.model), answer.usage);
      return {
        text: answer.text, model_used: answer.model, tokens_used: answer.tokens ?? 0, processing_time_ms: answer.providerMs ?? 0,
        usage: answer.usage, cost: cost === null ? null : fromNanos(cost),
        ...(answer.fallback ? { fallback: answer.fallback } : {}),
      };
    });
  };
}
