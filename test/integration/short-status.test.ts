/**
 * A job that finishes within RUNNER_STATUS_FLUSH_MS writes no status entry: its `.last` in the LAST
 * stream is its record, and `altlas status`, `status --watch`, `cancel` and the dashboard's API
 * (its job view and its live list) find it there. A job still running after the flush time writes
 * its entry, and its final state replaces it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { main } from '../../src/cli/main.ts';
import { statusKey, type StatusEntry } from '../../src/status/status.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { ROOT } from '../helpers/paths.ts';

let h: Harness;
const dashboards: ChildProcess[] = [];

beforeAll(async () => {
  h = await Harness.start();
  // A flush time generous enough that a short job finishes within it on a busy machine.
  await h.worker({ RUNNER_STATUS_FLUSH_MS: '3000' });
});
afterAll(async () => {
  for (const d of dashboards) {
    if (d.exitCode !== null) continue;
    d.kill('SIGTERM');
    await new Promise((r) => d.once('exit', r));
  }
  await h?.close();
});

/** `altlas dashboard --port 0` (read-only), resolved with its URL. */
function startDashboard(): Promise<string> {
  const p = spawn(join(ROOT, 'bin', 'altlas'), ['dashboard', '--port', '0', '--server', h.server.url], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  dashboards.push(p);
  let out = '';
  return new Promise((resolve, reject) => {
    p.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /dashboard on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    p.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    p.once('exit', (code) => reject(new Error(`altlas dashboard exited with ${code}: ${out}`)));
  });
}

async function cli(args: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await main([...args, '--server', h.server.url], { out: (l) => out.push(l), err: (l) => out.push(l) });
  return { code, out };
}

/** The status bucket's keys (its stream's subjects). */
async function statusKeys(): Promise<string[]> {
  const info = await (await jetstreamManager(h.nc)).streams.info('KV_ALT_RUNS', { subjects_filter: '$KV.ALT_RUNS.>' });
  return Object.keys(info.state.subjects ?? {}).map((s) => s.slice('$KV.ALT_RUNS.'.length));
}

describe('a job that finishes within RUNNER_STATUS_FLUSH_MS', () => {
  it('writes no status entry; status, status --watch, cancel and the dashboard find it by its .last', async () => {
    const url = (await startDashboard()).replace(/\/$/, '');
    // The dashboard is ready once its API answers with the live view.
    await eventually(() => fetch(`${url}/api/jobs`).then((r) => r.status, () => 0), (s) => s === 200, 'the dashboard\'s API', 60_000);

    await h.publish(job('quick', 2));
    const [{ last }] = await h.waitForLasts(1);
    expect(last.status).toBe('success');

    // A job that runs past the flush time, published after: its entry's final state is the sync point.
    h.fake.setFaults({ latencyMs: 3_500 });
    await h.publish(job('slow', 1));
    const kv = await new Kvm(h.nc).open('ALT_RUNS');
    const slow = await eventually(async () => (await kv.get(statusKey('slow')))?.json<StatusEntry>(), (e) => e?.state === 'completed', 'the slow job\'s final entry');
    expect(slow).toMatchObject({ alt_id: 'slow', last_status: 'success', deliveries: 1 });
    h.fake.setFaults({ latencyMs: 0 });
    expect(await statusKeys()).not.toContain(statusKey('quick'));

    const shown = await cli(['status', 'quick', '--json']);
    expect(shown.code).toBe(0);
    const entry = JSON.parse(shown.out[0]) as StatusEntry;
    expect(entry).toMatchObject({ alt_id: 'quick', state: 'completed', last_status: 'success', alt_stream: 'ALT', alt_stream_seq: 1, deliveries: 1, tasks_total: 2, tasks_done: 2, error: null });
    expect(Object.values(entry.tasks).map((t) => t.state)).toEqual(['completed', 'completed']);
    expect((await cli(['status', 'quick'])).out.join('\n')).toMatch(/^job quick: completed \(\.last success\)/m);
    // altlas jobs lists it from its .last, as the job the bucket does not hold.
    const inJobs = await cli(['jobs', '--json']);
    expect(inJobs.code).toBe(0);
    expect(inJobs.out.map((l) => JSON.parse(l) as { alt_id: string; state: string }).filter((j) => j.alt_id === 'quick')).toEqual([expect.objectContaining({ alt_id: 'quick', state: 'completed' })]);
    expect((await cli(['jobs', '--state', 'running', '--json'])).out.filter((l) => l.includes('"quick"'))).toEqual([]);

    // Finished (found by its .last): the request is written, for a rerun of it that may wait.
    const cancel = await cli(['cancel', 'quick', '--json']);
    expect(cancel.code).toBe(0);
    expect(JSON.parse(cancel.out[0])).toMatchObject({ alt_id: 'quick', state: 'completed', found: 'finished', armed: true, requested: true });
    // --wait answers a finished job's state at once (no rerun of it to wait for).
    expect(await cli(['cancel', 'quick', '--wait'])).toMatchObject({ code: 0, out: ['quick: completed'] });

    const one = await (await fetch(`${url}/api/jobs/quick`)).json() as { job: StatusEntry; last: { status: string } | null };
    expect(one.job).toMatchObject({ alt_id: 'quick', state: 'completed', alt_stream_seq: 1 });
    expect(one.last?.status).toBe('success');
    // The live list learnt of it from the LAST stream.
    const list = await eventually(async () => (await (await fetch(`${url}/api/jobs`)).json()) as { jobs: StatusEntry[] }, (l) => l.jobs.some((j) => j.alt_id === 'quick'), 'quick in the live list');
    expect(list.jobs.find((j) => j.alt_id === 'quick')).toMatchObject({ state: 'completed', last_status: 'success' });

    // A dashboard started after the job finished lists it too (the .last results of the last 15 minutes, read at start).
    const later = (await startDashboard()).replace(/\/$/, '');
    const listed = await eventually(async () => fetch(`${later}/api/jobs`).then((r) => (r.ok ? r.json() as Promise<{ jobs: StatusEntry[] }> : null), () => null), (l) => l !== null, 'the second dashboard\'s API', 60_000);
    expect(listed!.jobs.find((j) => j.alt_id === 'quick')).toMatchObject({ state: 'completed', last_status: 'success' });
  });

  it('status --watch ends when the .last of a job that writes no entry is stored', async () => {
    // Whether the .last is stored before the watch subscribes or after, the watch ends with it.
    const watching = cli(['status', 'watched-quick', '--watch', '--json']);
    await h.publish(job('watched-quick', 1));
    const { code, out } = await watching;
    expect(code).toBe(0);
    expect(JSON.parse(out.at(-1)!)).toMatchObject({ alt_id: 'watched-quick', state: 'completed', last_status: 'success' });
  });
});
