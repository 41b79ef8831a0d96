/**
 * The two AI providers: the ALT_LAS AI orchestrator (formats.md §5) and any OpenAI-compatible
 * chat completions server. A provider only shapes requests and reads answers (whole, or as a
 * stream of server-sent events); HTTP and the resilience policies live elsewhere.
 */
import type { AiRequest, ProviderName } from './call.ts';
import type { ParsedAnswer } from './usage.ts';
import { AiBadResponseError } from './errors.ts';
import { openaiStreamReader, type StreamReader } from './openai-stream.ts';
import { count, orchestratorUsage, readUsage, totalTokens } from './usage.ts';

/** What a provider read from an answer. */
export type { ParsedAnswer } from './usage.ts';

export interface AiProvider {
  readonly name: ProviderName;
  readonly path: string;
  readonly healthPath: string;
  /** True when the provider can answer as a stream of server-sent events. */
  readonly streams: boolean;
  body(request: AiRequest, stream: boolean): unknown;
  headers(apiKey: string): Record<string, string>;
  /** Reads a whole 2xx body; throws AiBadResponseError when it is not of the provider's shape. */
  parse(body: unknown, request: AiRequest): ParsedAnswer;
  /** A reader of one streamed answer (providers that stream). */
  streamReader?(request: AiRequest): StreamReader;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

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

/** Total tokens from orchestrator metadata: usage.total_tokens, prompt + completion, tokens_generated, or tokens_used. */
export function usageTokens(metadata: unknown): number | null {
  if (!isObject(metadata)) return null;
  return totalTokens(metadata.usage, orchestratorUsage(metadata)) ?? count(metadata.tokens_used);
}

export const orchestratorProvider: AiProvider = {
  name: 'orchestrator',
  path: '/api/inference/',
  healthPath: '/health',
  streams: false,
  body: ({ prompt, model, parameters }) => ({ model_id: model, inputs: `${prompt.system}\n\n${prompt.user}`, parameters }),
  headers: () => ({}),
  parse(body, request) {
    if (!isObject(body) || !('outputs' in body)) throw new AiBadResponseError('the answer has no outputs');
    const metadata = isObject(body.metadata) ? body.metadata : null;
    const usage = orchestratorUsage(metadata);
    return {
      text: outputText(body.outputs),
      model: typeof body.model_id === 'string' ? body.model_id : request.model,
      tokens: metadata && (totalTokens(metadata.usage, usage) ?? count(metadata.tokens_used)),
      usage,
      providerMs: metadata && count(metadata.generation_time_ms),
    };
  },
};

export const openaiProvider: AiProvider = {
  name: 'openai',
  path: '/v1/chat/completions',
  healthPath: '/v1/models',
  streams: true,
  body: ({ prompt, model, parameters }, stream) => ({
    model,
    messages: [{ role: 'system', content: prompt.system }, { role: 'user', content: prompt.user }],
    ...parameters,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  }),
  headers: (apiKey): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
  parse(body, request) {
    const choice = isObject(body) && Array.isArray(body.choices) ? body.choices[0] : undefined;
    const content = isObject(choice) && isObject(choice.message) ? choice.message.content : undefined;
    if (typeof content !== 'string') throw new AiBadResponseError('the answer has no choices[0].message.content');
    const b = body as Record<string, unknown>;
    const usage = readUsage(b.usage);
    return { text: content, model: typeof b.model === 'string' ? b.model : request.model, tokens: totalTokens(b.usage, usage), usage, providerMs: null };
  },
  streamReader: (request) => openaiStreamReader(request.model),
};

export const PROVIDERS = { orchestrator: orchestratorProvider, openai: openaiProvider } as const;
