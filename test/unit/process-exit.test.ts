import { describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.ts';

/** Runs a small process that installs the exit line, then ends as `how` says; returns its exit code and parsed `process exit` lines. */
function endAs(how: string): { status: number | null; lines: Record<string, unknown>[]; stderr: string } {
  const script = `
    import { logProcessExit, setExitReason } from ${JSON.stringify(join(ROOT, 'src', 'telemetry', 'process-exit.ts'))};
    logProcessExit({ service: 'altlas-runner', worker_id: 'test' });
    ${how}
  `;
  const r = spawnSync(join(ROOT, 'scripts', 'node24'), ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  const lines = r.stdout.split('\n').flatMap((l) => {
    try {
      const j = JSON.parse(l) as Record<string, unknown>;
      return j.message === 'process exit' ? [j] : [];
    } catch {
      return [];
    }
  });
  return { status: r.status, lines, stderr: r.stderr };
}

describe('process exit line', () => {
  it('says why the process ends when the path that ends it recorded a reason', () => {
    const r = endAs(`setExitReason('signal SIGTERM: shut down'); process.exit(0);`);
    expect(r.status).toBe(0);
    expect(r.lines).toEqual([expect.objectContaining({ level: 'info', code: 0, reason: 'signal SIGTERM: shut down', service: 'altlas-runner', worker_id: 'test', pid: expect.any(Number) })]);
  });

  it('names an uncaught exception (redacted) and an unhandled rejection, with exit code 1', () => {
    const thrown = endAs(`setTimeout(() => { throw new TypeError('bad token=abc123'); }, 1);`);
    expect(thrown.status).toBe(1);
    expect(thrown.lines).toEqual([expect.objectContaining({ level: 'error', code: 1, reason: expect.stringMatching(/^uncaught exception: TypeError: bad token=/) })]);
    expect(String(thrown.lines[0].reason)).not.toContain('abc123');
    const rejected = endAs(`void Promise.reject(new Error('lost'));`);
    expect(rejected.status).toBe(1);
    expect(rejected.lines).toEqual([expect.objectContaining({ code: 1, reason: 'unhandled rejection: Error: lost' })]);
  });

  it('says so when nothing recorded a reason (the event loop ran dry)', () => {
    const r = endAs(`setTimeout(() => {}, 1);`);
    expect(r.lines).toEqual([expect.objectContaining({ code: 0, reason: expect.stringContaining('no reason recorded') })]);
  });

  it('is written on stderr when stdout is closed', () => {
    const r = endAs(`import { closeSync } from 'node:fs'; closeSync(1); setExitReason('its output was closed (EPIPE)'); process.exit(0);`);
    expect(r.stderr).toContain('"reason":"its output was closed (EPIPE)"');
  });

  it('cannot rely on nohup: Node.js ends on SIGHUP even when started with it ignored (why the worker handles it)', async () => {
    const p = spawn('nohup', [join(ROOT, 'scripts', 'node24'), '-e', 'process.stdout.write("up"); setTimeout(() => {}, 20000)'], { stdio: ['ignore', 'pipe', 'ignore'] });
    // Once it runs JavaScript, Node.js has set its signal dispositions.
    await new Promise((r) => p.stdout!.once('data', r));
    p.kill('SIGHUP');
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => p.once('exit', (c, s) => resolve([c, s])));
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGHUP' });
  });
});
