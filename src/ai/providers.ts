/**
 * The two AI providers: the ALT_LAS AI orchestrator (formats.md §5) and any OpenAI-compatible
 * chat completions server. A provider only shapes requests and reads answers; HTTP and the
 * resilience policies live in the client.
 */
import { AiBadResponseError } from './errors.ts';
import type { Prompt } from './prompt.ts';

export interface AiRequest {
  prompt: Prompt;
  model: string;
  parameters: Record<string, unknown>;
}

export interface AiAnswer {
  text: string;
  model: string;
  tokens: number | null;
  /** Milliseconds the provider says it spent, when it says. */
  providerMs: number | null;
}

export interface AiProvider {
  readonly name: 'orchestrator' | 'openai';
  readonly path: string;
  readonly healthPath: string;
  body(request: AiRequest): unknown;
  headers(apiKey: string): Record<string, string>;
  /** Reads a 2xx body; throws AiBadResponseError when it is not of the provider's shape. */
  parse(body: unknown, request: AiRequest): AiAnswer;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : null);

/** Text of an orchestrator `outputs`: a string, an object (text / generated_text / content) or an array of those. */
export function outputText(outputs: unknown): string {
  if (typeof outputs === 'string') return outputs;
  if (Array.isArray(outputs)) return outputs.map(outputText).join('\n');
  if (isObject(outputs)) {
    for (const k of ['text', 'generated_text', 'content', 'output']) if (typeof outputs[k] === 'string') return outputs[k] as string;
    if (Array.isArray(outputs.choices)) return outputText(outputs.choices);
    if (isObject(outputs.message)) return outputText(outputs.message);
    return JSON.stringify(outputs);
  }
  if (typeof outputs === 'number' || typeof outputs === 'boolean') return String(outputs);
  throw new AiBadResponseError(`outputs is ${outputs === null ? 'null' : typeof outputs}`);
}

/** Token usage from orchestrator metadata: usage.total_tokens, prompt+completion, or tokens_generated. */
export function usageTokens(metadata: unknown): number | null {
  if (!isObject(metadata)) return null;
  const usage = metadata.usage;
  if (isObject(usage)) {
    const total = num(usage.total_tokens);
    if (total !== null) return total;
    const parts = [num(usage.prompt_tokens), num(usage.completion_tokens)];
    if (parts.some((p) => p !== null)) return parts.reduce<number>((a, b) => a + (b ?? 0), 0);
  }
  return num(metadata.tokens_generated) ?? num(metadata.tokens_used);
}

export const orchestratorProvider: AiProvider = {
  name: 'orchestrator',
  path: '/api/inference/',
  healthPath: '/health',
  body: ({ prompt, model, parameters }) => ({ model_id: model, inputs: `${prompt.system}\n\n${prompt.user}`, parameters }),
  headers: () => ({}),
  parse(body, request) {
    if (!isObject(body) || !('outputs' in body)) throw new AiBadResponseError('the answer has no outputs');
    const metadata = body.metadata;
    return {
      text: outputText(body.outputs),
      model: typeof body.model_id === 'string' ? body.model_id : request.model,
      tokens: usageTokens(metadata),
      providerMs: isObject(metadata) ? num(metadata.generation_time_ms) : null,
    };
  },
};

export const openaiProvider: AiProvider = {
  name: 'openai',
  path: '/v1/chat/completions',
  healthPath: '/v1/models',
  body: ({ prompt, model, parameters }) => ({
    model,
    messages: [{ role: 'system', content: prompt.system }, { role: 'user', content: prompt.user }],
    ...parameters,
  }),
  headers: (apiKey): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
  parse(body, request) {
    const choice = isObject(body) && Array.isArray(body.choices) ? body.choices[0] : undefined;
    const content = isObject(choice) && isObject(choice.message) ? choice.message.content : undefined;
    if (typeof content !== 'string') throw new AiBadResponseError('the answer has no choices[0].message.content');
    const b = body as Record<string, unknown>;
    return {
      text: content,
      model: typeof b.model === 'string' ? b.model : request.model,
      tokens: isObject(b.usage) ? num(b.usage.total_tokens) : null,
      providerMs: null,
    };
  },
};

export const PROVIDERS = { orchestrator: orchestratorProvider, openai: openaiProvider } as const;
