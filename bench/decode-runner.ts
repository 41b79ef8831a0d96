/**
 * The 1 KB runner file's decode against JSON.parse of the same bytes, in CPU time: `rounds`
 * rounds, each `ops` decodes and as many JSON.parse calls, the order alternating. No collection
 * is forced between them: after a forced full collection (global.gc) the next 20,000 decodes
 * measured 2–3 µs more each, JSON.parse calls not, a cost no worker that never forces one pays.
 * bench/decode.ts runs it in its own process, or (BENCH_BASE) this file runs it once per
 * checkout in a child process: two decoders in one process share the collector, and one's
 * garbage was measured in the other's CPU.
 *
 * As a child: `node bench/decode-runner.ts <checkout>` prints one JSON line, `{ parse, decode }`
 * (CPU µs per call, one entry per round), for that checkout's decoder.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Decode = (input: Uint8Array) => unknown;

export const RUNNER_FILE = join(import.meta.dirname, '..', 'samples', 'runner-example.alt.json');

/** CPU µs of this process (every thread) per call of `fn`, over `ops` calls. */
function cpuPerCall(fn: () => unknown, ops: number): number {
  const start = process.cpuUsage();
  for (let i = 0; i < ops; i++) fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / ops;
}

/** Per round, the CPU µs of one JSON.parse and of one decode of the runner file. */
export function measureRounds(decode: Decode, rounds: number, ops: number): { parse: number[]; decode: number[] } {
  const bytes = readFileSync(RUNNER_FILE);
  const text = bytes.toString('utf8');
  cpuPerCall(() => decode(bytes), ops);
  cpuPerCall(() => JSON.parse(text), ops);
  const out = { parse: [] as number[], decode: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    // The order alternates too: neither always runs after the other.
    if (r % 2) out.parse.push(cpuPerCall(() => JSON.parse(text), ops));
    out.decode.push(cpuPerCall(() => decode(bytes), ops));
    if (!(r % 2)) out.parse.push(cpuPerCall(() => JSON.parse(text), ops));
  }
  return out;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = process.argv[2];
  const { decodeAlt } = (await import(join(root, 'src', 'alt', 'index.ts'))) as { decodeAlt: Decode };
  console.log(JSON.stringify(measureRounds(decodeAlt, Number(process.env.BENCH_ROUNDS ?? 9), Number(process.env.BENCH_OPS ?? 20_000))));
}
