/** Runs `bin/altlas worker` as a child process (demo, tests): started when it logs "worker started". */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** How a worker process ended: its exit code, or the signal that ended it (one of the two is null), and when (ms since the epoch). */
export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

export interface WorkerChild {
  readonly pid: number | undefined;
  readonly proc: ChildProcess;
  readonly output: string[];
  /** How the process ended; null while it runs. */
  readonly exit: WorkerExit | null;
  /** Resolves when the process exited (never rejects). */
  readonly exited: Promise<WorkerExit>;
  started(limitMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it exited. */
  stop(graceMs?: number): Promise<void>;
}

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'altlas');

export interface SpawnWorkerOptions {
  /**
   * Start the worker in a session (and process group) of its own; default false. What is sent to
   * the caller's process group (a terminal's Ctrl-C, `kill -- -PGID`) then does not reach it, and
   * nor does the kernel's SIGHUP + SIGCONT to a stopped member of a process group that has just
   * lost its last parent in another group of its session (the caller's own parent shell exiting):
   * a harness that SIGSTOPs its workers needs that. The caller must stop it itself.
   */
  ownSession?: boolean;
}

export function spawnWorker(env: NodeJS.ProcessEnv, options: SpawnWorkerOptions = {}): WorkerChild {
  const proc = spawn(BIN, ['worker'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.ownSession === true });
  const output: string[] = [];
  let resolveStarted: () => void;
  let rejectStarted: (e: Error) => void;
  const startedP = new Promise<void>((res, rej) => {
    resolveStarted = res;
    rejectStarted = rej;
  });
  // Rejected when it exits before it started: an error for whoever awaits started(), not an unhandled rejection.
  startedP.catch(() => {});
  const onData = (c: Buffer) => {
    const text = c.toString();
    output.push(text);
    if (text.includes('"worker started"') || text.includes('worker started')) resolveStarted();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  let exit: WorkerExit | null = null;
  const exited = new Promise<WorkerExit>((resolve) => proc.once('exit', (code, signal) => {
    exit = { code, signal, at: Date.now() };
    rejectStarted(new Error(`the worker exited before it started (code ${code}, signal ${signal}):\n${output.join('')}`));
    resolve(exit);
  }));
  return {
    pid: proc.pid,
    proc,
    output,
    get exit() {
      return exit;
    },
    exited,
    started: (limitMs = 30_000) => Promise.race([startedP, new Promise<void>((_, rej) => setTimeout(() => rej(new Error('the worker did not start in time')), limitMs).unref())]),
    async stop(graceMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const kill = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      proc.kill('SIGTERM');
      await exited;
      clearTimeout(kill);
    },
  };
}
