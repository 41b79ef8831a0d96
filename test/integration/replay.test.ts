/**
 * Replay from a task, end to end against a real worker and the fake AI's own count of requests:
 * replaying the last task of a 10-task job makes exactly one AI call, and the new .last matches
 * the first run's on every task not run again; a replay from the middle with --set; the refusals.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import type { Last } from '../../src/last/index.ts';
import { readFileSync } from 'node:fs';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { ROOT, SAMPLES } from '../helpers/paths.ts';

let h: Harness | undefined;
const dirs: string[] = [];
const dashboards: ChildProcess[] = [];
afterEach(async () => {
  for (const d of dashboards.splice(0)) {
    d.kill('SIGTERM');
    if (d.exitCode === null) await new Promise((r) => d.once('exit', r));
  }
  await h?.close();
  h = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const cli = async (...args: string[]) => {
  const out: string[] = [];
  const code = await main([...args, '--server', h!.server.url], { out: (l) => out.push(l), err: (l) => out.push(l) });
  return { code, out: out.join('\n') };
};
const altFile = (text: string) => {
  const dir = mkdtempSync(join(tmpdir(), 'altlas-replay-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'job.alt.json'), text);
  return join(dir, 'job.alt.json');
};
/** What a task's result must keep across a replay (its execution id and the resumed mark aside). */
const same = (r: Last['task_results'][string]) => ({ status: r.status, output: r.output, start_time: r.start_time, end_time: r.end_time, duration_ms: r.duration_ms, error: r.error, attempts: r.metadata.attempts });
const calls = (id: string) => h!.fake.stats.prompts.filter((p) => p.includes(` of ${id}`));

describe('altlas replay', () => {
  it('replaying the last task of a 10-task job makes exactly one AI call; every other task matches the first run', async () => {
    h = await Harness.start();
    await h.worker();
    const text = job('rp-1', 10);
    await h.publish(text);
    const [{ last: first }] = await h.waitForLasts(1);
    expect(first.status).toBe('success');
    expect(calls('rp-1')).toHaveLength(10);
    const r = await cli('replay', 'rp-1', '--from', 't10', '--alt', altFile(text), '--wait', '--timeout', '60');
    expect(r).toMatchObject({ code: 0 });
    const lasts = await h.waitForLasts(2);
    const second = lasts.map((l) => l.last).find((l) => l.execution_id !== first.execution_id)!;
    expect(second.metadata.replay_of).toEqual({ execution_id: first.execution_id, from: 't10', kept: 9 });
    const after = calls('rp-1');
    expect(after).toHaveLength(11);
    expect(after[10]).toContain('step 10 of rp-1');
    for (let i = 1; i <= 9; i++) expect([`t${i}`, same(second.task_results[`t${i}`])]).toEqual([`t${i}`, same(first.task_results[`t${i}`])]);
    expect(second.task_results.t10.status).toBe('completed');
    expect(second.status).toBe('success');
  }, 90_000);

  it('replays from the middle with --set: that task and everything after it run again with the change', async () => {
    h = await Harness.start();
    await h.worker();
    const text = job('rp-2', 6);
    await h.publish(text);
    const [{ last: first }] = await h.waitForLasts(1);
    const r = await cli('replay', 'rp-2', '--from', 't4', '--alt', altFile(text), '--set', 't4.prompt=fixed prompt of rp-2', '--wait', '--timeout', '60');
    expect(r.code).toBe(0);
    const after = calls('rp-2');
    expect(after).toHaveLength(9);
    expect(after.slice(6).map((p) => p.split('Task:\n').pop())).toEqual(['fixed prompt of rp-2', 'step 5 of rp-2', 'step 6 of rp-2']);
    const second = (await h.lasts()).map((l) => l.last).find((l) => l.execution_id !== first.execution_id)!;
    expect(second.metadata.replay_of).toEqual({ execution_id: first.execution_id, from: 't4', kept: 3, set: ['t4.prompt'] });
  }, 90_000);

  it('refuses a task the job lacks, another job\'s .alt, a job with no .last and a --set that names nothing', async () => {
    h = await Harness.start();
    await h.worker();
    const text = job('rp-3', 2);
    await h.publish(text);
    await h.waitForLasts(1);
    const file = altFile(text);
    for (const args of [['rp-3', '--from', 'nope', '--alt', file], ['other', '--from', 't1', '--alt', file], ['rp-3', '--from', 't1', '--alt', file, '--set', 'zz.prompt=x']]) {
      const r = await cli('replay', ...args);
      expect([args, r.code, r.out]).toEqual([args, 1, expect.stringContaining('REPLAY_INVALID')]);
    }
    const never = job('rp-none', 1);
    const r = await cli('replay', 'rp-none', '--from', 't1', '--alt', altFile(never));
    expect(r.out).toContain('REPLAY_INVALID');
    expect(calls('rp-3')).toHaveLength(2);
  }, 60_000);

  it('the dashboard replays a finished job from a task with the token (its .alt sent with the request)', async () => {
    h = await Harness.start();
    await h.worker();
    const text = job('rp-4', 3);
    await h.publish(text);
    const [{ last: first }] = await h.waitForLasts(1);
    const p = spawn(join(ROOT, 'bin', 'altlas'), ['dashboard', '--port', '0', '--server', h.server.url], { env: { ...process.env, DASHBOARD_TOKEN: 'tok-123456' }, stdio: ['ignore', 'pipe', 'pipe'] });
    dashboards.push(p);
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      p.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /dashboard on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      p.once('exit', (code) => reject(new Error(`dashboard exited ${code}: ${out}`)));
    });
    // Ready once it has opened the buckets (503 before).
    await eventually(async () => (await fetch(`${url}/api/jobs`)).status, (st) => st === 200, 'the dashboard to be ready');
    const post = (token: string, body: unknown) => fetch(`${url}/api/actions/replay_from`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    expect((await post('bad-token', { alt_id: 'rp-4', from: 't3', alt: text })).status).toBe(401);
    const refused = await post('tok-123456', { alt_id: 'rp-4', from: 'nope', alt: text });
    expect(refused.status).toBe(409);
    expect(JSON.stringify(await refused.json())).toContain('REPLAY_INVALID');
    // No .alt kept by this worker (RUNNER_KEEP_ALT off): the page then asks for the file.
    const noFile = await post('tok-123456', { alt_id: 'rp-4', from: 't3' });
    expect(noFile.status).toBe(409);
    expect(JSON.stringify(await noFile.json())).toContain('RUNNER_KEEP_ALT');
    const ok = await post('tok-123456', { alt_id: 'rp-4', from: 't3', alt: text });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ replay_of: first.execution_id, kept: ['t1', 't2'] });
    const lasts = await h.waitForLasts(2);
    expect(lasts.map((l) => l.last.metadata.replay_of ?? null)).toEqual([null, { execution_id: first.execution_id, from: 't3', kept: 2 }]);
    expect(calls('rp-4')).toHaveLength(4);
  }, 60_000);

  it('2.0: replaying a branch member runs its condition again (one AI call); the function call before it keeps its result', async () => {
    h = await Harness.start(undefined, { record: true });
    await h.worker();
    const text = readFileSync(join(SAMPLES, 'enhanced-2.0.alt.yaml'), 'utf8');
    const id = '5f0c2a8e-7d1b-4c3e-9a44-0b8e2f6d1c10';
    await h.publish(text, { 'Content-Type': 'application/yaml' });
    const [{ last: first }] = await h.waitForLasts(1);
    const before = h.fake.stats.requests;
    const branch = Object.keys(first.task_results).find((k) => k === 's-alert' || k === 's-summary' || k.endsWith('/s-alert') || k.endsWith('/s-summary'))!;
    const file = join(mkdtempSync(join(tmpdir(), 'altlas-replay-')), 'job.alt.yaml');
    dirs.push(join(file, '..'));
    writeFileSync(file, text);
    const r = await cli('replay', id, '--from', branch, '--alt', file, '--wait', '--timeout', '60');
    expect(r.code).toBe(0);
    expect(h.fake.stats.requests - before).toBe(1);
    const second = (await h.lasts()).map((l) => l.last).find((l) => l.execution_id !== first.execution_id)!;
    for (const [k, res] of Object.entries(first.task_results)) {
      if (k === branch || first.task_results[k].metadata.control) continue;
      expect([k, same(second.task_results[k])]).toEqual([k, same(res)]);
    }
    expect(second.task_results[branch].status).toBe('completed');
  }, 90_000);

  it('RUNNER_KEEP_ALT: a worker keeps each job\'s .alt, and a replay needs no file; without it the file is asked for', async () => {
    h = await Harness.start();
    const w = await h.worker({ RUNNER_KEEP_ALT: 'true' });
    await h.publish(job('rp-5', 3));
    const [{ last: first }] = await h.waitForLasts(1);
    const r = await cli('replay', 'rp-5', '--from', 't2', '--wait', '--timeout', '60');
    expect(r).toMatchObject({ code: 0 });
    const second = (await h.lasts()).map((l) => l.last).find((l) => l.execution_id !== first.execution_id)!;
    expect(second.metadata.replay_of).toEqual({ execution_id: first.execution_id, from: 't2', kept: 1 });
    expect(calls('rp-5')).toHaveLength(5);
    // A worker that keeps none: the replay asks for the file.
    w.kill('SIGTERM');
    await w.exited;
    await h.worker();
    await h.publish(job('rp-6', 2));
    await h.waitForLasts(3);
    const refused = await cli('replay', 'rp-6', '--from', 't2');
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/REPLAY_INVALID: no \.alt of job rp-6 is kept \(workers keep them with RUNNER_KEEP_ALT=true\)/);
  }, 90_000);
});
