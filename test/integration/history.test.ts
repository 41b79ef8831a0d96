/**
 * Each job's history through the documented contract: a worker writes the events of the jobs it
 * runs to ALT_HISTORY, operators' actions carry who did them, and `altlas history` prints the
 * timeline (and --json).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { hostname, userInfo } from 'node:os';
import { main } from '../../src/cli/main.ts';
import { Harness, eventually, job, type WorkerProcess } from '../helpers/runner.ts';

const run = async (argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
};

let h: Harness;
let w: WorkerProcess;
let server: string[];
beforeAll(async () => {
  h = await Harness.start(undefined, { errorRules: [{ match: 'refused-step', status: 400 }] });
  w = await h.worker({ RUNNER_CONCURRENCY: '2', RUNNER_STATUS_FLUSH_MS: '20' });
  server = ['--server', h.server.url];
}, 180_000);
afterAll(async () => {
  await h?.close();
});

const workerId = () => String(w.logs('run started')[0]?.worker_id ?? '');

describe('altlas history', () => {
  it('prints a job\'s timeline from its delivery to its .last, with the worker that ran it', async () => {
    const seq = await h.publish(job('hist-ok', 2));
    await h.waitForLasts(1);
    const r = await eventually(() => run(['history', 'hist-ok', ...server]), (x) => /\.last stored/.test(x.out), 'the .last in the history');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n').map((l) => l.replace(/^\S+ {2}/, ''));
    expect(lines).toEqual([
      `delivered (delivery 1, message ${seq}) to ${workerId()}`,
      `started on ${workerId()} (2 tasks)`,
      `task t1 completed on ${workerId()}`,
      `task t2 completed on ${workerId()}`,
      `.last stored (success) on ${workerId()}`,
    ]);
    const json = await run(['history', 'hist-ok', '--json', ...server]);
    const events = json.out.split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => e.type)).toEqual(['delivered', 'started', 'task_finished', 'task_finished', 'last_stored']);
    expect(events[0]).toMatchObject({ alt_id: 'hist-ok', worker_id: workerId(), alt_stream_seq: seq, deliveries: 1 });
    expect(Date.parse(events[0].at)).toBeLessThanOrEqual(Date.parse(events[4].at));
  }, 120_000);

  it('records a failed attempt with its code, and a cancel request with who asked', async () => {
    await h.publish(job('hist-fail', 1, 'refused-step'));
    const failed = await eventually(() => run(['history', 'hist-fail', ...server]), (x) => /\.last stored/.test(x.out), 'the failed job\'s .last');
    expect(failed.out).toMatch(/task t1 attempt 1 failed \(AI_[A-Z_]+: .*\) on /);
    expect(failed.out).toMatch(/task t1 failed \(AI_[A-Z_]+\) on /);
    expect(failed.out).toMatch(/\.last stored \(failure\)/);

    expect((await run(['cancel', 'hist-later', ...server])).code).toBe(0);
    const cancelled = await run(['history', 'hist-later', ...server]);
    expect(cancelled.code).toBe(0);
    expect(cancelled.out).toMatch(new RegExp(`cancel requested by ${userInfo().username}@${hostname()} \\(no state recorded yet: waiting in the stream, just started, or no such job\\)$`));
  }, 120_000);

  it('exits 1 for a job it has no event of', async () => {
    const r = await run(['history', 'never-published', ...server]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no history of job never-published/);
  });
});
