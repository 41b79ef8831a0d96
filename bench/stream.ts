/**
 * `npm run bench:stream`: live output measured over real processes (nats-server, the fake AI's
 * streaming OpenAI endpoint, `altlas worker`, `altlas watch`), each figure printed with its target.
 *
 * - ttft: BENCH_STREAMS (100) concurrent streamed answers, each followed by a watcher of its own:
 *   once in one process (what `altlas watch` runs, a NATS connection each), once as `altlas watch
 *   --json` processes: the time the watcher showed the first text minus the time the fake AI wrote
 *   the first token (both clocks of this machine), p50 / p99 / max, and where the time went;
 *   messages per answer against the stated bound.
 * - chaos: BENCH_ANSWERS (1,000) streamed answers, two workers of which one is SIGKILLed and
 *   restarted every 2–4 s, the workers' and the watchers' NATS connections cut at random (a TCP
 *   proxy); counted from the raw progress messages, the `.last` results and the fake AI's own
 *   record of what it answered: chunks lost or repeated within an attempt, attempts neither ended
 *   nor superseded, `.last`s whose answers are not whole, and what the watchers showed.
 * - throughput: jobs of three chained tasks, answers of 250 tokens, one worker: streamed with
 *   progress ÷ unstreamed, and ÷ unstreamed without progress, at a model's pace (250 tokens/s;
 *   BENCH_JOBS / 4 jobs) and CPU-bound (every token at once; BENCH_JOBS jobs); the worker's and the
 *   fake AI's CPU per job, progress messages per answer.
 *
 * BENCH_PHASES picks phases (comma-separated; default all). BENCH_PROFILE=<dir>: the throughput
 * phase's workers run with `--cpu-prof`, their profiles in <dir>/<pace>-<mode>-<round>/.
 * BENCH_BASE=<checkout>: the throughput phase also runs that checkout's worker, streamed and
 * unstreamed, in turn with the others (a change measured against the code before it in the same
 * run; its streamed mode is compared with its own unstreamed one). BENCH_ROUNDS:
 * rounds of each throughput comparison; BENCH_PACES=paced,cpu picks them. BENCH_WATCHERS=fleet,processes
 * picks the ttft phase's watchers (in one process, as processes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { RequestRecord } from '../src/ai/fake-orchestrator.ts';
import { NatsServer, freePort } from '../src/devtools/nats-server.ts';
import { TcpProxy } from '../src/devtools/tcp-proxy.ts';
import { decodeProgress, type ProgressMessage } from '../src/progress/message.ts';
import { IDENTITY_CODEC } from '../src/security/codec.ts';
import type { Last } from '../src/last/index.ts';
import { BIN, chainedJob, cpuSecondsOf, since, startScript, startWorkerProcess, type Child } from './processes.ts';

const env = process.env;
const PHASES = (env.BENCH_PHASES ?? 'ttft,chaos,throughput').split(',');
const STREAMS = Number(env.BENCH_STREAMS ?? 100);
const ANSWERS = Number(env.BENCH_ANSWERS ?? 1_000);
const JOBS = Number(env.BENCH_JOBS ?? 2_000);
const FLUSH_MS = 50;
const FLUSH_BYTES = 16_384;
const PROFILE = env.BENCH_PROFILE;
const BASE = env.BENCH_BASE;
/** Rounds of each throughput comparison (default: one at a model's pace, two CPU-bound). */
const ROUNDS = env.BENCH_ROUNDS ? Number(env.BENCH_ROUNDS) : null;
/** The throughput comparisons to run: at a model's pace (`paced`), CPU-bound (`cpu`). */
const PACES = (env.BENCH_PACES ?? 'paced,cpu').split(',');

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
const single = (id: string, text = 'Write about') => JSON.stringify({ id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: id, tasks: [{ id: 't1', description: `${text} of ${id}`, dependencies: [] }] });
const jobOf = (prompt: string) => / of ([a-z]+-\d+)\b/.exec(prompt)?.[1] ?? null;
/** An RFC 3339 time with nanoseconds (a stored message's) in milliseconds since the epoch, to the microsecond. */
const isoMs = (ts: string) => Date.parse(`${ts.slice(0, 19)}Z`) + Number(`0.${/\.(\d+)/.exec(ts)?.[1] ?? '0'}`) * 1_000;

/** The fake AI in its own process, recording every request. */
async function fakeAi(faults: Record<string, unknown>): Promise<Child & { url: string; log(): Promise<RequestRecord[]> }> {
  const port = await freePort();
  const proc = spawn(BIN, ['fake-orchestrator', '--port', String(port), '--record'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (c: Buffer) => /listening/.test(c.toString()) && resolve());
    proc.once('exit', (code) => reject(new Error(`the fake AI exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  await fetch(`${url}/_faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(faults) });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    proc, output: [], url,
    log: async () => (await fetch(`${url}/_log`)).json() as Promise<RequestRecord[]>,
    stop: async () => {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Every message of a stream, read by sequence (parallel batches). */
async function allMessages(jsm: JetStreamManager, stream: string) {
  const info = await jsm.streams.info(stream);
  const out: { seq: number; subject: string; data: Uint8Array; headers?: { get(k: string): string } }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq += 256) {
    const got = await Promise.all(Array.from({ length: Math.min(256, info.state.last_seq - seq + 1) }, (_, k) => jsm.streams.getMessage(stream, { seq: seq + k }).catch(() => null)));
    for (const m of got) if (m) out.push({ seq: m.seq, subject: m.subject, data: m.data, headers: m.header });
  }
  return out;
}

interface AttemptStats {
  job: string;
  task: string;
  first: number;
  deliveries: number | null;
  indices: number[];
  text: string;
  end: Extract<ProgressMessage, { type: 'end' }> | null;
}

/** The raw progress stream, per attempt in the order of each attempt's first message. */
async function rawAttempts(jsm: JetStreamManager): Promise<AttemptStats[]> {
  const by = new Map<string, AttemptStats>();
  for (const r of await allMessages(jsm, 'ALT_PROGRESS')) {
    const m = decodeProgress(r.data, IDENTITY_CODEC);
    if (!m) throw new Error(`message ${r.seq} is not progress`);
    let a = by.get(m.attempt);
    if (!a) by.set(m.attempt, (a = { job: m.job, task: m.task, first: r.seq, deliveries: m.deliveries, indices: [], text: '', end: null }));
    a.indices.push(m.index);
    a.text += m.text;
    if (m.type === 'end') a.end = m;
  }
  return [...by.values()];
}

/** Lost: indices missing before an attempt's last one; repeated: an index stored twice. */
function lostAndRepeated(attempts: AttemptStats[]): { lost: number; repeated: number; outOfOrder: number } {
  let lost = 0;
  let repeated = 0;
  let outOfOrder = 0;
  for (const a of attempts) {
    const seen = new Set<number>();
    for (const [k, i] of a.indices.entries()) {
      if (seen.has(i)) repeated++;
      seen.add(i);
      if (k > 0 && i < a.indices[k - 1]) outOfOrder++;
    }
    lost += Math.max(...a.indices) + 1 - seen.size;
  }
  return { lost, repeated, outOfOrder };
}

/** Messages of each attempt against the bound 2 + T / flushMs + B / flushBytes (T from the fake's record). */
function boundCheck(attempts: AttemptStats[], log: RequestRecord[]): { perAnswer: number; over: number; worst: string } {
  const byJob = new Map<string, RequestRecord[]>();
  for (const r of log) {
    const job = jobOf(r.prompt);
    if (job) byJob.set(job, [...(byJob.get(job) ?? []), r]);
  }
  let over = 0;
  let worst = 0;
  let worstText = '';
  for (const a of attempts) {
    // The longest request of the job bounds the attempt's duration from above.
    const ms = Math.max(...(byJob.get(a.job) ?? []).map((r) => (r.end ?? Date.now()) - r.start), 0);
    const bound = 2 + ms / FLUSH_MS + Buffer.byteLength(a.text) / FLUSH_BYTES;
    const n = a.indices.length;
    if (n > bound) over++;
    if (n / bound > worst) {
      worst = n / bound;
      worstText = `${n} messages for ${ms} ms and ${Buffer.byteLength(a.text)} bytes (bound ${bound.toFixed(0)})`;
    }
  }
  const answers = attempts.filter((a) => a.end?.outcome === 'ok').length;
  return { perAnswer: attempts.reduce((s, a) => s + a.indices.length, 0) / Math.max(1, answers), over, worst: worstText };
}

/** Watchers of `ids` as `altlas watch --json` processes: the time each printed its first text. */
async function watchProcesses(server: string, ids: string[]): Promise<{ firstText: Map<string, number>; done: Promise<unknown>; stop(): void }> {
  const firstText = new Map<string, number>();
  const procs: ChildProcess[] = [];
  const exits: Promise<number | null>[] = [];
  const waiting: Promise<void>[] = [];
  for (const id of ids) {
    const p = spawn(BIN, ['watch', id, '--json', '--server', server], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(p);
    let buf = '';
    p.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        const e = JSON.parse(l) as { type: string; at: number };
        if (e.type === 'text' && !firstText.has(id)) firstText.set(id, e.at);
      }
    });
    waiting.push(new Promise((resolve) => p.stderr!.on('data', (c: Buffer) => /waiting for it/.test(c.toString()) && resolve())));
    exits.push(new Promise((r) => p.once('exit', (code) => r(code))));
  }
  await Promise.all(waiting);
  return {
    firstText,
    done: Promise.all(exits).then((codes) => { if (codes.some((c) => c !== 0)) throw new Error(`watch exit codes ${codes.join(' ')}`); }),
    stop: () => procs.forEach((p) => p.exitCode === null && p.kill('SIGKILL')),
  };
}

/** Watchers of `ids` in one process (what `altlas watch` runs, one NATS connection each): the time each showed its first text. */
async function watchFleet(server: string, ids: string[]): Promise<{ firstText: Map<string, number>; done: Promise<unknown>; stop(): void }> {
  const firstText = new Map<string, number>();
  const fleet = await startScript(new URL('./stream-watchers.ts', import.meta.url).pathname, { NATS_URL: server, BENCH_JOBS: ids.join(','), BENCH_CONNECTIONS: String(ids.length), BENCH_CUT_MS: '0' });
  let buf = '';
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));
  fleet.proc.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      if (l.startsWith('done')) finished();
      if (!l.startsWith('{')) continue;
      const r = JSON.parse(l) as { job: string; firstTextAt: number | null };
      if (r.firstTextAt !== null) firstText.set(r.job, r.firstTextAt);
    }
  });
  return { firstText, done, stop: () => void fleet.stop() };
}

async function ttft(mode: 'processes' | 'fleet'): Promise<void> {
  console.log(`\nttft: ${STREAMS} concurrent streamed answers, each followed by ${mode === 'processes' ? 'its own altlas watch process' : 'a watcher of its own in one process (the code altlas watch runs, a NATS connection each)'}`);
  const server = await NatsServer.start();
  // About 6 s per answer: 150 tokens at 25 tokens/s after 200 ms; the jobs are published over 2 s, so all stream at once.
  const fake = await fakeAi({ firstTokenMs: 200, tokenRate: 25, outputChars: 600 });
  const nc = await connect({ servers: server.url });
  let watchers: Awaited<ReturnType<typeof watchFleet>> | null = null;
  let worker: Child | null = null;
  try {
    worker = await startWorkerProcess({ NATS_URL: server.url, AI_URL: fake.url, AI_PROVIDER: 'openai', RUNNER_CONCURRENCY: String(STREAMS), AI_MAX_CONCURRENCY: String(STREAMS), LOG_LEVEL: 'warn' });
    const ids = Array.from({ length: STREAMS }, (_, i) => `ttft-${i}`);
    watchers = mode === 'processes' ? await watchProcesses(server.url, ids) : await watchFleet(server.url, ids);
    const { firstText } = watchers;
    console.log(`  ${STREAMS} watchers waiting; publishing the jobs over 2 s (load average ${loadavg()[0].toFixed(1)})`);
    const js = jetstream(nc);
    const t0 = performance.now();
    for (const [i, id] of ids.entries()) {
      await js.publish('alt.submit', single(id));
      const due = t0 + ((i + 1) * 2_000) / STREAMS;
      if (performance.now() < due) await new Promise((r) => setTimeout(r, due - performance.now()));
    }
    await watchers.done;
    const log = await fake.log();
    const stats = await (await fetch(`${fake.url}/_stats`)).json() as { maxInFlight: number };
    const overhead: number[] = [];
    for (const r of log) {
      const id = jobOf(r.prompt);
      const seen = id ? firstText.get(id) : undefined;
      if (r.firstTokenAt !== null && seen !== undefined) overhead.push(seen - r.firstTokenAt);
    }
    overhead.sort((a, b) => a - b);
    const jsm = await jetstreamManager(nc);
    const attempts = await rawAttempts(jsm);
    // Where the time goes: provider's first token → stored in the stream (worker, NATS) → shown by the watch.
    const toStore: number[] = [];
    const toWatch: number[] = [];
    for (const a of attempts) {
      const stored = isoMs((await jsm.streams.getMessage('ALT_PROGRESS', { seq: a.first }))!.timestamp);
      const r = log.find((x) => jobOf(x.prompt) === a.job && x.firstTokenAt !== null);
      const seen = firstText.get(a.job);
      if (r && seen !== undefined) {
        toStore.push(stored - r.firstTokenAt!);
        toWatch.push(seen - stored);
      }
    }
    toStore.sort((x, y) => x - y);
    toWatch.sort((x, y) => x - y);
    const b = boundCheck(attempts, log);
    console.log(`  every watcher saw its .last; answers streamed at once at most: ${stats.maxInFlight}; load average ${loadavg()[0].toFixed(1)}`);
    console.log(`  time to first token seen by altlas watch minus the provider's own: p50 ${pct(overhead, 0.5).toFixed(1)} ms, p99 ${pct(overhead, 0.99).toFixed(1)} ms, max ${overhead.at(-1)!.toFixed(1)} ms over ${overhead.length} streams (target p99 <= 20 ms: ${met(pct(overhead, 0.99) <= 20)})`);
    console.log(`    of which first token → stored in ALT_PROGRESS (worker, nats-server): p50 ${pct(toStore, 0.5).toFixed(1)} ms, p99 ${pct(toStore, 0.99).toFixed(1)} ms; stored → shown by the watch (republish, the watch process): p50 ${pct(toWatch, 0.5).toFixed(1)} ms, p99 ${pct(toWatch, 0.99).toFixed(1)} ms`);
    console.log(`  NATS messages per answer: ${b.perAnswer.toFixed(1)} (6 s answers of 600 characters; bound 2 + T/${FLUSH_MS} ms + B/${FLUSH_BYTES} B per attempt; attempts over it: ${b.over}, ${met(b.over === 0)}; closest: ${b.worst})`);
  } finally {
    watchers?.stop();
    await worker?.stop();
    await nc.close();
    await fake.stop();
    await server.dispose();
  }
}

async function chaos(): Promise<void> {
  console.log(`\nchaos: ${ANSWERS} streamed answers; two workers, one SIGKILLed and restarted every 2–4 s; workers' and watchers' NATS connections cut at random`);
  const server = await NatsServer.start();
  const proxy = await TcpProxy.start(server.port);
  // About 1 s per answer: 100 tokens at 100 tokens/s.
  const fake = await fakeAi({ firstTokenMs: 50, tokenRate: 100, outputChars: 400 });
  const nc = await connect({ servers: server.url });
  const workers: (Child | null)[] = [null, null];
  let stop = false;
  let kills = 0;
  let failedStarts = 0;
  let watchers: Child | null = null;
  const wenv = { NATS_URL: proxy.url, AI_URL: fake.url, AI_PROVIDER: 'openai', RUNNER_CONCURRENCY: '32', AI_MAX_CONCURRENCY: '32', RUNNER_ACK_WAIT_MS: '3000', LOG_LEVEL: 'warn' };
  try {
    workers[0] = await startWorkerProcess(wenv);
    workers[1] = await startWorkerProcess(wenv);
    const ids = Array.from({ length: ANSWERS }, (_, i) => `chaos-${i}`);
    const lines: string[] = [];
    watchers = await startScript(new URL('./stream-watchers.ts', import.meta.url).pathname, { NATS_URL: server.url, BENCH_JOBS: ids.join(','), BENCH_CONNECTIONS: '20', BENCH_CUT_MS: '700' });
    let done: (() => void) | null = null;
    const finished = new Promise<void>((r) => (done = r));
    let buf = '';
    watchers.proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const l of parts) {
        lines.push(l);
        if (l.startsWith('done')) done!();
      }
    });
    const js = jetstream(nc);
    for (let i = 0; i < ids.length; i += 100) await Promise.all(ids.slice(i, i + 100).map((id) => js.publish('alt.submit', single(id))));
    const t0 = performance.now();
    // The kill loop, and the workers' connections cut now and then (kept out for 300 ms).
    const killer = (async () => {
      while (!stop) {
        await new Promise((r) => setTimeout(r, 2_000 + Math.random() * 2_000));
        if (stop) break;
        const i = Math.floor(Math.random() * 2);
        workers[i]?.proc.kill('SIGKILL');
        await new Promise((r) => workers[i]!.proc.once('exit', r));
        kills++;
        // A start whose connection the proxy cuts fails (its bucket probe reads as TOPOLOGY_MISMATCH, exit 2): start it again.
        for (let tries = 1; ; tries++) {
          try {
            workers[i] = await startWorkerProcess(wenv);
            break;
          } catch (e) {
            if (tries >= 5) throw e;
            failedStarts++;
          }
        }
      }
    })();
    const cutter = setInterval(() => proxy.cut(300), 3_500);
    let shown = 0;
    const progress = setInterval(() => {
      const n = lines.filter((l) => l.startsWith('{')).length;
      if (n !== shown) process.stdout.write(`  ${n}/${ANSWERS} jobs followed to their .last (${since(t0).toFixed(0)} s, ${kills} workers killed)\n`);
      shown = n;
    }, 3_000);
    await finished;
    stop = true;
    clearInterval(cutter);
    clearInterval(progress);
    await killer;
    const seconds = since(t0);
    const jsm = await jetstreamManager(nc);
    const attempts = await rawAttempts(jsm);
    const log = await fake.log();
    // The fake's own record: the answer it sends to each job's prompt (the same every time).
    const answers = new Map<string, string>();
    for (const r of log) if (r.answer !== null && jobOf(r.prompt)) answers.set(jobOf(r.prompt)!, r.answer);
    const { lost, repeated, outOfOrder } = lostAndRepeated(attempts);
    const wrongBytes = attempts.filter((a) => a.end && Buffer.byteLength(a.text) !== a.end.bytes).length;
    const notPrefix = attempts.filter((a) => !answers.get(a.job)?.startsWith(a.text)).length;
    const okNotWhole = attempts.filter((a) => a.end?.outcome === 'ok' && a.text !== answers.get(a.job)).length;
    const unended = attempts.filter((a) => !a.end);
    const orphans = unended.filter((a) => !attempts.some((b) => b.job === a.job && b.task === a.task && b.first > a.first)).length;
    const lasts = new Map<string, Last[]>();
    for (const r of await allMessages(jsm, 'LAST')) {
      const last = JSON.parse(Buffer.from(r.data).toString('utf8')) as Last;
      lasts.set(last.alt_file_id, [...(lasts.get(last.alt_file_id) ?? []), last]);
    }
    const wholeLasts = ids.filter((id) => lasts.get(id)?.length === 1 && lasts.get(id)![0].task_results.t1?.output?.text === answers.get(id)).length;
    const seen = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { job: string; status: string | null; error?: string; tasks: { text: string; end: { outcome: string; complete: boolean } | null }[]; counts: { repeated: number; missing: number; stale: number }; follower: { rescans: number } });
    const clientWhole = seen.filter((s) => s.tasks.length === 1 && s.tasks[0].text === answers.get(s.job) && s.tasks[0].end?.outcome === 'ok' && s.tasks[0].end.complete).length;
    const clientMissing = seen.reduce((n, s) => n + (s.counts?.missing ?? 0), 0);
    const cuts = JSON.parse(lines.find((l) => l.startsWith('done'))!.slice(5)).cuts as number;
    const redelivered = attempts.filter((a) => (a.deliveries ?? 1) > 1).length;
    console.log(`  ${ids.length} jobs in ${seconds.toFixed(0)} s; ${kills} workers SIGKILLed (${failedStarts} restarts failed while their connection was cut and were started again), worker connections cut ${proxy.cuts} times, watcher connections ${cuts} times; ${attempts.length} attempts on the stream (${redelivered} of redelivered runs, ${unended.length} without an end), ${log.length} requests to the fake AI`);
    console.log(`  chunks lost within an attempt: ${lost}, repeated: ${repeated}, out of order: ${outOfOrder} (target 0: ${met(lost + repeated + outOfOrder === 0)})`);
    console.log(`  attempts neither ended nor superseded by a later attempt: ${orphans} (target 0: ${met(orphans === 0)}); ended attempts whose text is not the bytes their end counts: ${wrongBytes}; attempts whose text is not a prefix of the fake AI's answer: ${notPrefix}; ended ok but not the whole answer: ${okNotWhole}`);
    console.log(`  jobs with exactly one .last holding the fake AI's whole answer: ${wholeLasts}/${ids.length} (target all: ${met(wholeLasts === ids.length)})`);
    console.log(`  watchers that ended with the whole answer as the task's last attempt: ${clientWhole}/${ids.length} (errors ${seen.filter((s) => s.error).length}); indices they never got: ${clientMissing}`);
  } finally {
    stop = true;
    await watchers?.stop();
    await Promise.all(workers.map((w) => w?.stop()));
    await nc.close();
    await proxy.close();
    await fake.stop();
    await server.dispose();
  }
}

/** One worker draining `jobs` jobs of three chained tasks: jobs/s after the first tenth, CPU per job (worker, fake AI), progress messages. */
async function drain(label: string, jobs: number, workerEnv: Record<string, string>, fake: { url: string; proc: ChildProcess }, run = label, bin?: string): Promise<{ rate: number; cpuUs: number }> {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  let worker: Child | null = null;
  try {
    const profile = PROFILE ? { NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${join(PROFILE, run.replace(/\W+/g, '-'))}` } : {};
    worker = await startWorkerProcess({ NATS_URL: server.url, AI_URL: fake.url, AI_PROVIDER: 'openai', RUNNER_CONCURRENCY: '64', AI_MAX_CONCURRENCY: '64', LOG_LEVEL: 'warn', ...profile, ...workerEnv }, { bin });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < jobs; i += 256) await Promise.all(Array.from({ length: Math.min(256, jobs - i) }, (_, k) => js.publish('alt.submit', chainedJob(i + k).alt)));
    const stored = async () => (await jsm.streams.info('LAST')).state.messages;
    while ((await stored()) < jobs / 10) await new Promise((r) => setTimeout(r, 20));
    const from = await stored();
    const cpu0 = [cpuSecondsOf(worker.proc.pid!), cpuSecondsOf(fake.proc.pid!)];
    const t0 = performance.now();
    while ((await stored()) < jobs) await new Promise((r) => setTimeout(r, 20));
    const seconds = since(t0);
    const rate = (jobs - from) / seconds;
    const per = (pid: number, before: number) => ((cpuSecondsOf(pid) - before) / (jobs - from)) * 1e6;
    const cpuUs = per(worker.proc.pid!, cpu0[0]);
    const fakeUs = per(fake.proc.pid!, cpu0[1]);
    const progress = await jsm.streams.info('ALT_PROGRESS').then((i) => i.state.messages, () => 0);
    console.log(`  ${label}: ${rate.toFixed(1)} jobs/s, CPU per job: worker ${cpuUs.toFixed(0)} µs, fake AI ${fakeUs.toFixed(0)} µs; ${(progress / (jobs * 3)).toFixed(2)} progress messages per answer; load average ${loadavg()[0].toFixed(1)}`);
    return { rate, cpuUs };
  } finally {
    await worker?.stop();
    await nc.close();
    await server.dispose();
  }
}

const MODES: Record<string, Record<string, string>> = {
  streamed: { AI_STREAM: 'true' },
  ...(BASE ? { 'streamed, base': { AI_STREAM: 'true' } } : {}),
  unstreamed: { AI_STREAM: 'false' },
  ...(BASE ? { 'unstreamed, base': { AI_STREAM: 'false' } } : {}),
  'unstreamed, progress off': { AI_STREAM: 'false', PROGRESS_ENABLED: 'false' },
};
const binOf = (label: string) => (label.endsWith(', base') ? join(BASE!, 'bin', 'altlas') : undefined);

/** Each mode `rounds` times, alternating; the ratios of the best rates and of the lowest CPU per job. */
async function compare(pace: string, title: string, jobs: number, faults: Record<string, unknown>, rounds: number): Promise<void> {
  console.log(`\n${title}`);
  const fake = await fakeAi(faults);
  try {
    const got: Record<string, { rate: number; cpuUs: number }[]> = {};
    for (let round = 0; round < rounds; round++) {
      for (const [label, e] of Object.entries(MODES)) (got[label] ??= []).push(await drain(label, jobs, e, fake, `${pace}-${label}-${round}`, binOf(label)));
    }
    const rate = (k: string) => Math.max(...got[k].map((g) => g.rate));
    const cpu = (k: string) => Math.min(...got[k].map((g) => g.cpuUs));
    for (const streamed of BASE ? ['streamed', 'streamed, base'] : ['streamed']) {
      for (const base of [streamed.endsWith(', base') ? 'unstreamed, base' : 'unstreamed', 'unstreamed, progress off']) {
        const r = rate(streamed) / rate(base);
        console.log(`  ${streamed} ÷ ${base}: jobs/s ${r.toFixed(2)} (target >= 0.9: ${met(r >= 0.9)}); worker CPU per job ${(cpu(base) / cpu(streamed)).toFixed(2)} of it`);
      }
    }
  } finally {
    await fake.stop();
  }
}

async function throughput(): Promise<void> {
  // Answers of 1,000 characters (250 tokens): as a model writes them at 250 tokens/s (an unstreamed answer comes when its last token would), then all at once.
  if (PACES.includes('paced')) await compare('paced', `throughput at a model's pace: ${Math.round(JOBS / 4)} jobs of three chained tasks, answers of 250 tokens at 250 tokens/s (1 s each), one worker, concurrency 64`, Math.round(JOBS / 4), { outputChars: 1_000, tokenRate: 250 }, ROUNDS ?? 1);
  if (PACES.includes('cpu')) await compare('cpu', `throughput, CPU-bound: ${JOBS} jobs of three chained tasks, answers of 250 tokens sent at once (a streamed one is 250 events, about 47 KB against 1.2 KB unstreamed), one worker, concurrency 64, each mode ${ROUNDS ?? 2} times`, JOBS, { outputChars: 1_000 }, ROUNDS ?? 2);
}

console.log(`bench:stream (phases ${PHASES.join(', ')}); progress coalesced every ${FLUSH_MS} ms or ${FLUSH_BYTES} bytes`);
if (PHASES.includes('ttft')) {
  const watchers = (env.BENCH_WATCHERS ?? 'fleet,processes').split(',');
  if (watchers.includes('fleet')) await ttft('fleet');
  if (watchers.includes('processes')) await ttft('processes');
}
if (PHASES.includes('chaos')) await chaos();
if (PHASES.includes('throughput')) await throughput();
