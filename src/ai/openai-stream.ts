/**
 * Reads a streamed OpenAI chat completion, one server-sent event's data at a time (the SSE framing
 * itself is parsed by eventsource-parser in the transport): text deltas, the model, the finish,
 * and the usage of the last event (`stream_options.include_usage`). Pure.
 */
import { AiBadResponseError, AiTransportError } from './errors.ts';
import type { ParsedAnswer } from './usage.ts';
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

const CONTENT = '"content":"';

/**
 * The JSON string body `data[from, to)` (between its quotes) as text; null when it is not one
 * string (an unescaped quote or control character, a backslash that escapes its closing quote).
 */
function stringBody(data: string, from: number, to: number): string | null {
  let escaped = false;
  for (let i = from; i < to; i++) {
    const c = data.charCodeAt(i);
    if (c === 92) {
      // A backslash that escapes the closing quote makes the JSON.parse below fail.
      escaped = true;
      i++;
    } else if (c === 34 || c < 32) return null;
  }
  const raw = data.slice(from, to);
  if (!escaped) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return null;
  }
}

/**
 * The text of the commonest event without parsing it into objects (most of a stream's CPU went to
 * JSON.parse and the garbage it leaves): compact JSON of one object, one `"content":"..."` inside
 * the delta, no error, no finish, no usage, nothing else to read. Anything else returns null and
 * is parsed whole.
 */
export function plainDelta(data: string): string | null {
  if (data.charCodeAt(0) !== 123 || data.charCodeAt(data.length - 1) !== 125 || data.includes('"error"')) return null;
  const finish = data.indexOf('"finish_reason":');
  if (finish >= 0 && !data.startsWith('null', finish + 16)) return null;
  const usage = data.indexOf('"usage":');
  if (usage >= 0 && !data.startsWith('null', usage + 8)) return null;
  const at = data.indexOf(CONTENT);
  if (at < 0 || data.includes(CONTENT, at + 1)) return null;
  // Inside the delta object: no brace between the delta's opening and the content.
  const delta = data.lastIndexOf('"delta":{', at);
  if (delta < 0 || data.indexOf('}', delta) < at) return null;
  const start = at + CONTENT.length;
  // The closing quote: the first quote not escaped.
  let end = start;
  while (end < data.length) {
    const c = data.charCodeAt(end);
    if (c === 34) break;
    end += c === 92 ? 2 : 1;
  }
  return end < data.length ? stringBody(data, start, end) : null;
}

/** A reader for an answer asked of `model`. */
export function openaiStreamReader(model: string): StreamReader {
  let answered = model;
  let usage: TokenUsage | null = null;
  let tokens: number | null = null;
  let finished = false;
  let done = false;
  // The first event is read whole (it names the model); the commonest ones after it take the plain path.
  let read = false;
  return {
    event(data) {
      if (data === '[DONE]') {
        done = true;
        return '';
      }
      if (read) {
        const text = plainDelta(data);
        if (text !== null) return text;
      }
      read = true;
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
