/** The task body of an AI task: prompt, model and parameters from the task, one call through the client. */
import type { TaskBody } from '../engine/types.ts';
import type { AiClient } from './client.ts';
import { buildPrompt, generationParameters, modelOf } from './prompt.ts';

export interface AiTaskOptions {
  /** Model when the task does not name one (AI_MODEL). */
  defaultModel: string;
}

/** Every task is an AI call; forbidden kinds were refused before the job started (see preflight). */
export function aiTaskBody(client: Pick<AiClient, 'complete'>, options: AiTaskOptions): TaskBody {
  return async (task, ctx) => {
    const answer = await client.complete({
      prompt: buildPrompt(task, ctx.job, ctx.dependencyOutputs),
      model: modelOf(task, options.defaultModel),
      parameters: generationParameters(task),
    }, ctx.signal);
    return { text: answer.text, model_used: answer.model, tokens_used: answer.tokens, processing_time_ms: answer.providerMs ?? 0 };
  };
}
