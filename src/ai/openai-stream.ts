/**
 * Reads a streamed OpenAI chat completion, one server-sent event's data at a time (the SSE framing
 * itself is scanned by sse.ts in the transport), or a run of text deltas of one learned shape at
 * once from the wire: text deltas, the model, the finish, and the usage of the last event
 * (`stream_options.include_usage`). Pure.
 */
import { AiBadResponseError, AiTransportError } from './errors.ts';
import type { ParsedAnswer } from './usage.ts';
import type { TokenUsage } from './call.ts';
import { readUsage, totalTokens } from './usage.ts';

/** Reads one streamed answer. */
export interface StreamReader {
  /** Reads the data of one event; returns the text it adds ('' for none). */
  event(data: string): string;
  /**
   * Reads the whole events `data: …` (one line, then a blank one) of `wire` from `at` that it
   * recognises without parsing them, pushing their text to `out`; returns where they end (`at`
   * for none). Each is an event {@link event} would read to that text, with nothing else to note.
   */
  run?(wire: Buffer, at: number, out: string[]): number;
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

/** The text of a parsed event's first choice's delta, when it is a string. */
function contentOf(e: unknown): string | null {
  const choice = isObject(e) && Array.isArray(e.choices) ? e.choices[0] : undefined;
  const delta = isObject(choice) ? choice.delta : undefined;
  return isObject(delta) && typeof delta.content === 'string' ? delta.content : null;
}

/**
 * The shape of a text delta learned from an event read whole (one without usage): its
 * data up to and with the opening quote of the delta's content, and from its closing quote, and
 * the model it names. An event that is the prefix, a JSON string body and the suffix is that event
 * with another text: one string token swapped for another changes nothing else of a JSON text, so
 * reading it whole would give that text and name that model, and nothing more. The commonest
 * events are read this way, with two comparisons instead of a parse.
 */
export interface DeltaShape {
  prefix: string;
  suffix: string;
  model: string | null;
  /** The shape on the wire, when prefix and suffix hold no line end. */
  wire: WirePattern | null;
}

/**
 * What lies between one event's text and the next one's on the wire, as UTF-8 bytes: the
 * suffix, the blank line, `data: ` and the prefix. Its first `tail` bytes end an event (the
 * suffix and the blank line), the rest begin one (`data: ` and the prefix). One buffer for the
 * three (an answer learns its shape once: made of one allocation, not six).
 */
export interface WirePattern {
  bytes: Buffer;
  /**
   * The bytes eight at a time (those of whole words), each read as a little-endian double:
   * compared as doubles, one comparison for eight bytes. Two doubles are equal exactly when their
   * bits are, but for NaN (equal to nothing) and the two zeros (equal to each other); neither is
   * a word here: both need a byte that valid UTF-8 never holds before another (a zero: seven NUL
   * bytes, which no JSON text holds; NaN: a 0x7F or 0xFF byte after one from 0xF0, where UTF-8
   * has a continuation byte). So a word of the wire equals one of these exactly when its eight
   * bytes do.
   */
  words: Float64Array;
  tail: number;
}

function wirePattern(prefix: string, suffix: string): WirePattern {
  const bytes = Buffer.from(`${suffix}\n\ndata: ${prefix}`);
  const words = new Float64Array(bytes.length >> 3);
  for (let k = 0; k < words.length; k++) words[k] = bytes.readDoubleLE(8 * k);
  return { bytes, words, tail: Buffer.byteLength(suffix) + 2 };
}

/** True when `wire` (seen through `view`) holds the first `length` bytes of `p` at `at`. */
function holds(wire: Buffer, view: DataView, at: number, p: WirePattern, length: number): boolean {
  if (at + length > wire.length) return false;
  const bytes = p.bytes;
  const words = p.words;
  const whole = length >> 3;
  for (let k = 0; k < whole; k++) if (view.getFloat64(at + 8 * k, true) !== words[k]) return false;
  for (let j = whole * 8; j < length; j++) if (wire[at + j] !== bytes[j]) return false;
  return true;
}

/** True when `wire` holds the beginning of an event of `p` (`data: ` and the prefix) at `at`: once a run, compared natively. */
function holdsHead(wire: Buffer, at: number, p: WirePattern): boolean {
  const length = p.bytes.length - p.tail;
  return at + length <= wire.length && wire.compare(p.bytes, p.tail, p.bytes.length, at, at + length) === 0;
}

/** A text put in the content's place to check that it is the content (as JSON, and read). */
const PROBE_JSON = String.raw`\u0001altlas\u0002`;
const PROBE = '\u0001altlas\u0002';

/** The shape of `data`, an event whose delta's content is `text`; null when that content cannot be found by its place. */
export function deltaShape(data: string, text: string, model: string | null = null): DeltaShape | null {
  if (text === PROBE) return null;
  const at = data.indexOf(CONTENT);
  if (at < 0) return null;
  const start = at + CONTENT.length;
  // The closing quote: the first quote not escaped.
  let end = start;
  while (end < data.length) {
    const c = data.charCodeAt(end);
    if (c === 34) break;
    end += c === 92 ? 2 : 1;
  }
  if (end >= data.length) return null;
  const prefix = data.slice(0, start);
  const suffix = data.slice(end);
  // The found string must be the delta's content (not another field's "content"): the event with the probe in its place reads as the probe.
  try {
    if (contentOf(JSON.parse(`${prefix}${PROBE_JSON}${suffix}`)) !== PROBE) return null;
  } catch {
    return null;
  }
  const lines = /[\r\n]/.test(prefix) || /[\r\n]/.test(suffix);
  const wire = lines ? null : wirePattern(prefix, suffix);
  return { prefix, suffix, model, wire };
}

/** Where the ASCII texts of a run are gathered (one string made of them, not one a delta); grown when a run needs more. */
let gathered = Buffer.allocUnsafe(16_384);

/**
 * The events of `shape` in `wire` from `at`, one after the other: their texts pushed to `out`;
 * returns where the last one ends (`at` for none). Such an event is one data line and a blank
 * line: `data: `, the prefix, a JSON string body, the suffix, two LFs; an event cut by the end of
 * `wire`, or not of the shape, ends the run before it. Its text is its body's bytes when they are
 * ASCII without escapes (the commonest), else the body read as UTF-8 and as a JSON string.
 */
export function shapedRun(wire: Buffer, at: number, shape: DeltaShape, out: string[]): number {
  const w = shape.wire;
  const length = wire.length;
  // An event is the head, its text and the tail: the pattern's bytes at least.
  if (!w || length - at < w.bytes.length || !holdsHead(wire, at, w)) return at;
  const view = new DataView(wire.buffer, wire.byteOffset, length);
  if (gathered.length < length) gathered = Buffer.allocUnsafe(Math.max(length, 2 * gathered.length));
  const g = gathered;
  let n = 0;
  let done = at;
  let from = at + w.bytes.length - w.tail;
  for (;;) {
    // The body: up to the first quote not escaped; none with a control character.
    let to = from;
    let escaped = false;
    let wide = false;
    for (; to < length; to++) {
      const c = wire[to];
      if (c === 34) break;
      if (c === 92) {
        escaped = true;
        to++;
      } else if (c < 32) break;
      else if (c > 127) wide = true;
    }
    if (to >= length || wire[to] !== 34) break;
    const between = holds(wire, view, to, w, w.bytes.length);
    if (!between && !holds(wire, view, to, w, w.tail)) break;
    if (!escaped && !wide) {
      for (let i = from; i < to; i++) g[n++] = wire[i];
    } else {
      let text: string | null = wire.toString('utf8', from, to);
      if (escaped) {
        try {
          text = JSON.parse(`"${text}"`) as string;
        } catch {
          text = null;
        }
        if (text === null) break;
      }
      if (n > 0) out.push(g.toString('latin1', 0, n));
      n = 0;
      out.push(text);
    }
    done = to + w.tail;
    if (!between) break;
    from = to + w.bytes.length;
  }
  if (n > 0) out.push(g.toString('latin1', 0, n));
  return done;
}

/** The text of `data` when it has `shape`, else null. */
export function shapedDelta(data: string, shape: DeltaShape): string | null {
  const to = data.length - shape.suffix.length;
  // Slices compared, not startsWith/endsWith: V8 compares two strings' characters at once, where startsWith goes one by one (5 x slower here).
  if (to < shape.prefix.length || data.slice(0, shape.prefix.length) !== shape.prefix || data.slice(to) !== shape.suffix) return null;
  return stringBody(data, shape.prefix.length, to);
}

/** Shapes learned at most per answer: a server whose deltas differ in more than their text is read whole. */
const MAX_SHAPES = 4;

/** A reader for an answer asked of `model`. */
export function openaiStreamReader(model: string): StreamReader {
  let answered = model;
  let usage: TokenUsage | null = null;
  let tokens: number | null = null;
  let finished = false;
  let done = false;
  let shape: DeltaShape | null = null;
  let shapes = 0;
  return {
    run(wire, at, out) {
      if (!shape) return at;
      const end = shapedRun(wire, at, shape, out);
      if (end !== at && shape.model !== null) answered = shape.model;
      return end;
    },
    event(data) {
      if (shape) {
        const text = shapedDelta(data, shape);
        if (text !== null) {
          if (shape.model !== null) answered = shape.model;
          return text;
        }
      }
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
      const named = typeof e.model === 'string' ? e.model : null;
      if (named !== null) answered = named;
      if (isObject(e.usage)) {
        usage = readUsage(e.usage);
        tokens = totalTokens(e.usage, usage);
      }
      const choice = Array.isArray(e.choices) ? e.choices[0] : undefined;
      if (!isObject(choice)) return '';
      if (typeof choice.finish_reason === 'string') finished = true;
      const text = contentOf(e);
      if (text === null) return '';
      // An event with usage gives no shape: a usage read since would be overwritten by it. (A finish stays.)
      // Nor does an empty text: the role's first event, whose shape no other event has (a probe saved).
      if (text !== '' && shapes < MAX_SHAPES && !isObject(e.usage)) {
        shapes++;
        shape = deltaShape(data, text, named) ?? shape;
      }
      return text;
    },
    end(text) {
      if (!done && !finished) throw new AiTransportError('STREAM_CUT', 'the stream ended before its last event');
      return { text, model: answered, tokens, usage, providerMs: null };
    },
  };
}
