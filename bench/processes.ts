/** Child processes the benchmarks measure over the real path: the fake AI and `altlas worker`. */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../src/devtools/nats-server.ts';

/** The `altlas` command measured: this checkout's, or BENCH_BIN (another checkout's, for alternating runs). */
export const BIN = process.env.BENCH_BIN ?? join(import.meta.dirname, '..', 'bin', 'altlas');

export interface Child {
  proc: ChildProcess;
  output: string[];
  stop(): Promise<void>;
}

function child(args: string[], env: NodeJS.ProcessEnv, ready: RegExp, command: string[] = [BIN]): Promise<Child> {
  const proc = spawn(command[0], [...command.slice(1), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      const text = c.toString();
      if (output.length < 200) output.push(text);
      if (ready.test(text)) resolve(handle);
    };
    const handle: Child = { proc, output, stop: stopper(proc, exited, 15_000) };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`${[...command, ...args].join(' ')} exited with ${code} before it was ready:\n${output.join('')}`)));
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
function stopper(proc: ChildProcess, exited: Promise<void>, graceMs: number): () => Promise<void> {
  return async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const kill = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(kill);
    }
  };
}

/** The fake orchestrator in its own process. */
export async function startFakeAiProcess(latencyMs = 0): Promise<Child & { url: string }> {
  const port = await freePort();
  const c = await child(['fake-orchestrator', '--port', String(port), ...(latencyMs ? ['--latency-ms', String(latencyMs)] : [])], {}, /listening on/);
  return { ...c, url: `http://127.0.0.1:${port}` };
}

/**
 * `altlas worker` with the given environment (its default configuration otherwise; logs go to
 * /dev/null, or to the file `logFile`), ready once its /readyz answers 200; `bin` runs another checkout's.
 */
export async function startWorkerProcess(env: NodeJS.ProcessEnv, options: { logFile?: string; bin?: string } = {}): Promise<Child & { httpPort: number }> {
  const httpPort = await freePort();
  const out = options.logFile ? openSync(options.logFile, 'w') : 'ignore';
  const proc = spawn(options.bin ?? BIN, ['worker'], { env: { ...process.env, HTTP_PORT: String(httpPort), ...env }, stdio: ['ignore', out, 'pipe'] });
  if (typeof out === 'number') closeSync(out);
  const output: string[] = [];
  proc.stderr!.on('data', (c: Buffer) => output.length < 200 && output.push(c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`altlas worker exited with ${proc.exitCode}:\n${output.join('')}`);
    const ok = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error('altlas worker did not get ready within 60 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    proc, output, httpPort, stop: stopper(proc, exited, 30_000),
  };
}

/** A Node script of this repository in its own process, ready when it prints `ready`. */
export function startScript(script: string, env: NodeJS.ProcessEnv): Promise<Child> {
  return child([], env, /ready/, [join(import.meta.dirname, '..', 'scripts', 'node24'), '--disable-warning=ExperimentalWarning', script]);
}

/** Spawns `altlas worker` and resolves at once (exec-to-first-result timing). */
export function spawnWorkerProcess(env: NodeJS.ProcessEnv, stderr: 'inherit' | 'pipe' = 'inherit'): ChildProcess {
  return spawn(BIN, ['worker'], { env: { ...process.env, LOG_LEVEL: 'warn', HTTP_PORT: '0', ...env }, stdio: ['ignore', 'ignore', stderr] });
}

/** Resident set size and its peak (VmHWM) of a process, in bytes (Linux /proc). */
export function rssOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

export const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;

/** A job of three chained AI tasks with prompts of ~300 bytes (bench:peer, bench:scale). */
export function chainedJob(i: number): { id: string; prompts: string[]; alt: string } {
  const prompts = [1, 2, 3].map((t) => `Step ${t} of job ${i}: read the previous answer and write one short paragraph about region ${t} of the quarterly sales report, naming the three largest changes and the likely causes, in plain words for a reader who has not seen the figures. `.padEnd(300, '.'));
  const alt = JSON.stringify({
    id: `peer-${i}`, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `Peer job ${i}`, mode: 'normal', persona: 'technical_expert',
    tasks: prompts.map((description, t) => ({ id: `task_${t + 1}`, description, dependencies: t > 0 ? [`task_${t}`] : [], parameters: { temperature: 0.2 }, timeout_seconds: 60, retry_count: 1 })),
    metadata: { source: 'bench' },
  });
  return { id: `peer-${i}`, prompts, alt };
}

/** Seconds since `t0` (performance.now()). */
export const since = (t0: number) => (performance.now() - t0) / 1000;

/** Prints a progress line at most once a second. */
export function progress(label: string, total: number): (done: number) => void {
  let last = 0;
  return (done) => {
    const now = Date.now();
    if (now - last < 1_000 && done < total) return;
    last = now;
    process.stdout.write(`  ${label}: ${done}/${total}\n`);
  };
}

/** CPU seconds (user + system) a process, or one of its threads, has used so far (Linux /proc). */
export function cpuSecondsOf(pid: number, tid?: number): number {
  const fields = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds of a process by thread name (main thread, V8's GC and compiler threads, libuv's pool). */
export function threadCpuOf(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      out.set(name, (out.get(name) ?? 0) + cpuSecondsOf(pid, tid));
    } catch {
      // The thread ended while it was read.
    }
  }
  return out;
}

/**
 * CPU seconds used by named processes between `start` and the returned function's call, per job,
 * in µs; for Node.js processes (`node: true`) the main thread's share too (the rest is V8's GC and
 * compiler threads and libuv's pool). Gives the printed line and each process's µs per job.
 */
export function cpuMeter(pids: Record<string, number | undefined>, node: readonly string[] = []): (jobs: number) => { line: string; perJob: Record<string, number> } {
  const known = Object.entries(pids).filter((e): e is [string, number] => e[1] !== undefined);
  const sample = () => known.map(([name, pid]) => [cpuSecondsOf(pid), node.includes(name) ? cpuSecondsOf(pid, pid) : 0]);
  const before = sample();
  return (jobs) => {
    const after = sample();
    const us = (s: number) => ((s / jobs) * 1e6).toFixed(0);
    let total = 0;
    const perJob: Record<string, number> = {};
    const parts = known.map(([name], i) => {
      const used = after[i][0] - before[i][0];
      total += used;
      perJob[name] = (used / jobs) * 1e6;
      if (node.includes(name)) perJob[`${name} main thread`] = ((after[i][1] - before[i][1]) / jobs) * 1e6;
      return `${name} ${us(used)} µs${node.includes(name) ? ` (main thread ${us(after[i][1] - before[i][1])})` : ''}`;
    });
    return { line: `CPU per job: ${parts.join(', ')}; together ${us(total)} µs`, perJob };
  };
}
