/** Plain-text tables, durations and a progress bar for the command line. */

/** Renders rows as a left-aligned table with a header line. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(headers), ...rows.map(line)].join('\n');
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function percent(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

/** A one-line progress bar on a terminal's stderr; nothing elsewhere (logs stay clean). */
export class Progress {
  readonly #total: number;
  readonly #label: string;
  readonly #tty: boolean;
  #done = 0;

  constructor(total: number, label: string, stream: NodeJS.WriteStream = process.stderr) {
    this.#total = total;
    this.#label = label;
    this.#tty = stream.isTTY === true && total > 1;
  }

  tick(): void {
    this.#done++;
    if (!this.#tty) return;
    const width = 30;
    const filled = Math.round((this.#done / this.#total) * width);
    process.stderr.write(`\r${this.#label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#done}/${this.#total}`);
    if (this.#done === this.#total) process.stderr.write('\n');
  }
}
