/**
 * Why `npm run chaos` starts its workers in sessions of their own: a SIGSTOPped worker in the
 * harness's process group dies of the kernel's SIGHUP when that group is orphaned (the shell that
 * started the harness exits), as 2 of 9 `pauses` runs did.
 */
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.ts';

/**
 * A shell with job control starts a small harness in a process group of its own and exits as soon
 * as the harness has SIGSTOPped its worker: the group is orphaned with a stopped member. The harness
 * resumes the worker 2 s later and reports how it fared.
 */
async function orphanWhileStopped(ownSession: boolean): Promise<Record<string, unknown>> {
  const harness = `
    import { spawnWorker } from ${JSON.stringify(join(ROOT, 'src', 'devtools', 'worker-process.ts'))};
    // No NATS there: the worker keeps trying to connect, alive, until it is told to stop.
    const w = spawnWorker({ ...process.env, NATS_URL: 'nats://127.0.0.1:1', HTTP_PORT: '0', LOG_LEVEL: 'info' }, { ownSession: ${ownSession} });
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    // The harness itself runs; whether the kernel spares it or not, it must live to report.
    process.on('SIGHUP', () => {});
    // Its first failed connection attempt: its signal handlers are installed by then.
    while (!w.output.join('').includes('NATS_UNREACHABLE')) await sleep(50);
    w.proc.kill('SIGSTOP');
    process.stdout.write('stopped\\n');
    await sleep(2_000);
    w.proc.kill('SIGCONT');
    // A worker that got SIGHUP stops gracefully (it retries NATS meanwhile: seconds on a busy machine).
    await Promise.race([w.exited, sleep(${ownSession ? 3_000 : 30_000})]);
    const hup = w.output.join('').split('\\n').some((l) => l.includes('"message":"shutting down"') && l.includes('"signal":"SIGHUP"'));
    const fate = { alive: w.exit === null, code: w.exit?.code ?? null, signal: w.exit?.signal ?? null, hup };
    await w.stop(5_000);
    process.stdout.write(JSON.stringify(fate) + '\\n');
  `;
  const node = join(ROOT, 'scripts', 'node24');
  // The shell's stdout is a pipe we read until the harness ends, so the harness's output outlives the shell.
  const script = `set -m; ${JSON.stringify(node)} --input-type=module -e "$HARNESS" | { read -r first; echo "$first"; cat; } & until [ -s "$FLAG" ]; do sleep 0.05; done; exit 0`;
  return new Promise((resolve, reject) => {
    const flag = join(process.env.TMPDIR ?? '/tmp', `worker-session-${process.pid}-${Date.now()}`);
    const sh = spawn('bash', ['-c', script.replace('echo "$first";', 'echo "$first"; echo "$first" > "$FLAG";')], { env: { ...process.env, HARNESS: harness, FLAG: flag }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    sh.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    sh.stdout!.on('end', () => {
      rmSync(flag, { force: true });
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last) as Record<string, unknown>);
      } catch {
        reject(new Error(`no report from the harness:\n${out}`));
      }
    });
  });
}

describe('a worker the chaos harness SIGSTOPs', () => {
  it('gets the kernel\'s SIGHUP in the harness\'s process group when that group is orphaned while it is stopped (what ended 2 of 9 pauses runs), and not in a session of its own', async () => {
    // The kernel's SIGHUP + SIGCONT: the worker stops gracefully on SIGHUP (before, SIGHUP ended it at once and silently).
    expect(await orphanWhileStopped(false)).toEqual({ alive: false, code: 0, signal: null, hup: true });
    expect(await orphanWhileStopped(true)).toEqual({ alive: true, code: null, signal: null, hup: false });
  }, 120_000);
});
