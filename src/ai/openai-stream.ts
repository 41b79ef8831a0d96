/**
 * Reads a streamed OpenAI chat completion, one server-sent event's data at a time (the SSE framing
 * itself is parsed by eventsource-parser in the transport): text deltas, the model, the finish,
 * and the usage of the last event (`stream_options.include_usage`). Pure.
 */
import { AiBadResponseError, AiTransportError } from './errors.ts';
import type { ParsedAnswer } from './providers.ts';
import type { TokenUsage } from './call.ts';
import { readUsage, totalTokens } from './usage.ts';

/** Reads one streamed answer. */
export interface StreamReader {
  /** Reads the data of one event; returns the text it adds ('' for none). */
  event(data: string): string;
  /** After the body ended, with the text gathered: the answer; a stream that stopped before its end throws STREAM_CUT. */
  end(text: string): ParsedAnswer;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A reader for an answer asked of `model`. */
export function openaiStreamReader(model: string): StreamReader {
  let answered = model;
  let usage: TokenUsage | null = null;
  let tokens: number | null = null;
  let finished = false;
  let done = false;
  return {
    event(data) {
      if (data === '[DONE]') {
        done = true;
        return '';
      }
      let e: unknown;
      try {
        e = JSON.parse(data);
      } catch {
        throw new AiBadResponseError(`a streamed event is not JSON: ${data.slice(0, 200)}`);
      }
      if (!isObject(e)) throw new AiBadResponseError('a streamed event is not an object');
      if (e.error !== undefined) {
        const message = isObject(e.error) && typeof e.error.message === 'string' ? e.error.message : JSON.stringify(e.error).slice(0, 200);
        throw new AiTransportError('STREAM_CUT', `the stream ended with an error: ${message}`);
      }
      if (typeof e.model === 'string') answered = e.model;
      if (isObject(e.usage)) {
        usage = readUsage(e.usage);
        tokens = totalTokens(e.usage, usage);
      }
      const choice = Array.isArray(e.choices) ? e.choices[0] : undefined;
      if (!isObject(choice)) return '';
      if (typeof choice.finish_reason === 'string') finished = true;
      const delta = choice.delta;
      return isObject(delta) && typeof delta.content === 'string' ? delta.content : '';
    },
    end(text) {
      if (!done && !finished) throw new AiTransportError('STREAM_CUT', 'the stream ended before its last event');
      return { text, model: answered, tokens, usage, providerMs: null };
    },
  };
}
