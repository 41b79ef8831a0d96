/** Runs `bin/altlas worker` as a child process (demo, tests): started when it logs "worker started". */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export interface WorkerChild {
  readonly pid: number | undefined;
  readonly proc: ChildProcess;
  readonly output: string[];
  started(limitMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it exited. */
  stop(graceMs?: number): Promise<void>;
}

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'altlas');

export function spawnWorker(env: NodeJS.ProcessEnv): WorkerChild {
  const proc = spawn(BIN, ['worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  let resolveStarted: () => void;
  let rejectStarted: (e: Error) => void;
  const startedP = new Promise<void>((res, rej) => {
    resolveStarted = res;
    rejectStarted = rej;
  });
  const onData = (c: Buffer) => {
    const text = c.toString();
    output.push(text);
    if (text.includes('"worker started"') || text.includes('worker started')) resolveStarted();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => {
    rejectStarted(new Error(`the worker exited before it started:\n${output.join('')}`));
    resolve();
  }));
  return {
    pid: proc.pid,
    proc,
    output,
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
