/**
 * `npm run bench:history-pairs`: job history on ÷ off in a worker, in alternating pairs in one
 * sitting, so a difference of a few per cent shows through a shared machine's noise.
 *
 * Runs bench:worker's `default` and `no-history` phases (`BENCH_STAGES=0`: no profiler)
 * BENCH_PAIRS times (default 6), the order alternating (`default,no-history`, then
 * `no-history,default`); with BENCH_BASE=<another checkout of this repository> that checkout's
 * bench:worker runs beside each pair, first or second in turn. Prints each run's ratio (jobs/s
 * with history ÷ without), the worker's and nats-server's CPU per job with history and the
 * difference, and the load average; then, for each tree, the median and range of those.
 * Other BENCH_* variables (BENCH_JOBS, BENCH_WARMUP) pass through.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';

const PAIRS = Number(process.env.BENCH_PAIRS ?? 6);
const HERE = join(import.meta.dirname, '..');
const BASE = process.env.BENCH_BASE;

interface Phase {
  jobsPerS: number;
  cpu: number;
  server: number;
}
interface Run {
  tree: string;
  ratio: number;
  on: Phase;
  off: Phase;
  load: number;
  perJob: number;
}

/** One bench:worker run of `order` in checkout `dir`, its two phases parsed from what it prints. */
function run(dir: string, order: string): Omit<Run, 'tree'> {
  const load = loadavg()[0];
  const r = spawnSync(join(dir, 'scripts', 'node24'), [join(dir, 'bench', 'worker.ts')], {
    cwd: dir, env: { ...process.env, BENCH_ONLY: order, BENCH_STAGES: '0' }, encoding: 'utf8', maxBuffer: 16 << 20,
  });
  if (r.status !== 0) throw new Error(`bench:worker in ${dir} exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
  const phase = (label: string): Phase => {
    const m = new RegExp(`${label}\\s+(\\d+) jobs/s.*?(\\d+) µs CPU/job \\(nats-server\\s+(\\d+) µs\\)`).exec(r.stdout);
    if (!m) throw new Error(`no "${label}" row in:\n${r.stdout}`);
    return { jobsPerS: Number(m[1]), cpu: Number(m[2]), server: Number(m[3]) };
  };
  const on = phase('default configuration');
  const off = phase('default, history off');
  const per = /history messages per job: ([\d.]+)/.exec(r.stdout);
  return { ratio: on.jobsPerS / off.jobsPerS, on, off, load: (load + loadavg()[0]) / 2, perJob: per ? Number(per[1]) : Number.NaN };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(0)}`;

const trees: [string, string][] = [['this', HERE], ...(BASE ? [['base', BASE] as [string, string]] : [])];
const runs: Run[] = [];
console.log(`bench:history-pairs: ${PAIRS} pairs${BASE ? `, this tree and ${BASE} in turn` : ''}`);
for (let i = 0; i < PAIRS; i++) {
  const order = i % 2 ? 'no-history,default' : 'default,no-history';
  for (const [tree, dir] of i % 2 && BASE ? [...trees].reverse() : trees) {
    const r = { tree, ...run(dir, order) };
    runs.push(r);
    console.log(`  ${String(i + 1).padStart(2)} ${tree.padEnd(4)} ${order.padEnd(18)} ratio ${r.ratio.toFixed(3)}  jobs/s ${r.on.jobsPerS}/${r.off.jobsPerS}  worker ${r.on.cpu} µs/job (${signed(r.on.cpu - r.off.cpu)})  nats-server ${r.on.server} (${signed(r.on.server - r.off.server)})  messages/job ${r.perJob.toFixed(2)}  load ${r.load.toFixed(1)}`);
  }
}
for (const [tree] of trees) {
  const rs = runs.filter((r) => r.tree === tree);
  const fig = (f: (r: Run) => number, d = 0) => `median ${median(rs.map(f)).toFixed(d)} (${Math.min(...rs.map(f)).toFixed(d)} to ${Math.max(...rs.map(f)).toFixed(d)})`;
  console.log(`${tree}: ratio ${fig((r) => r.ratio, 3)}; worker CPU/job with history ${fig((r) => r.on.cpu)}, without ${fig((r) => r.off.cpu)}, difference ${fig((r) => r.on.cpu - r.off.cpu)}; nats-server with ${fig((r) => r.on.server)}, difference ${fig((r) => r.on.server - r.off.server)}; load ${fig((r) => r.load, 1)}`);
}
