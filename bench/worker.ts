/**
 * `npm run bench:worker`: the worker's throughput and memory, each figure a ratio inside one run.
 *
 * Throughput (BENCH_JOBS ~1 KB jobs of three chained tasks, default 20,000; concurrency 64; an
 * instant AI in the process, so that the figures are the runner's own cost). Every phase runs in
 * a fresh process against one nats-server started here, first BENCH_WARMUP jobs (default 10,000)
 * that are not measured (V8 compiling the hot code and sizing its heap: a worker does that once
 * per start), then the measured BENCH_JOBS; the rate of the warm-up jobs is printed beside:
 *   baseline          a bare loop: consume, publish a small result, ack
 *   protocol floor    the same loop with a result as large as a `.last`
 *   worker            decode → graph → `.last` → publish → ack; no job status, no checkpoints
 *   default           as `altlas worker` runs by default: job status and checkpoints, job history,
 *                     info logs (JSON, to a null stream), Prometheus metrics
 *   no-history        default with HISTORY_ENABLED=false (the ratio default / no-history is what
 *                     writing each job's events costs)
 *   telemetry 100 %   default + tracing and metrics exported by OTLP/HTTP to a local sink, every trace sampled
 *                     (the sink runs in the phase's own process: its CPU, a few requests a second, is in the phase's)
 *   telemetry 10 %    the same with a 10 % trace-id ratio sampler
 *
 * Memory and start-up, measured on `altlas worker` processes over HTTP (the fake AI in its own process):
 *   peak RSS (VmHWM) while a backlog of BENCH_BACKLOG jobs (default 20,000) drains
 *   RSS with 1,000 jobs in flight, each waiting on an AI call that takes 5 s
 *   exec of `altlas worker` → first `.last` stored; then, in a second start, the modules loaded and
 *   the CPU used by the first pull request (./startup-probe.ts)
 *
 * Each phase prints the CPU per job of the worker process and of nats-server. BENCH_PROFILE=<dir>
 * writes a V8 CPU profile of each phase's measured part to <dir>/<phase>.cpuprofile; BENCH_THREADS=1
 * prints the CPU per job of each thread of the phase's process (main thread, V8 GC helpers);
 * BENCH_HEAP_PROFILE=<dir> writes a sampling heap profile of everything a phase allocated.
 * BENCH_MEMORY_PROBE=1 prints what the memory part's RSS is made of at its highest (./memory-probe.ts:
 * V8 heap by space, array buffers, malloc and the rest, mapped files); BENCH_HEAP_SNAPSHOT=<dir> with it
 * writes a heap snapshot of each of its two workers there when its part ends.
 * BENCH_NODE_FLAGS=<flags> starts each throughput phase's process with those Node.js and V8 flags (as
 * bin/altlas gives `altlas worker` its own; by default the phases run with V8's sizing, not those).
 * BENCH_ONLY=<names> (comma-separated: baseline, floor, worker, default, no-history, telemetry-100, telemetry-10,
 * memory, startup: the start-up part alone) runs only those parts, the phases in the order given (to alternate
 * which of two goes first), and prints only the rows and ratios they give.
 *
 * The CPU budget per job by stage (./stages.ts) of the floor, worker, default, no-history and telemetry
 * phases comes from a V8 CPU profile of each phase's measured part (BENCH_STAGES=0: no profiler).
 * The last line printed is one line of JSON of the figures (./figures.ts), for scripts. The worker
 * phases' connection writes once per event-loop turn as `altlas worker`'s does (BENCH_COALESCE=0: as
 * the NATS client does by itself).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { loadConfig } from '../src/config/load.ts';
import { NatsServer } from '../src/devtools/nats-server.ts';
import { assembleWorker } from '../src/runner.ts';
import { coalesceWrites } from '../src/messaging/coalesce.ts';
import { createLogger, silentLogger } from '../src/telemetry/logger.ts';
import { RunnerMetrics } from '../src/telemetry/metrics.ts';
import { startTelemetry } from '../src/telemetry/sdk.ts';
import type { TaskBody } from '../src/engine/types.ts';
import { jsonLine, workerFigures } from './figures.ts';
import { budgetPerJob, budgetTable, sampledByStage, type CpuProfile } from './stages.ts';
import { cpuSecondsOf, mb, threadCpuOf, rssOf, spawnWorkerProcess, startFakeAiProcess, startWorkerProcess } from './processes.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 20_000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 10_000);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const IN_FLIGHT = 1_000;

const payload = (i: number) => JSON.stringify({
  id: `bench-${i}`, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `Benchmark job ${i}: summarise the quarterly sales report`,
  description: 'A three-step job of about one kilobyte, as a segmentation service would send it.',
  mode: 'normal', persona: 'technical_expert',
  tasks: [1, 2, 3].map((t) => ({
    id: `task_00${t}`, description: `Step ${t}: read the previous output and write a short paragraph about region ${t} of the report.`,
    dependencies: t > 1 ? [`task_00${t - 1}`] : [], parameters: { temperature: 0.2, max_tokens: 256, format: 'text' }, timeout_seconds: 60, retry_count: 1,
  })),
  metadata: { source: 'bench', tags: ['bench', 'sales'], priority: 'medium' },
});

const instant: TaskBody = async (task) => ({ text: `answer to ${task.id}`, model_used: 'instant', tokens_used: 8, processing_time_ms: 0 });

async function publishAll(nc: NatsConnection, n: number, label: string): Promise<void> {
  const js = jetstream(nc);
  const window: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    window.push(js.publish('alt.submit', payload(i)));
    if (window.length >= 512) await Promise.all(window.splice(0));
    if ((i + 1) % 10_000 === 0) process.stdout.write(`  ${label}: published ${i + 1}/${n}\n`);
  }
  await Promise.all(window);
}

/** Deletes every stream and bucket of the previous phase and creates an empty ALT stream. */
async function freshStreams(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for await (const s of jsm.streams.list()) await jsm.streams.delete(s.config.name);
  await jsm.streams.add({ name: 'ALT', subjects: ['alt.>'] });
}

interface PhaseResult {
  /** Jobs per second of the warm-up jobs (from the first pull to the last warm-up job done). */
  warmupJobsPerS?: number;
  jobsPerS: number;
  cpuUsPerJob: number;
  p50?: number;
  p99?: number;
  otlpRequests?: number;
  serverUsPerJob?: number;
  kvWrites?: { status: number; checkpoints: number };
  /** History messages stored per job (a job's events go together). */
  historyEvents?: number;
  /** CPU µs per job by stage, from a CPU profile of the measured window (unless BENCH_STAGES=0). */
  stages?: Record<string, number>;
}

const STAGES_ON = process.env.BENCH_STAGES !== '0';

/**
 * The measured window of a phase: `start` when the warm-up jobs are done, `stop` after the
 * measured ones. CPU of this process, of its threads and of nats-server; the profilers run inside.
 */
class Meter {
  readonly #serverPid = Number(process.env.BENCH_NATS_PID);
  readonly #began = performance.now();
  #t0 = 0;
  #cpu0: NodeJS.CpuUsage = process.cpuUsage();
  #server0 = 0;
  #threads0 = new Map<string, number>();
  #profile: Promise<(() => Promise<object>) | null> = Promise.resolve(null);
  #main0 = 0;
  #window = { from: 0, to: 0, jobs: 0, mainUs: 0, otherUs: 0 };
  #heap: Promise<(() => Promise<object>) | null> = Promise.resolve(null);
  warmupJobsPerS: number | undefined;

  start(warmupJobs: number): void {
    if (warmupJobs) this.warmupJobsPerS = warmupJobs / ((performance.now() - this.#began) / 1000);
    this.#server0 = cpuSecondsOf(this.#serverPid);
    this.#threads0 = threadCpuOf(process.pid);
    if (process.env.BENCH_PROFILE || STAGES_ON) this.#profile = startProfiler('Profiler');
    if (process.env.BENCH_HEAP_PROFILE) this.#heap = startProfiler('HeapProfiler');
    this.#main0 = cpuSecondsOf(process.pid, process.pid);
    this.#window.from = Number(process.hrtime.bigint() / 1000n);
    this.#cpu0 = process.cpuUsage();
    this.#t0 = performance.now();
  }

  /** Ends the window: rate and CPU per job of `n` jobs (profiles are saved by `save`). */
  stop(n: number): PhaseResult {
    const seconds = (performance.now() - this.#t0) / 1000;
    const cpu = process.cpuUsage(this.#cpu0);
    const mainUs = ((cpuSecondsOf(process.pid, process.pid) - this.#main0) / n) * 1e6;
    this.#window = { ...this.#window, to: Number(process.hrtime.bigint() / 1000n), jobs: n, mainUs, otherUs: Math.max(0, (cpu.user + cpu.system) / n - mainUs) };
    const r: PhaseResult = { warmupJobsPerS: this.warmupJobsPerS, jobsPerS: n / seconds, cpuUsPerJob: (cpu.user + cpu.system) / n, serverUsPerJob: ((cpuSecondsOf(this.#serverPid) - this.#server0) / n) * 1e6 };
    if (process.env.BENCH_THREADS) {
      for (const [name, sec] of threadCpuOf(process.pid)) process.stderr.write(`  thread ${name}: ${(((sec - (this.#threads0.get(name) ?? 0)) / n) * 1e6).toFixed(0)} µs/job\n`);
    }
    return r;
  }

  /**
   * Writes the profiles taken in the window (BENCH_PROFILE, BENCH_HEAP_PROFILE) and gives the CPU
   * µs per job by stage of the window's samples (see ./stages.ts).
   */
  async save(phase: string): Promise<Record<string, number> | undefined> {
    const write = async (dir: string | undefined, file: string, stop: (() => Promise<object>) | null) => {
      if (!dir || !stop) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, file), JSON.stringify(await stop()));
    };
    await write(process.env.BENCH_HEAP_PROFILE, `${phase}.heapprofile`, await this.#heap);
    const stop = await this.#profile;
    if (!stop) return undefined;
    const profile = (await stop()) as CpuProfile;
    if (process.env.BENCH_PROFILE) await write(process.env.BENCH_PROFILE, `${phase}.cpuprofile`, async () => profile);
    if (!STAGES_ON) return undefined;
    // /proc counts CPU in 10 ms ticks: the main thread's share is scaled from them.
    return Object.fromEntries(budgetPerJob(sampledByStage(profile, this.#window), this.#window.mainUs, this.#window.otherUs));
  }
}

/** An OTLP/HTTP endpoint that accepts and drops everything, counting requests. */
async function otlpSink(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests, close: () => new Promise((r) => server.close(() => r())) };
}

/** The bare loop: consume, publish a result, ack. `large` publishes a result as large as a `.last`. */
async function runBaseline(nc: NatsConnection, meter: Meter, n: number, large: boolean): Promise<PhaseResult> {
  const result = large ? JSON.stringify({ status: 'success', padding: 'x'.repeat(3_900) }) : '{"status":"success"}';
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await jsm.streams.add({ name: 'LAST', subjects: ['last.>'] });
  await jsm.consumers.add('ALT', { durable_name: 'baseline', ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_ack_pending: 10_000 });
  const consumer = await js.consumers.get('ALT', 'baseline');
  const total = WARMUP + n;
  let done = 0;
  let inFlight = 0;
  let wake: (() => void) | null = null;
  if (!WARMUP) meter.start(0);
  const messages = await consumer.consume({ max_messages: CONCURRENCY });
  for await (const m of messages) {
    inFlight++;
    void js.publish(`last.${m.seq}`, result, { msgID: `b:${m.seq}` }).then(() => {
      m.ack();
      inFlight--;
      if (++done === WARMUP) meter.start(WARMUP);
      wake?.();
    });
    while (inFlight >= CONCURRENCY) await new Promise<void>((r) => (wake = r));
    if (done + inFlight >= total) break;
  }
  while (done < total) await new Promise<void>((r) => (wake = r));
  const r = meter.stop(n);
  await messages.close();
  return r;
}

async function runWorkerPhase(nc: NatsConnection, meter: Meter, url: string, n: number, phase: string): Promise<PhaseResult> {
  const defaults = phase !== 'worker';
  let sink: Awaited<ReturnType<typeof otlpSink>> | null = null;
  let metrics: RunnerMetrics | null = null;
  let telemetry: Awaited<ReturnType<typeof startTelemetry>> | null = null;
  if (defaults) {
    if (phase.startsWith('telemetry')) {
      sink = await otlpSink();
      Object.assign(process.env, {
        OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_METRIC_EXPORT_INTERVAL: '1000',
        OTEL_TRACES_SAMPLER: phase === 'telemetry-10' ? 'parentbased_traceidratio' : 'always_on', OTEL_TRACES_SAMPLER_ARG: '0.1',
      });
    }
    telemetry = await startTelemetry();
    metrics = new RunnerMetrics({ inFlight: () => 0, breakerState: () => 'closed', consumer: () => null });
  }
  const config = loadConfig({ NATS_URL: url, RUNNER_CONCURRENCY: String(CONCURRENCY), RUNNER_JANITOR_INTERVAL_MS: '0', HISTORY_ENABLED: String(phase !== 'no-history') });
  const nullStream = new Writable({ write: (_c, _e, cb) => cb() });
  const logger = defaults ? createLogger({ level: 'info', stream: nullStream }) : silentLogger();
  const latencies: number[] = [];
  const total = WARMUP + n;
  let done = 0;
  let resolveDone!: () => void;
  const finished = new Promise<void>((r) => (resolveDone = r));
  if (!WARMUP) meter.start(0);
  // As `altlas worker` connects (src/messaging/connect.ts): one socket write per event-loop turn.
  if (process.env.BENCH_COALESCE !== '0') coalesceWrites(nc);
  const stack = await assembleWorker({
    conn: { nc, connected: () => true, onReconnect: () => {} }, config, logger, body: instant, stores: defaults, metrics: () => metrics,
    onOutcome: (o) => {
      if (++done > WARMUP) latencies.push(o.durationMs);
      if (done === WARMUP) meter.start(WARMUP);
      if (done >= total) resolveDone();
    },
  });
  await finished;
  const r = meter.stop(n);
  // Status and checkpoint writes per job: every put is one stream message (last_seq counts them all).
  const writes = async (bucket: string) => (await (await jetstreamManager(nc)).streams.info(`KV_${bucket}`).then((i) => i.state.last_seq, () => 0)) / total;
  const kvWrites = defaults ? { status: await writes(config.RUNNER_STATUS_BUCKET), checkpoints: await writes(config.RUNNER_CHECKPOINT_BUCKET) } : undefined;
  const historyEvents = config.HISTORY_ENABLED && defaults ? (await (await jetstreamManager(nc)).streams.info(config.HISTORY_STREAM).then((i) => i.state.messages, () => 0)) / total : undefined;
  await stack.close();
  await telemetry?.shutdown();
  await sink?.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
  return { ...r, p50: pct(0.5), p99: pct(0.99), otlpRequests: sink?.requests(), kvWrites, historyEvents };
}

/**
 * Starts one of V8's profilers in this process through the inspector (`Profiler` for CPU time,
 * `HeapProfiler` for allocations); the returned function stops it and gives the profile.
 */
async function startProfiler(kind: 'Profiler' | 'HeapProfiler'): Promise<() => Promise<object>> {
  const session = new Session();
  session.connect();
  const post = (method: string, params: object = {}) => new Promise<{ profile?: object }>((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r as { profile?: object }))));
  await post(`${kind}.enable`);
  // The heap profiler keeps the objects collected since: what a phase allocated, not what it retained.
  if (kind === 'HeapProfiler') await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  else await post('Profiler.start');
  return async () => {
    const { profile } = await post(kind === 'HeapProfiler' ? 'HeapProfiler.stopSampling' : 'Profiler.stop');
    session.disconnect();
    return profile!;
  };
}

/** One phase in this process (the parent runs each phase in a fresh child): prints its result as JSON. */
async function phaseMain(phase: string, url: string): Promise<void> {
  const nc = await connect({ servers: url });
  await freshStreams(nc);
  await publishAll(nc, WARMUP + JOBS, phase);
  const meter = new Meter();
  const r = phase === 'baseline' || phase === 'floor' ? await runBaseline(nc, meter, JOBS, phase === 'floor') : await runWorkerPhase(nc, meter, url, JOBS, phase);
  r.stages = await meter.save(phase);
  await nc.close();
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
  process.exit(0);
}

function runPhase(phase: string, url: string, serverPid: number): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []), '--disable-warning=ExperimentalWarning', import.meta.filename], { env: { ...process.env, BENCH_PHASE: phase, BENCH_NATS_URL: url, BENCH_NATS_PID: String(serverPid) }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const l of lines) if (!l.startsWith('RESULT ')) process.stdout.write(`${l}\n`);
        else resolve(JSON.parse(l.slice(7)) as PhaseResult);
    });
    child.once('exit', (code) => (code ? reject(new Error(`phase ${phase} exited with ${code}`)) : undefined));
  });
}

/** Waits until the LAST stream holds `n` messages, printing progress. */
async function waitForLasts(nc: NatsConnection, n: number, label: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  let shown = 0;
  for (;;) {
    const stored = await jsm.streams.info('LAST').then((i) => i.state.messages, () => 0);
    if (stored >= n) return;
    if (Date.now() - shown > 2_000) {
      process.stdout.write(`  ${label}: ${stored}/${n} .last stored\n`);
      shown = Date.now();
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What the start-up probe (./startup-probe.ts) saw at the first pull request. */
interface AtFirstPull { modules: number; cpu_ms: number; since_start_ms: number; top: Record<string, number> }

/**
 * exec of `altlas worker` → first `.last` stored (the job waits in ALT before the process starts);
 * then a second start with the start-up probe: modules loaded and CPU used by the first pull.
 */
async function startup(nc: NatsConnection, env: NodeJS.ProcessEnv): Promise<{ startMs: number; atFirstPull: AtFirstPull | null }> {
  await freshStreams(nc);
  await publishAll(nc, 1, 'start-up');
  const t0 = performance.now();
  const proc = spawnWorkerProcess(env);
  await waitForLasts(nc, 1, 'start-up');
  const startMs = performance.now() - t0;
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));

  const probe = spawnWorkerProcess({ ...env, LOG_LEVEL: 'info', NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${join(import.meta.dirname, 'startup-probe.ts')}`.trim() }, 'pipe');
  let err = '';
  const line = await new Promise<string | null>((resolve) => {
    probe.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /^startup-probe (.*)$/m.exec(err);
      if (m) resolve(m[1]);
    });
    probe.once('exit', () => resolve(null));
  });
  probe.kill('SIGTERM');
  if (probe.exitCode === null) await new Promise((r) => probe.once('exit', r));
  return { startMs, atFirstPull: line ? (JSON.parse(line) as AtFirstPull) : null };
}

/** What ./memory-probe.ts saw at a process's highest RSS (MB), or null without BENCH_MEMORY_PROBE. */
type Composition = Record<string, unknown> | null;

/** With BENCH_MEMORY_PROBE=1 the memory part's workers load ./memory-probe.ts (BENCH_HEAP_SNAPSHOT=<dir>: and write a heap snapshot there). */
function probeEnv(env: NodeJS.ProcessEnv, name: string): NodeJS.ProcessEnv {
  if (process.env.BENCH_MEMORY_PROBE !== '1') return env;
  const dir = process.env.BENCH_HEAP_SNAPSHOT;
  if (dir) mkdirSync(dir, { recursive: true });
  return { ...env, ...(dir ? { MEMORY_PROBE_SNAPSHOT: join(dir, `${name}.heapsnapshot`) } : {}), NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${join(import.meta.dirname, 'memory-probe.ts')}`.trim() };
}

/** Asks the probe for its peak sample (and snapshot), then prints it. */
async function composition(child: { proc: import('node:child_process').ChildProcess; output: string[] }, name: string): Promise<Composition> {
  if (process.env.BENCH_MEMORY_PROBE !== '1') return null;
  const want = process.env.BENCH_HEAP_SNAPSHOT ? /memory-probe snapshot / : /memory-probe \{/;
  child.output.length = 0;
  child.proc.kill('SIGUSR2');
  while (!want.test(child.output.join(''))) await new Promise((r) => setTimeout(r, 50));
  const line = /memory-probe (\{.*\})/.exec(child.output.join(''))![1];
  console.log(`  ${name}: at the highest RSS ${line}`);
  return JSON.parse(line) as Composition;
}

/** Peak RSS while a backlog drains; RSS with 1,000 jobs in flight on 5 s AI calls. */
async function memory(nc: NatsConnection, env: NodeJS.ProcessEnv, ai: { url: string }): Promise<{ backlogPeak: number; drainCpuUsPerJob: number; inFlightRss: number; drainAt: Composition; inFlightAt: Composition }> {
  // Peak RSS while a backlog drains.
  await freshStreams(nc);
  await publishAll(nc, BACKLOG, 'backlog');
  const drain = await startWorkerProcess(probeEnv({ ...env, RUNNER_CONCURRENCY: String(CONCURRENCY), AI_MAX_CONCURRENCY: String(CONCURRENCY) }, 'drain'));
  const cpu0 = cpuSecondsOf(drain.proc.pid!);
  await waitForLasts(nc, BACKLOG, 'backlog');
  const backlogPeak = rssOf(drain.proc.pid!).peak;
  const drainCpuUsPerJob = ((cpuSecondsOf(drain.proc.pid!) - cpu0) / BACKLOG) * 1e6;
  const drainAt = await composition(drain, 'drain');
  await drain.stop();

  // 1,000 jobs in flight, each waiting 5 s on its first AI call.
  await freshStreams(nc);
  await fetch(`${ai.url}/_faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs: 5_000 }) });
  await publishAll(nc, IN_FLIGHT, 'in-flight');
  const held = await startWorkerProcess(probeEnv({ ...env, RUNNER_CONCURRENCY: String(IN_FLIGHT), AI_MAX_CONCURRENCY: String(IN_FLIGHT) }, 'in-flight'));
  for (;;) {
    const stats = (await (await fetch(`${ai.url}/_stats`)).json()) as { inFlight: number };
    if (stats.inFlight >= IN_FLIGHT) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const inFlightRss = rssOf(held.proc.pid!).rss;
  const inFlightAt = await composition(held, 'in flight');
  await held.stop();
  return { backlogPeak, drainCpuUsPerJob, inFlightRss, drainAt, inFlightAt };
}

/** The start-up part and the memory part, on `altlas worker` processes with the fake AI over HTTP. */
async function memoryAndStartup(server: NatsServer, parts: { startup: boolean; memory: boolean }): Promise<{ backlogPeak?: number; drainCpuUsPerJob?: number; inFlightRss?: number; drainAt?: Composition; inFlightAt?: Composition; startMs?: number; atFirstPull?: AtFirstPull | null }> {
  const nc = await connect({ servers: server.url });
  const ai = await startFakeAiProcess();
  const env = { NATS_URL: server.url, AI_URL: ai.url, LOG_LEVEL: 'info' };
  try {
    return { ...(parts.startup ? await startup(nc, env) : {}), ...(parts.memory ? await memory(nc, env, ai) : {}) };
  } finally {
    await nc.close();
    await ai.stop();
  }
}

if (process.env.BENCH_PHASE) {
  await phaseMain(process.env.BENCH_PHASE, process.env.BENCH_NATS_URL!);
} else {
  const server = await NatsServer.start();
  try {
    console.log(`bench:worker: ${JOBS} jobs of ${payload(0).length} bytes, 3 chained tasks, concurrency ${CONCURRENCY}; each phase in a fresh process, measured after ${WARMUP} warm-up jobs`);
    const phases = ['baseline', 'floor', 'worker', 'default', 'no-history', 'telemetry-100', 'telemetry-10'];
    const only = process.env.BENCH_ONLY?.split(',').map((x) => x.trim()).filter(Boolean);
    const runs = (name: string) => !only || only.includes(name);
    const unknown = only?.filter((x) => x !== 'memory' && x !== 'startup' && !phases.includes(x)) ?? [];
    if (unknown.length) throw new Error(`BENCH_ONLY: unknown part(s) ${unknown.join(', ')}; the parts are ${[...phases, 'memory', 'startup'].join(', ')}`);
    const r: Record<string, PhaseResult> = {};
    // In BENCH_ONLY's order (`no-history,default` runs history off first), else the list's.
    for (const phase of only ? only.filter((x) => phases.includes(x)) : phases) {
      console.log(`phase ${phase}`);
      r[phase] = await runPhase(phase, server.url, server.pid!);
    }
    let m: Awaited<ReturnType<typeof memoryAndStartup>> | null = null;
    if (runs('memory') || runs('startup')) {
      console.log('memory and start-up of `altlas worker` processes (fake AI over HTTP)');
      m = await memoryAndStartup(server, { startup: true, memory: runs('memory') });
    }

    const row = (name: string, x: PhaseResult | undefined) => x && console.log(`  ${name.padEnd(34)} ${x.jobsPerS.toFixed(0).padStart(6)} jobs/s${x.warmupJobsPerS ? ` (warm-up ${x.warmupJobsPerS.toFixed(0).padStart(5)})` : ''} ${x.cpuUsPerJob.toFixed(0).padStart(5)} µs CPU/job (nats-server ${x.serverUsPerJob!.toFixed(0).padStart(3)} µs)${x.p50 !== undefined ? `  p50 ${x.p50.toFixed(1)} ms, p99 ${x.p99!.toFixed(1)} ms` : ''}${x.otlpRequests !== undefined ? `  (${x.otlpRequests} OTLP requests)` : ''}${x.kvWrites ? `  KV writes per job: status ${x.kvWrites.status.toFixed(2)}, checkpoints ${x.kvWrites.checkpoints.toFixed(2)}` : ''}${x.historyEvents !== undefined ? `  history messages per job: ${x.historyEvents.toFixed(2)}` : ''}`);
    if (Object.keys(r).length) {
      console.log('\nthroughput');
      row('baseline (bare loop)', r.baseline);
      row('protocol floor (4 KB result)', r.floor);
      row('worker (no status, no checkpoints)', r.worker);
      row('default configuration', r.default);
      row('default, history off', r['no-history']);
      row('telemetry on, 100 % sampled', r['telemetry-100']);
      row('telemetry on, 10 % sampled', r['telemetry-10']);
      const ratio = (name: string, a: string, b: string, target?: number) => {
        if (!r[a] || !r[b]) return;
        const v = r[a].jobsPerS / r[b].jobsPerS;
        console.log(`  ${name.padEnd(58)} ${v.toFixed(2)}${target === undefined ? '' : `  (target >= ${target}: ${v >= target ? 'met' : 'NOT met'})`}`);
      };
      console.log('\nratios');
      ratio('protocol floor / baseline', 'floor', 'baseline');
      ratio('worker / baseline', 'worker', 'baseline');
      ratio('worker / protocol floor', 'worker', 'floor', 0.8);
      ratio('default configuration / worker', 'default', 'worker', 0.95);
      ratio('default configuration / baseline', 'default', 'baseline');
      ratio('history on / off (default / default, history off)', 'default', 'no-history', 0.95);
      // A ratio with events dropped (HISTORY_BUFFER full) measures a history that was not written.
      const stored = r.default?.historyEvents;
      if (r['no-history'] && stored !== undefined && stored < 0.99) console.log(`    (not a measure of history: only ${stored.toFixed(2)} history messages per job were stored, one expected)`);
      ratio('telemetry 100 % / default configuration', 'telemetry-100', 'default', 0.85);
      ratio('telemetry 10 % / default configuration', 'telemetry-10', 'default', 0.95);
    }
    if (m) {
      const under = (name: string, v: number, limit: number, unit: string, show: string) => console.log(`  ${name.padEnd(58)} ${show}  (target < ${limit} ${unit}: ${v < limit ? 'met' : 'NOT met'})`);
      console.log('\nmemory and start-up');
      if (m.backlogPeak !== undefined) under(`peak RSS while ${BACKLOG} jobs drain`, m.backlogPeak / 1024 / 1024, 180, 'MB', `${mb(m.backlogPeak)} (worker CPU ${m.drainCpuUsPerJob!.toFixed(0)} µs per job)`);
      if (m.inFlightRss !== undefined) under(`RSS with ${IN_FLIGHT} jobs in flight on 5 s HTTP AI calls`, m.inFlightRss / 1024 / 1024, 200, 'MB', mb(m.inFlightRss));
      under('exec of altlas worker → first .last stored', m.startMs!, 700, 'ms', `${m.startMs!.toFixed(0)} ms`);
      const p = m.atFirstPull;
      console.log(`  ${'at the first pull (a second start)'.padEnd(58)} ${p ? `${p.modules} modules loaded, ${p.cpu_ms} ms CPU, ${p.since_start_ms} ms since exec; most modules: ${Object.entries(p.top).map(([k, v]) => `${k} ${v}`).join(', ')}` : 'the probe printed nothing'}`);
    }
    const budgets = Object.fromEntries(['floor', 'worker', 'default', 'no-history', 'telemetry-100', 'telemetry-10'].filter((p) => r[p]?.stages).map((p) => [p, new Map(Object.entries(r[p].stages!))]));
    if (Object.keys(budgets).length) console.log(`\n${budgetTable(budgets)}\n  (from a V8 CPU profile of each phase's measured part, its main thread's samples scaled to that thread's CPU time; BENCH_STAGES=0 runs without the profiler)`);
    console.log(jsonLine(workerFigures(r, m)));
  } finally {
    await server.dispose();
  }
}
