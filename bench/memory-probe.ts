/**
 * Loaded into an `altlas worker` with `NODE_OPTIONS=--import <this file>` by bench:worker's memory
 * part: every 100 ms reads what the resident memory is made of, and keeps the sample taken when the
 * RSS was highest. On SIGUSR2 it writes one line to stderr, `memory-probe {...}`: that sample, in MB:
 *   rss, file (mapped files: the node binary, libraries), anon (anonymous memory), from
 *     /proc/self/smaps_rollup;
 *   binary: the resident part of the node executable's own mapping (from /proc/self/smaps, read at
 *     each new peak at most once a second);
 *   v8: heap committed and used, by space (new, old, code, large objects...) and in all;
 *   external and array buffers (process.memoryUsage());
 *   rest: anon − the V8 heap committed − array buffers: malloc (the allocator's arenas, what native
 *     code holds), thread stacks and V8's other reservations.
 * MEMORY_PROBE_SNAPSHOT=<file>: on SIGUSR2 also writes a heap snapshot there (v8.writeHeapSnapshot),
 * after the line. The probe's own cost: one read of smaps_rollup and of the heap statistics each 100 ms.
 */
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

const MB = 1024 * 1024;
const r1 = (b: number) => Math.round((b / MB) * 10) / 10;

function kbOf(text: string, key: string): number {
  return Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
}

/** The resident bytes of the mappings of the node executable itself. */
function binaryRss(): number {
  const exe = process.execPath;
  let total = 0;
  let inExe = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inExe = line.endsWith(exe);
    else if (inExe && line.startsWith('Rss:')) total += kbOf(line, 'Rss');
  }
  return total;
}

interface Sample { [k: string]: unknown; rss: number }

let peak: Sample | null = null;
let lastDetail = 0;
let binary = 0;
function sample(): void {
  const rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const rss = kbOf(rollup, 'Rss');
  if (peak && rss <= peak.rss) return;
  const now = Date.now();
  if (now - lastDetail >= 1_000) {
    binary = binaryRss();
    lastDetail = now;
  }
  const anon = kbOf(rollup, 'Anonymous');
  const mu = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name.replace(/_space$/, ''), { committed: r1(s.physical_space_size), used: r1(s.space_used_size) }]));
  const heap = v8.getHeapStatistics();
  peak = {
    rss, at_s: Math.round(performance.now() / 100) / 10,
    mb: {
      rss: r1(rss), file: r1(rss - anon), binary: r1(binary), anon: r1(anon),
      v8_committed: r1(heap.total_physical_size), v8_used: r1(heap.used_heap_size),
      external: r1(mu.external), array_buffers: r1(mu.arrayBuffers),
      rest: r1(anon - heap.total_physical_size - mu.arrayBuffers),
    },
    spaces,
  };
}

setInterval(sample, 100).unref();
process.on('SIGUSR2', () => {
  sample();
  process.stderr.write(`memory-probe ${JSON.stringify({ ...peak, rss: undefined })}\n`);
  const file = process.env.MEMORY_PROBE_SNAPSHOT;
  if (file) process.stderr.write(`memory-probe snapshot ${v8.writeHeapSnapshot(file)}\n`);
});
