/**
 * `npm run bench:flow [-- --minutes N]`: AI flow control per model, measured against the fake AI's
 * own log (it enforces the model's tokens per minute strictly, over a sliding minute, and answers
 * 429 past it), with three `altlas worker` processes sharing one model's 60,000 TPM and a backlog:
 *
 * 1. limits configured (AI_LIMITS): 429s ÷ calls (target <= 0.5 %) and tokens answered ÷ the
 *    budget of the run (target >= 90 %);
 * 2. nothing configured, limits learned from the fake's x-ratelimit-* headers: the same, measured
 *    over N minutes after the first minute of the run;
 * 3. one worker SIGKILLed mid-run: seconds until the two others use its share (their tokens in the
 *    sliding minute pass their own two thirds by half the dead worker's third), target <= 2 ×
 *    AI_LIMITS_LEASE_MS;
 * 4. throughput with limits configured but not binding ÷ the same run without AI_LIMITS (target
 *    >= 0.95; flow control still reserves and settles there, with no limit known), runs alternated
 *    (BENCH_ROUNDS pairs, 5), each measured after its first fifth of BENCH_THROUGHPUT_JOBS (2,000),
 *    the median ratio, and the workers' CPU per job.
 *
 * `--minutes N` (default 5) is the length of runs 1 and 2; run 3 lasts long enough to see the
 * hand-over (at least 2 leases and a minute after the kill). BENCH_PHASES picks runs
 * (configured,learned,kill,throughput). Ends with one line of JSON.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { FakeOrchestrator, type RequestRecord } from '../src/ai/fake-orchestrator.ts';
import { NatsServer } from '../src/devtools/nats-server.ts';
import { cpuSecondsOf, startWorkerProcess, type Child } from './processes.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: process.env.BENCH_MINUTES ?? '5' } } });
const MINUTES = Number(values.minutes);
if (!(MINUTES > 0)) throw new Error('--minutes must be a number > 0');
const TPM = 60_000;
const MIN = 60_000;
const LEASE_MS = Number(process.env.BENCH_LEASE_MS ?? 60_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const THROUGHPUT_JOBS = Number(process.env.BENCH_THROUGHPUT_JOBS ?? 2_000);
const WORKERS = 3;
/** Answers of about 400 tokens to prompts of about 130: some 530 tokens a call, about 113 calls a minute in 60,000 TPM. */
const OUTPUT_CHARS = 1_600;
const dir = mkdtempSync(join(tmpdir(), 'altlas-bench-flow-'));
const limitsFile = join(dir, 'limits.yaml');
writeFileSync(limitsFile, `orchestrator:\n  default: {tpm: ${TPM}}\n`);
const unbound = join(dir, 'unbound.yaml');
writeFileSync(unbound, 'orchestrator:\n  default: {tpm: 100000000, rpm: 10000000}\n');

const job = (i: number) => JSON.stringify({
  id: `flow-${i}`, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `flow ${i}`,
  tasks: [{ id: 't1', description: `Job ${i}: summarise the quarterly figures of region ${i % 7} in one paragraph for a reader who has not seen them, naming the three largest changes. `.padEnd(400, '.') }],
});

interface Run {
  fake: FakeOrchestrator;
  workers: Child[];
  close(): Promise<void>;
  published: number;
}

/** A fresh server, the fake AI, the workers, then a backlog of `backlog` jobs. */
async function start(fakeOptions: ConstructorParameters<typeof FakeOrchestrator>[0], env: NodeJS.ProcessEnv, backlog: number): Promise<Run> {
  const fake = new FakeOrchestrator({ record: true, ...fakeOptions });
  const aiUrl = await fake.listen();
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  const workers: Child[] = [];
  for (let i = 0; i < WORKERS; i++) {
    workers.push(await startWorkerProcess({ NATS_URL: server.url, AI_URL: aiUrl, LOG_LEVEL: 'warn', RUNNER_CONCURRENCY: '16', AI_LIMITS_LEASE_MS: String(LEASE_MS), ...env }));
  }
  // The backlog, far faster than the budget lets it run.
  const js = jetstream(nc);
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < backlog; i++) {
    pending.push(js.publish('alt.submit', job(i)));
    if (pending.length >= 200) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  return {
    fake, workers, published: backlog,
    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      await nc.close();
      await server.dispose();
      await fake.close();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tokensOf = (e: RequestRecord) => (e.usage ? e.usage.input + e.usage.output : 0);
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

/** The calls, 429s and tokens answered among the fake's requests that arrived in [from, to). */
function tally(log: readonly RequestRecord[], from: number, to: number) {
  const rows = log.filter((e) => e.start >= from && e.start < to);
  const limited = rows.filter((e) => e.status === 429).length;
  const tokens = rows.filter((e) => e.status === 200).reduce((n, e) => n + tokensOf(e), 0);
  return { calls: rows.length, limited, tokens, budget: (TPM * (to - from)) / MIN };
}

function line(label: string, value: string, target: string, met: boolean): void {
  console.log(`  ${label.padEnd(44)} ${value.padStart(12)}   target ${target} ${met ? '(met)' : '(NOT met)'}`);
}

async function budgetRun(name: string, env: NodeJS.ProcessEnv, skipMs: number) {
  const length = MINUTES * MIN + skipMs;
  console.log(`\n${name}: three workers, one model of ${TPM.toLocaleString('en')} TPM (enforced by the fake), ${length / MIN} min${skipMs ? `, measured after the first ${skipMs / 1000} s` : ''}`);
  const run = await start({ tpm: TPM, latencyMs: 200, outputChars: OUTPUT_CHARS }, env, Math.ceil((length / MIN) * 160) + 200);
  const t0 = Date.now();
  await sleep(length);
  const t1 = Date.now();
  const all = tally(run.fake.log, t0, t1);
  const measured = tally(run.fake.log, t0 + skipMs, t1);
  await run.close();
  const share429 = measured.limited / Math.max(1, measured.calls);
  const used = measured.tokens / measured.budget;
  if (skipMs) console.log(`  (from the end of the first minute; the whole run: ${all.calls} calls, ${all.limited} answered 429, ${pct(all.tokens / all.budget)} of the budget)`);
  line('calls', String(measured.calls), '-', true);
  line('429s / calls', pct(share429), '<= 0.5 %', share429 <= 0.005);
  line('tokens answered / budget', pct(used), '>= 90 %', used >= 0.9);
  return { calls: measured.calls, rate_limited: measured.limited, share_429: share429, used_share: used, whole_run: { calls: all.calls, rate_limited: all.limited, used_share: all.tokens / all.budget } };
}

async function killRun() {
  const killAt = Math.max(MIN, (MINUTES * MIN) / 3);
  const length = Math.max(MINUTES * MIN, killAt + 2 * LEASE_MS + MIN);
  console.log(`\nSIGKILL: three workers with AI_LIMITS (lease ${LEASE_MS / 1000} s); one killed at ${killAt / 1000} s, watched ${(length - killAt) / 1000} s more`);
  const run = await start({ tpm: TPM, latencyMs: 200, outputChars: OUTPUT_CHARS }, { AI_LIMITS: limitsFile }, Math.ceil((length / MIN) * 160) + 200);
  const t0 = Date.now();
  await sleep(killAt - (Date.now() - t0));
  const killed = Date.now();
  run.workers[0].proc.kill('SIGKILL');
  await sleep(length - (Date.now() - t0));
  const log = run.fake.log.filter((e) => e.status === 200).map((e) => ({ at: e.start, tokens: tokensOf(e) }));
  const limited = run.fake.log.filter((e) => e.status === 429 && e.start >= t0).length;
  await run.close();
  // From a minute after the kill every call is the survivors'; their minute passes their two thirds by half the dead third once they use its share.
  const threshold = TPM * (2 / 3 + 1 / 6);
  let backAt: number | null = null;
  for (const e of log) {
    if (e.at < killed + MIN) continue;
    const inMinute = log.filter((x) => x.at > e.at - MIN && x.at <= e.at).reduce((n, x) => n + x.tokens, 0);
    if (inMinute > threshold) {
      backAt = e.at;
      break;
    }
  }
  const seconds = backAt === null ? null : (backAt - killed) / 1000;
  line('dead worker\'s share back in use after', seconds === null ? 'never' : `${seconds.toFixed(1)} s`, `<= ${(2 * LEASE_MS) / 1000} s`, seconds !== null && seconds <= (2 * LEASE_MS) / 1000);
  line('429s in the run', String(limited), '-', true);
  return { back_in_use_s: seconds, target_s: (2 * LEASE_MS) / 1000, rate_limited: limited };
}

async function throughputRun(env: NodeJS.ProcessEnv): Promise<{ jobsPerSec: number; cpuPerJobUs: number }> {
  const run = await start({ latencyMs: 20 }, env, THROUGHPUT_JOBS);
  const pids = run.workers.map((w) => w.proc.pid!);
  const answered = () => run.fake.log.filter((e) => e.status === 200).length;
  // Measured after a warm-up (the first fifth of the jobs: JIT, the first slices), to the last job.
  const warm = Math.floor(THROUGHPUT_JOBS / 5);
  while (answered() < warm) await sleep(20);
  const cpu0 = pids.reduce((n, p) => n + cpuSecondsOf(p), 0);
  const t0 = performance.now();
  while (answered() < THROUGHPUT_JOBS) await sleep(20);
  const secs = (performance.now() - t0) / 1000;
  const cpu = pids.reduce((n, p) => n + cpuSecondsOf(p), 0) - cpu0;
  await run.close();
  const jobs = THROUGHPUT_JOBS - warm;
  return { jobsPerSec: jobs / secs, cpuPerJobUs: (cpu / jobs) * 1e6 };
}

async function overheadRuns() {
  console.log(`\nthroughput: ${THROUGHPUT_JOBS} one-call jobs, three workers, limits configured but not binding vs without AI_LIMITS, ${ROUNDS} alternated pairs`);
  const ratios: number[] = [];
  const cpu: { with: number[]; without: number[] } = { with: [], without: [] };
  for (let i = 0; i < ROUNDS; i++) {
    const without = await throughputRun({});
    const withLimits = await throughputRun({ AI_LIMITS: unbound });
    ratios.push(withLimits.jobsPerSec / without.jobsPerSec);
    cpu.with.push(withLimits.cpuPerJobUs);
    cpu.without.push(without.cpuPerJobUs);
    console.log(`  pair ${i + 1}: ${withLimits.jobsPerSec.toFixed(1)} vs ${without.jobsPerSec.toFixed(1)} jobs/s (ratio ${(withLimits.jobsPerSec / without.jobsPerSec).toFixed(3)}); CPU per job ${withLimits.cpuPerJobUs.toFixed(0)} vs ${without.cpuPerJobUs.toFixed(0)} µs`);
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const ratio = median(ratios);
  line('throughput, limits not binding / without', ratio.toFixed(3), '>= 0.95', ratio >= 0.95);
  line('workers\' CPU per job, with / without', (median(cpu.with) / median(cpu.without)).toFixed(3), '-', true);
  return { ratio, cpu_per_job_us: { with: median(cpu.with), without: median(cpu.without) } };
}

/** BENCH_PHASES: which runs, comma-separated (configured, learned, kill, throughput); default all. */
const PHASES = new Set((process.env.BENCH_PHASES ?? 'configured,learned,kill,throughput').split(',').map((x) => x.trim()));
const phase = <T>(name: string, run: () => Promise<T>): Promise<T | null> => (PHASES.has(name) ? run() : Promise.resolve(null));

try {
  const configured = await phase('configured', () => budgetRun('limits configured (AI_LIMITS)', { AI_LIMITS: limitsFile }, 0));
  const learned = await phase('learned', () => budgetRun('nothing configured: limits learned from the x-ratelimit headers', {}, MIN));
  const kill = await phase('kill', killRun);
  const throughput = await phase('throughput', overheadRuns);
  console.log(JSON.stringify({ bench: 'flow', minutes: MINUTES, tpm: TPM, lease_ms: LEASE_MS, configured, learned, kill, throughput }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
