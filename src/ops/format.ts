/**
 * Tables, durations and a progress bar for the command line. Tables (cli-table3) fit the
 * terminal: long cells are cut with an ellipsis, measured in display width; away from a
 * terminal nothing is cut. The progress bar (cli-progress) lives on a terminal's stderr only, and
 * lines written while it runs appear above it instead of running into it.
 */
import Table from 'cli-table3';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';

/** No borders, two spaces between columns: output a person reads and a shell script can cut. */
const PLAIN = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
};

/** Display width of a text (wide and combining characters counted as a terminal shows them). */
const displayWidth = (s: string) => [...s.normalize('NFC')].reduce((w, ch) => w + (/\p{Mn}/u.test(ch) ? 0 : /[\u1100-\u115F\u2E80-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{1F300}-\u{1FAFF}\u{20000}-\u{3FFFD}]/u.test(ch) ? 2 : 1), 0);

/**
 * Column widths that fit `width` characters: every column gets what it needs when everything
 * fits; otherwise the widest columns give way first, none below its header.
 */
export function fitWidths(headers: string[], rows: string[][], width: number | undefined): number[] {
  const need = headers.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))));
  if (!width) return need;
  const gaps = 2 * (headers.length - 1);
  const widths = [...need];
  let over = widths.reduce((a, b) => a + b, 0) + gaps - width;
  while (over > 0) {
    const i = widths.indexOf(Math.max(...widths));
    const floor = Math.max(displayWidth(headers[i]), 4);
    if (widths[i] <= floor) break;
    const cut = Math.min(over, widths[i] - floor, Math.max(1, widths[i] - Math.max(...widths.filter((_, j) => j !== i), floor)));
    widths[i] -= cut;
    over -= cut;
  }
  return widths;
}

/**
 * Renders rows as a table with a header line. On a terminal (`width` = its columns) cells are cut
 * to fit with an ellipsis; otherwise (a pipe, a file) every cell is whole.
 */
export function table(headers: string[], rows: string[][], width: number | undefined = process.stdout.isTTY ? process.stdout.columns : undefined): string {
  // cli-table3 counts its own padding inside colWidths: one space on each side is turned off.
  const widths = fitWidths(headers, rows, width);
  const t = new Table({
    head: headers, chars: PLAIN, colWidths: widths, wordWrap: false, truncate: '…',
    style: { head: [], border: [], compact: true, 'padding-left': 0, 'padding-right': 0 },
  });
  for (const r of rows) t.push(headers.map((_, i) => r[i] ?? ''));
  return t.toString().split('\n').map((l) => l.trimEnd()).join('\n');
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function percent(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

/**
 * A progress bar on a terminal's stderr; nothing elsewhere (logs and pipes stay clean). While it
 * runs, {@link Progress.line} writes a result line above the bar when both streams are the same
 * terminal, so the two never run into each other.
 */
export class Progress {
  readonly #multi: MultiBar | null = null;
  readonly #bar: SingleBar | null = null;
  readonly #shared: boolean;
  #stopped = false;

  constructor(total: number, label: string, stream: NodeJS.WriteStream = process.stderr, out: NodeJS.WriteStream = process.stdout) {
    this.#shared = stream.isTTY === true && out.isTTY === true;
    if (stream.isTTY !== true || total <= 1) return;
    this.#multi = new MultiBar({ stream, format: `${label} [{bar}] {value}/{total}`, hideCursor: true, clearOnComplete: false, barsize: 30, fps: 10 }, Presets.legacy);
    this.#bar = this.#multi.create(total, 0);
  }

  tick(): void {
    this.#bar?.increment();
    if (this.#bar && this.#bar.getProgress() >= 1) this.stop();
  }

  /**
   * Writes one line of output without breaking the bar: above it, at once. (cli-progress only
   * writes logged lines on its next redraw, and its stop() drops those still waiting: the redraw
   * is forced here, so no line is lost when the bar completes.)
   */
  line(text: string, write: (line: string) => void): void {
    if (this.#multi && this.#shared && !this.#stopped) {
      this.#multi.log(`${text}\n`);
      this.#multi.update();
    } else write(text);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#multi?.stop();
  }
}

/** A cell of exactly `width` display columns: padded, or cut with an ellipsis. */
export function fitCell(text: string, width: number): string {
  const w = displayWidth(text);
  if (w <= width) return text + ' '.repeat(width - w);
  let out = '';
  let used = 0;
  for (const ch of text) {
    const cw = displayWidth(ch);
    if (used + cw > width - 1) break;
    out += ch;
    used += cw;
  }
  return `${out}…${' '.repeat(Math.max(0, width - used - 1))}`;
}

const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

/** A duration such as `90s`, `15m`, `1h30m` or `2d` in milliseconds; null when the text is not one. */
export function parseDuration(text: string): number | null {
  const t = text.trim();
  if (!/^(\d+(ms|d|h|m|s))+$/.test(t)) return null;
  let ms = 0;
  for (const m of t.matchAll(/(\d+)(ms|d|h|m|s)/g)) ms += Number(m[1]) * UNIT_MS[m[2]];
  return ms;
}

/** An RFC 3339 date-time (`2025-04-01T12:00:00Z`, `…+02:00`) or full date (`2025-04-01`, midnight UTC); null otherwise. */
export function parseRfc3339(text: string): Date | null {
  const t = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?$/.test(t)) return null;
  const ms = Date.parse(t.length === 10 ? `${t}T00:00:00Z` : t.replace(' ', 'T'));
  return Number.isNaN(ms) ? null : new Date(ms);
}
