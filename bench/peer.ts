/**
 * `npm run bench:peer`: altlas-runner against BullMQ on the same work. BENCH_JOBS jobs (default
 * 2,000) of three chained AI tasks with prompts of ~300 bytes, the same fake AI over HTTP in its
 * own process, concurrency 64, each worker in its own process, results stored (the LAST stream
 * for altlas, the job's return value for BullMQ). Each rate runs from the first job enqueued to
 * the last result stored. altlas runs `altlas worker` in its default configuration (job status,
 * checkpoints, metrics and info logs on); BullMQ uses Redis at REDIS_URL (default
 * redis://127.0.0.1:6379). The floor is a bare JetStream loop (parse, the same calls, publish,
 * ack) and shows what any JetStream worker making these calls could reach on this machine. All
 * three make their AI calls through got on a keep-alive agent. Each prints the CPU per job of
 * every process on the path (worker, server, fake AI, this script): on a machine whose cores
 * they share, that sum sets the rate. BENCH_ONLY=altlas|bullmq|floor runs one of them. The fake
 * AI answers BENCH_WARM_CALLS calls (default 20,000) before anything is measured: it spends about
 * 40 % more CPU per call while V8 warms it up, which the first contestant would otherwise pay.
 * Each worker process runs with `--cpu-prof`: the CPU budget per job by stage (./stages.ts) of
 * its main thread while the jobs ran is printed side by side (BENCH_STAGES=0: no profiler;
 * BENCH_PROFILE=<dir> keeps the profiles in <dir>/<contestant>/). The
 * last line printed is one line of JSON of the figures (./figures.ts), for scripts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { Queue } from 'bullmq';
import { NatsServer } from '../src/devtools/nats-server.ts';
import { jsonLine, over, peerFigures, type Measured } from './figures.ts';
import { budgetPerJob, budgetTable, sampledByStage, type CpuProfile } from './stages.ts';
import { chainedJob, cpuMeter, mb, progress, rssOf, since, startFakeAiProcess, startScript, startWorkerProcess, type Child } from './processes.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 2_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const WARM_CALLS = Number(process.env.BENCH_WARM_CALLS ?? 20_000);
/** The local redis-server's pid, when REDIS_URL is on this machine and one runs. */
function localRedisPid(): number | undefined {
  if (!['127.0.0.1', 'localhost'].includes(new URL(REDIS_URL).hostname)) return undefined;
  try {
    return Number(execFileSync('pidof', ['-s', 'redis-server'], { encoding: 'utf8' }).trim()) || undefined;
  } catch {
    return undefined;
  }
}
const jobs = Array.from({ length: JOBS }, (_, i) => chainedJob(i));

/**
 * CPU profiles of the worker processes (`--cpu-prof`, written when each exits), from which the
 * CPU budget by stage is printed; BENCH_STAGES=0 runs them without the profiler.
 */
const STAGES_ON = process.env.BENCH_STAGES !== '0';
/** BENCH_PROFILE=<dir> keeps the profiles there (<dir>/<contestant>/*.cpuprofile); else they go with the run. */
const keptProfiles = process.env.BENCH_PROFILE;
const profileDir = keptProfiles ?? (STAGES_ON ? mkdtempSync(join(tmpdir(), 'altlas-peer-prof-')) : '');
const profileOptions = (label: string) => (profileDir ? `--cpu-prof --cpu-prof-dir=${join(profileDir, label)}` : '');
const budgets: Record<string, Map<string, number>> = {};
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** The budget by stage of a worker process's main thread (its profile) between `from` and `to`. */
function recordBudget(label: string, pid: number, window: { from: number; to: number }, used: Record<string, number>, worker: string): void {
  if (!STAGES_ON || !profileDir) return;
  const dir = join(profileDir, label);
  const file = readdirSync(dir).find((f) => f.includes(`.${pid}.0.`) && f.endsWith('.cpuprofile'));
  if (!file) return void console.log(`  (no CPU profile of the ${label} worker)`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  const main = used[`${worker} main thread`];
  budgets[label] = budgetPerJob(sampledByStage(profile, window), main, Math.max(0, used[worker] - main));
}

interface AiCounts { requests: number; connections: number; requestBytes: number }
async function aiCounts(url: string): Promise<AiCounts> {
  const { requests, connections, requestBytes } = (await (await fetch(`${url}/_stats`)).json()) as AiCounts;
  return { requests, connections, requestBytes };
}
/** The AI calls made since `before`, and a line on how they came: connections opened, body bytes per call. */
async function aiCalls(url: string, before: AiCounts): Promise<{ calls: number; line: string }> {
  const now = await aiCounts(url);
  const calls = now.requests - before.requests;
  return { calls, line: `fake AI: ${calls} calls over ${now.connections - before.connections} new connections, ${((now.requestBytes - before.requestBytes) / Math.max(1, calls)).toFixed(0)} request bytes per call` };
}

/**
 * One JetStream contestant: a fresh nats-server, the worker process `start` returns, every job
 * published to alt.submit, then the LAST stream watched until it holds a result per job. Any
 * AI call more or fewer than three per job, or any dead letter, fails the run.
 */
async function onJetStream(label: string, aiUrl: string, start: (server: NatsServer) => Promise<Child>, durable: string): Promise<Measured> {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  let worker: Child | null = null;
  let window = { from: 0, to: 0 };
  let used: Record<string, number> = {};
  try {
    worker = await start(server);
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const before = await aiCounts(aiUrl);
    const show = progress(`${label}: results stored`, JOBS);
    const cpu = cpuMeter({ [`${label} worker`]: worker.proc.pid, 'nats-server': server.pid, 'fake AI': aiPid, bench: process.pid }, [`${label} worker`]);
    const t0 = performance.now();
    window.from = monotonicUs();
    const pending: Promise<unknown>[] = [];
    for (const j of jobs) {
      pending.push(js.publish('alt.submit', j.alt));
      if (pending.length >= 256) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    for (;;) {
      const stored = (await jsm.streams.info('LAST')).state.messages;
      show(stored);
      if (process.env.BENCH_DEBUG) console.log(JSON.stringify({ stored, ai: await fetch(`${aiUrl}/_stats`).then((r) => r.json()).then((x: any) => ({ inFlight: x.inFlight, max: x.maxInFlight, requests: x.requests })), consumer: await jsm.consumers.info('ALT', durable).then((c) => ({ ack_pending: c.num_ack_pending, pending: c.num_pending, waiting: c.num_waiting })) }));
      if (stored >= JOBS) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = since(t0);
    window.to = monotonicUs();
    const measured = cpu(JOBS);
    used = measured.perJob;
    console.log(`  ${measured.line}; ${label} worker peak RSS ${mb(rssOf(worker.proc.pid!).peak)}`);
    const { calls, line } = await aiCalls(aiUrl, before);
    console.log(`  ${line}`);
    const dlq = await jsm.streams.info('ALT_DLQ').then((i) => i.state.messages, () => 0);
    if (calls !== JOBS * 3 || dlq !== 0) throw new Error(`${label}: ${calls} AI calls for ${JOBS * 3} tasks, ${dlq} dead letters`);
    return { jobsPerS: JOBS / seconds, cpuUsPerJob: used[`${label} worker`], serverUsPerJob: used['nats-server'] };
  } finally {
    await nc.close();
    await worker?.stop();
    await server.dispose();
    if (worker && window.to) recordBudget(label, worker.proc.pid!, window, used, `${label} worker`);
  }
}

/** `altlas worker` in its default configuration. */
const altlas = (aiUrl: string) => onJetStream('altlas', aiUrl, (server) => startWorkerProcess({
  NATS_URL: server.url, AI_URL: aiUrl, RUNNER_CONCURRENCY: String(CONCURRENCY), AI_MAX_CONCURRENCY: String(CONCURRENCY * 3),
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', NODE_OPTIONS: `${process.env.BENCH_WORKER_NODE_OPTIONS ?? ''} ${profileOptions('altlas')}`.trim(),
}), 'runner');

/** The bare JetStream loop with the same AI calls (./peer-floor-worker.ts) on streams made here. */
const floor = (aiUrl: string) => onJetStream('floor', aiUrl, async (server) => {
  const nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'ALT', subjects: ['alt.>'] });
  await jsm.streams.add({ name: 'LAST', subjects: ['last.>'] });
  await jsm.consumers.add('ALT', { durable_name: 'floor', ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_ack_pending: 10_000 });
  await nc.close();
  return startScript(new URL('./peer-floor-worker.ts', import.meta.url).pathname, { NATS_URL: server.url, AI_URL: aiUrl, CONCURRENCY: String(CONCURRENCY), NODE_OPTIONS: profileOptions('floor') });
}, 'floor');

async function bullmq(aiUrl: string, http: 'got' | 'fetch'): Promise<Measured> {
  const name = `altlas-peer-${process.pid}-${Date.now()}`;
  const redis = new URL(REDIS_URL);
  const connection = { host: redis.hostname, port: Number(redis.port || 6379) };
  const queue = new Queue(name, { connection });
  const worker = await startScript(new URL('./peer-bullmq-worker.ts', import.meta.url).pathname, { QUEUE: name, REDIS_URL, AI_URL: aiUrl, CONCURRENCY: String(CONCURRENCY), PEER_HTTP: http, NODE_OPTIONS: profileOptions('bullmq') });
  const window = { from: 0, to: 0 };
  let used: Record<string, number> = {};
  try {
    const before = await aiCounts(aiUrl);
    const show = progress('BullMQ: jobs completed', JOBS);
    const cpu = cpuMeter({ 'BullMQ worker': worker.proc.pid, 'redis-server': localRedisPid(), 'fake AI': aiPid, bench: process.pid }, ['BullMQ worker']);
    const t0 = performance.now();
    window.from = monotonicUs();
    for (let i = 0; i < JOBS; i += 256) await queue.addBulk(jobs.slice(i, i + 256).map((j) => ({ name: 'chained', data: { id: j.id, prompts: j.prompts } })));
    for (;;) {
      const done = await queue.getCompletedCount();
      show(done);
      if (done >= JOBS) break;
      if ((await queue.getFailedCount()) > 0) throw new Error('BullMQ: a job failed');
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = since(t0);
    window.to = monotonicUs();
    const measured = cpu(JOBS);
    used = measured.perJob;
    console.log(`  ${measured.line}`);
    const { calls, line } = await aiCalls(aiUrl, before);
    console.log(`  ${line}`);
    if (calls !== JOBS * 3) throw new Error(`BullMQ: ${calls} AI calls for ${JOBS * 3} tasks`);
    return { jobsPerS: JOBS / seconds, cpuUsPerJob: used['BullMQ worker'], serverUsPerJob: used['redis-server'] };
  } finally {
    await worker.stop();
    if (window.to) recordBudget('bullmq', worker.proc.pid!, window, used, 'BullMQ worker');
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
}

/** Warms the fake AI up with `n` inference calls, CONCURRENCY at a time (see the top of this file). */
async function warmFakeAi(url: string, n: number): Promise<void> {
  let sent = 0;
  const body = JSON.stringify({ model_id: 'default', inputs: jobs[0].prompts[0], parameters: { temperature: 0.2 } });
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (sent++ < n) await (await fetch(`${url}/api/inference/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).arrayBuffer();
  }));
}

const ai = await startFakeAiProcess();
const aiPid = ai.proc.pid;
const only = process.env.BENCH_ONLY;
try {
  console.log(`bench:peer: ${JOBS} jobs of 3 chained AI calls (prompts ~300 bytes), concurrency ${CONCURRENCY}, fake AI over HTTP in its own process (warmed up with ${WARM_CALLS} calls first)`);
  await warmFakeAi(ai.url, WARM_CALLS);
  const rate = (name: string, label: string, run: () => Promise<Measured>) => (!only || only === name ? run().then((r) => (console.log(`${label} ${r.jobsPerS.toFixed(0)} jobs/s`), r)) : Promise.resolve(undefined));
  const ours = await rate('altlas', 'altlas-runner (default configuration):  ', () => altlas(ai.url));
  const theirs = await rate('bullmq', `BullMQ (Redis ${REDIS_URL}):`, () => bullmq(ai.url, 'got'));
  const bare = await rate('floor', 'floor (bare JetStream loop, same calls):', () => floor(ai.url));
  const figures = peerFigures(ours, theirs, bare);
  const ratio = (label: string, v: number | null, note: string) => v === null || console.log(`  ${label.padEnd(52)} ${v.toFixed(2)} ${note}`);
  const target = (v: number | null, goal: string, met: (v: number) => boolean) => (v === null ? '' : `(target ${goal}: ${met(v) ? 'met' : 'NOT met'})`);
  if (!only) console.log('\nratios');
  ratio('altlas / BullMQ, jobs/s', figures.altlas_over_bullmq, target(figures.altlas_over_bullmq, '>= 1.1', (v) => v >= 1.1));
  ratio('floor / BullMQ, jobs/s', over(bare?.jobsPerS, theirs?.jobsPerS), '(the most any JetStream worker making these got calls reaches here)');
  ratio('altlas / floor, jobs/s', figures.altlas_over_floor, target(figures.altlas_over_floor, '>= 0.95', (v) => v >= 0.95));
  ratio('worker CPU per job, altlas / BullMQ', figures.cpu_altlas_over_bullmq, target(figures.cpu_altlas_over_bullmq, '<= 0.9', (v) => v <= 0.9));
  ratio('(worker + nats-server) / (worker + Redis), CPU per job', figures.cpu_with_server_altlas_over_bullmq, target(figures.cpu_with_server_altlas_over_bullmq, '<= 1.0', (v) => v <= 1));
  if (Object.keys(budgets).length) console.log(`\n${budgetTable(budgets)}\n  (from a V8 CPU profile of each worker process, --cpu-prof, its main thread's samples while the jobs ran scaled to that thread's CPU time; BENCH_STAGES=0 runs without the profiler)`);
  console.log(jsonLine(figures));
} finally {
  await ai.stop();
  if (profileDir && !keptProfiles) rmSync(profileDir, { recursive: true, force: true });
}
