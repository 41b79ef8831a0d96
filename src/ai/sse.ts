/**
 * A server-sent events scanner (the WHATWG event stream format) over the bytes as they arrive,
 * that gives each event's data, and lets its reader take a run of events it recognises whole from
 * the bytes themselves (a fast model's read carries hundreds of deltas of one shape: read as such,
 * with a few comparisons each, instead of a decoded text, a line, a field and an event object
 * each). Pure.
 *
 * Only `data` fields make an event here (an event's `event` type, `id` and `retry` are not read by
 * any provider of the runner, and comments are skipped). Lines end with LF, CRLF or CR, split
 * anywhere across the reads; an event is dispatched at its blank line, one that never got it (the
 * stream ended first) is not. A line is decoded as UTF-8 once whole (line ends are ASCII, never
 * inside a character), a BOM at the stream's start dropped.
 */

/** Reads a run of whole events from where the scanner stands. */
export type EventRun = (wire: Buffer, at: number, out: string[]) => number;

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
  /** Bytes of one unfinished line and characters of one event's data held at most; past it `tooLarge` is thrown. */
  maxBufferSize: number;
  tooLarge(): Error;
}

export interface SseScanner {
  feed(bytes: Buffer): void;
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** The value of a `data` line `bytes[from, to)`, or null when the line is another field or a comment. */
function dataValue(bytes: Buffer, from: number, to: number): string | null {
  // "data" then ':' (one space after it dropped) or the line's end.
  if (to - from < 4 || bytes[from] !== 100 || bytes[from + 1] !== 97 || bytes[from + 2] !== 116 || bytes[from + 3] !== 97) return null;
  if (to - from === 4) return '';
  if (bytes[from + 4] !== COLON) return null;
  return bytes.toString('utf8', bytes[from + 5] === SPACE ? from + 6 : from + 5, to);
}

/** A scanner calling `o.onEvent` for each event (and `o.run` where an event may start). */
export function sseScanner(o: SseScannerOptions): SseScanner {
  /** The unfinished last line of the reads, in pieces (joined once its end came). */
  const pending: Buffer[] = [];
  let pendingLength = 0;
  /** The event's data so far, and its data lines. */
  let data = '';
  let lines = 0;
  /** The last read ended with a CR: an LF starting the next one is its CRLF's. */
  let skipLf = false;
  /** Before the stream's first bytes (a BOM there is dropped). */
  let start = true;
  const out = o.out ?? [];
  const check = () => {
    if (pendingLength + data.length > o.maxBufferSize) throw o.tooLarge();
  };

  function scan(bytes: Buffer): void {
    let at = 0;
    const end = bytes.length;
    if (start) {
      // A BOM may come in pieces: wait for three bytes, or fewer that are not its start.
      const head = Math.min(end, 3);
      if (bytes.compare(BOM, 0, head, 0, head) === 0) {
        if (end < 3) return hold(bytes, 0);
        at = 3;
      }
      start = false;
    }
    let lf = -2;
    let cr = -2;
    for (;;) {
      if (lines === 0 && o.run && at < end) at = o.run(bytes, at, out);
      if (lf !== -1 && lf < at) lf = bytes.indexOf(LF, at);
      if (cr !== -1 && cr < at) cr = bytes.indexOf(CR, at);
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
        const value = dataValue(bytes, at, stop);
        if (value !== null) {
          data = lines === 0 ? value : `${data}\n${value}`;
          lines++;
          check();
        }
      }
      at = stop + (stop === cr && bytes[stop + 1] === LF ? 2 : 1);
      // A CR last: its line ended (an event may be dispatched now); the LF of a CRLF may come next.
      if (stop === end - 1 && stop === cr) skipLf = true;
    }
    if (at < end) hold(bytes, at);
  }

  /** Keeps `bytes` from `at` (a copy: the read it is part of is not held). */
  function hold(bytes: Buffer, at: number): void {
    pending.push(Buffer.from(bytes.subarray(at)));
    pendingLength = bytes.length - at;
    check();
  }

  return {
    feed(bytes) {
      if (skipLf && bytes.length > 0) {
        skipLf = false;
        if (bytes[0] === LF) bytes = bytes.subarray(1);
      }
      if (bytes.length === 0) return;
      if (pending.length === 0) return scan(bytes);
      // A line that goes on without its end (a large event in small reads): held in pieces, not joined each time.
      if (!start && bytes.indexOf(LF) === -1 && bytes.indexOf(CR) === -1) {
        pending.push(Buffer.from(bytes));
        pendingLength += bytes.length;
        check();
        return;
      }
      pending.push(bytes);
      const whole = Buffer.concat(pending);
      pending.length = 0;
      pendingLength = 0;
      scan(whole);
    },
  };
}
