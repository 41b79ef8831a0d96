/**
 * A server-sent events scanner (the WHATWG event stream format) that gives each event's data, and
 * lets its reader take a run of events it recognises whole from the text itself (a fast model's
 * read carries hundreds of deltas of one shape: read as such, with a few comparisons each, instead
 * of a line, a field and an event object each). Pure.
 *
 * Only `data` fields make an event here (an event's `event` type, `id` and `retry` are not read by
 * any provider of the runner, and comments are skipped). Lines end with LF, CRLF or CR, split
 * anywhere across the texts fed; an event is dispatched at its blank line, one that never got it
 * (the stream ended first) is not. The caller decodes the bytes (a UTF-8 BOM is the decoder's).
 */

/** Reads a run of whole events from where the scanner stands. */
export type EventRun = (text: string, at: number, out: string[]) => number;

export interface SseScannerOptions {
  /** Each event's data (its data lines joined by LF). */
  onEvent(data: string): void;
  /**
   * Called where an event may start (a line start with no event begun): reads the whole events it
   * recognises from `at` (their text pushed to `out`) and returns where they end; `at` for none.
   */
  run?: EventRun;
  /** `out` of {@link run}. */
  out?: string[];
  /** Characters of one unfinished line and one event's data held at most; past it `tooLarge` is thrown. */
  maxBufferSize: number;
  tooLarge(): Error;
}

export interface SseScanner {
  feed(text: string): void;
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;

/** The value of a `data` line `text[from, to)`, or null when the line is another field or a comment. */
function dataValue(text: string, from: number, to: number): string | null {
  // "data" then ':' (one space after it dropped) or the line's end.
  if (to - from < 4 || text.charCodeAt(from) !== 100 || text.charCodeAt(from + 1) !== 97 || text.charCodeAt(from + 2) !== 116 || text.charCodeAt(from + 3) !== 97) return null;
  if (to - from === 4) return '';
  if (text.charCodeAt(from + 4) !== COLON) return null;
  return text.slice(text.charCodeAt(from + 5) === SPACE ? from + 6 : from + 5, to);
}

/** A scanner calling `o.onEvent` for each event (and `o.run` where an event may start). */
export function sseScanner(o: SseScannerOptions): SseScanner {
  /** The unfinished last line of the texts fed, in pieces (joined once its end came). */
  const pending: string[] = [];
  let pendingLength = 0;
  /** The event's data so far, and its data lines. */
  let data = '';
  let lines = 0;
  /** The last text ended with a CR: an LF starting the next one is its CRLF's. */
  let skipLf = false;
  const out = o.out ?? [];
  const check = () => {
    if (pendingLength + data.length > o.maxBufferSize) throw o.tooLarge();
  };

  function scan(text: string): void {
    let at = 0;
    let lf = -2;
    let cr = -2;
    const end = text.length;
    for (;;) {
      if (lines === 0 && o.run && at < end) at = o.run(text, at, out);
      if (lf !== -1 && lf < at) lf = text.indexOf('\n', at);
      if (cr !== -1 && cr < at) cr = text.indexOf('\r', at);
      const stop = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      if (stop === -1) break;
      if (stop === at) {
        if (lines > 0) {
          const d = data;
          data = '';
          lines = 0;
          o.onEvent(d);
        }
      } else {
        const value = dataValue(text, at, stop);
        if (value !== null) {
          data = lines === 0 ? value : `${data}\n${value}`;
          lines++;
          check();
        }
      }
      at = stop + (stop === cr && text.charCodeAt(stop + 1) === LF ? 2 : 1);
      // A CR last: its line ended (an event may be dispatched now); the LF of a CRLF may come next.
      if (stop === end - 1 && stop === cr) skipLf = true;
    }
    if (at < end) {
      pending.push(at === 0 ? text : text.slice(at));
      pendingLength = end - at;
      check();
    }
  }

  return {
    feed(text) {
      if (skipLf && text !== '') {
        skipLf = false;
        if (text.charCodeAt(0) === LF) text = text.slice(1);
      }
      if (text === '') return;
      if (pending.length === 0) return scan(text);
      // A line that goes on without its end (a large event in small reads): held in pieces, not joined each time.
      if (text.indexOf('\n') === -1 && text.indexOf('\r') === -1) {
        pending.push(text);
        pendingLength += text.length;
        check();
        return;
      }
      pending.push(text);
      const whole = pending.join('');
      pending.length = 0;
      pendingLength = 0;
      scan(whole);
    },
  };
}
