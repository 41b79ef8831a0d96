/**
 * The operator's verbs say the truth and refuse junk: altlas drain --wait tells a drained worker
 * from one whose heartbeat ended before it drained (WORKER_GONE, in the fleet's history); drain and workers set refuse a
 * worker whose heartbeat is stale as they refuse an unknown id; workers set prints the worker's
 * concurrency before as the worker reported it (and records the last value set, pending or
 * applied, as `was`), or WORKER_NOT_ANSWERING; lenient numbers, an unknown code form and a time
 * range the wrong way round are refused by the command and the dashboard; a tenant is found by
 * the name publish was given as by its token.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { main } from '../../src/cli/main.ts';
import { loadConfig } from '../../src/config/load.ts';
import { Dashboard } from '../../src/dashboard/server.ts';
import { tenantToken } from '../../src/flow/lanes.ts';
import { concurrencyKey, drainKey } from '../../src/status/control.ts';
import { GONE } from '../../src/status/history.ts';
import { workerKey } from '../../src/status/fleet.ts';
import { Harness, eventually, job, type WorkerProcess } from '../helpers/runner.ts';

const run = async (argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
};
const json = (out: string) => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
// Heartbeats every 2 s: a worker is live while its heartbeat is younger than 4 s.
const BEAT = { RUNNER_HEARTBEAT_MS: '2000' };
const OPERATOR = 'truth-operator-5678';

let h: Harness;
let server: string[];
let w: WorkerProcess;
let id: string;
let dashboard: Dashboard;
let url: string;
const stop = new AbortController();
beforeAll(async () => {
  h = await Harness.start(undefined, { latencyRules: [{ match: 'slow-step', ms: 3_000 }] });
  server = ['--server', h.server.url];
  w = await h.worker({ ...BEAT, RUNNER_CONCURRENCY: '2' });
  id = String(w.logs('worker started')[0].worker_id);
  dashboard = new Dashboard({ config: loadConfig({ NATS_URL: h.server.url, DASHBOARD_OPERATOR_TOKEN: OPERATOR }), port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(await dashboard.listen()).port}`;
  await dashboard.attach(h.nc, stop.signal);
}, 180_000);
afterAll(async () => {
  stop.abort();
  await dashboard?.close();
  await h?.close();
});

const get = async (path: string) => {
  const r = await fetch(`${url}${path}`);
  return { status: r.status, body: await r.json() as Record<string, any> };
};
const fleetEvents = async () => json((await run(['history', '--fleet', '--json', ...server])).out);

describe('junk is refused', () => {
  it('by the command (exit 2) and by the dashboard (400 BAD_INPUT)', async () => {
    for (const n of ['1e3', '0x4', ' 3', '3 ', '+3', '3.0', '']) {
      const r = await run(['workers', 'set', id, '--concurrency', n, ...server]);
      expect({ n, code: r.code, err: r.err }).toEqual({ n, code: 2, err: expect.stringMatching(/--concurrency takes a whole number from 1 to 10000, in decimal digits/) });
    }
    for (const t of ['1e3', '0x4', ' 3', '0', '-1']) {
      for (const argv of [['workers', 'set', id, '--concurrency', '2'], ['drain', id]]) {
        const r = await run([...argv, `--timeout=${t}`, ...server]);
        expect({ argv, t, code: r.code, err: r.err }).toEqual({ argv, t, code: 2, err: expect.stringMatching(/--timeout takes a positive number of seconds, in decimal digits/) });
      }
    }
    const code = await run(['jobs', '--finished', '--code', 'nonsense', ...server]);
    expect(code).toMatchObject({ code: 2, err: expect.stringMatching(/--code takes an error code/) });
    const range = await run(['jobs', '--finished', '--since', '2026-01-02T00:00:00Z', '--until', '2026-01-01T00:00:00Z', ...server]);
    expect(range).toMatchObject({ code: 2, err: expect.stringMatching(/--since \(2026-01-02T00:00:00.000Z\) is later than --until \(2026-01-01T00:00:00.000Z\)/) });
    expect((await run(['jobs', '--finished', '--until', 'soon', ...server])).err).toMatch(/--until: "soon" is neither/);
    for (const q of ['limit=0', 'limit=1001', 'limit=9999', 'since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z', 'code=nonsense']) {
      const r = await get(`/api/finished?${q}`);
      expect({ q, status: r.status, code: r.body.code }).toEqual({ q, status: 400, code: 'BAD_INPUT' });
    }
    for (const q of ['limit=0', 'limit=1001']) expect((await get(`/api/jobs?${q}`)).status).toBe(400);
    expect((await get('/api/finished?limit=1000')).status).toBe(200);
  });
});

describe('a tenant', () => {
  it('is found by the name publish was given, and by its token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'altlas-tenant-'));
    try {
      writeFileSync(join(dir, 'beta-job.alt.json'), job('beta-job', 1));
      expect((await run(['publish', '--tenant', 'beta.corp', join(dir, 'beta-job.alt.json'), ...server])).code).toBe(0);
      await eventually(() => h.lasts(), (l) => l.some((x) => x.last.alt_file_id === 'beta-job'), 'the tenant\'s job');
      const token = tenantToken('beta.corp');
      expect(token).not.toBe('beta.corp');
      for (const tenant of ['beta.corp', token]) {
        const found = json((await run(['jobs', '--finished', '--json', '--tenant', tenant, ...server])).out);
        expect({ tenant, ids: found.map((j) => j.alt_id) }).toEqual({ tenant, ids: ['beta-job'] });
        expect((await get(`/api/finished?tenant=${encodeURIComponent(tenant)}`)).body.jobs.map((j: { alt_id: string }) => j.alt_id)).toEqual(['beta-job']);
      }
      expect(json((await run(['jobs', '--finished', '--json', '--tenant', 'beta', ...server])).out)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('a worker that is not live', () => {
  const beat = (workerId: string, seenAgoMs: number) => JSON.stringify({
    worker_id: workerId, host: 'elsewhere', pid: 1, version: '0', started_at: new Date(Date.now() - 600_000).toISOString(), seen_at: new Date(Date.now() - seenAgoMs).toISOString(),
    concurrency: 2, in_flight: 0, processed: 0, waiting_for_ai: 0, breaker: 'closed', stream: 'ALT', consumer: 'runner', heartbeat_ms: 2_000,
  });

  it('is refused with WORKER_NOT_FOUND by drain and workers set once its heartbeat is two intervals old', async () => {
    const workers = await new Kvm(h.nc).open('ALT_WORKERS');
    const control = await new Kvm(h.nc).open('ALT_CONTROL');
    for (const argv of [['drain', 'stale:1'], ['workers', 'set', 'stale:1', '--concurrency', '3']]) {
      // Written just now (the bucket keeps it three intervals), but seen 5 s ago: more than two of its 2 s intervals.
      await workers.put(workerKey('stale:1'), beat('stale:1', 5_000));
      const r = await run([...argv, ...server]);
      expect({ argv, code: r.code }).toEqual({ argv, code: 1 });
      expect(r.err).toMatch(/WORKER_NOT_FOUND: no live worker stale:1 .*a worker is live while its heartbeat is younger than 2 of its intervals/);
    }
    await workers.put(workerKey('stale:1'), beat('stale:1', 5_000));
    expect((await run(['workers', ...server])).out).toMatch(/^stale:1 +0 +not answering +0\/2 /m);
    expect(await control.get(drainKey('stale:1'))).toBeNull();
    expect(await control.get(concurrencyKey('stale:1'))).toBeNull();
  });

  it('that does not answer a concurrency request: WORKER_NOT_ANSWERING, and the value before is the one pending', async () => {
    const workers = await new Kvm(h.nc).open('ALT_WORKERS');
    const control = await new Kvm(h.nc).open('ALT_CONTROL');
    // A request not applied yet (its heartbeat names none): the worker runs with 7 once it reads it.
    await control.put(concurrencyKey('mute:1'), JSON.stringify({ worker_id: 'mute:1', concurrency: 7, by: 'nats:earlier', at: new Date().toISOString(), request: 'earlier' }));
    await workers.put(workerKey('mute:1'), beat('mute:1', 0));
    const r = await run(['workers', 'set', 'mute:1', '--concurrency', '4', '--timeout', '0.5', ...server]);
    expect(r).toMatchObject({ code: 1, out: '' });
    expect(r.err).toMatch(/WORKER_NOT_ANSWERING: mute:1 did not report applying concurrency 4 within 0.5 s/);
    // The dashboard alike: 409 with the code (after its 5 s wait); the value before is the last request's.
    await workers.put(workerKey('mute:1'), beat('mute:1', 0));
    const answer = await fetch(`${url}/api/actions/concurrency`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${OPERATOR}` }, body: JSON.stringify({ worker_id: 'mute:1', concurrency: 5 }) });
    expect({ status: answer.status, code: ((await answer.json()) as { code: string }).code }).toEqual({ status: 409, code: 'WORKER_NOT_ANSWERING' });
    const set = (await fleetEvents()).filter((e) => e.type === 'concurrency_set' && e.detail?.worker === 'mute:1');
    expect(set.map((e) => e.detail)).toEqual([{ worker: 'mute:1', concurrency: 4, was: 7 }, { worker: 'mute:1', concurrency: 5, was: 4 }]);
  });
});

describe('altlas workers set', () => {
  it('prints the worker\'s concurrency before each change as the worker reported it, however quick the changes', async () => {
    const changes: [number, number][] = [[3, 2], [4, 3], [1, 4], [5, 1], [5, 5]];
    for (const [n, was] of changes) {
      const asked = Date.now();
      // A generous wait on a busy machine (the default is 5 s).
      const r = await run(['workers', 'set', id, '--concurrency', String(n), '--timeout', '30', ...server]);
      expect(r).toEqual({ code: 0, out: `${id}: concurrency ${was} → ${n} (applied)`, err: '' });
      // A figure, not an assertion (the machine is shared): how long the worker took to report it applied.
      console.log(`workers set ${n}: reported applied after ${Date.now() - asked} ms`);
    }
    const set = (await fleetEvents()).filter((e) => e.type === 'concurrency_set' && e.detail?.worker === id && !e.worker_id);
    expect(set.map((e) => [e.detail.concurrency, e.detail.was])).toEqual(changes);
    // The worker's own events (sent within HISTORY_FLUSH_MS) give the value it left, for the four that changed it.
    const applied = await eventually(async () => (await fleetEvents()).filter((e) => e.type === 'concurrency_set' && e.worker_id === id), (l) => l.length === 4, 'the worker\'s applied events');
    expect(applied.map((e) => [e.detail.concurrency, e.detail.was])).toEqual(changes.slice(0, 4));
    expect(JSON.parse((await run(['workers', 'set', id, '--concurrency', '2', '--json', ...server])).out)).toEqual({ worker_id: id, concurrency: 2, was: 5 });
  }, 120_000);
});

describe('altlas drain --wait', () => {
  const me = `${userInfo().username}@${hostname()}`;
  const goneIn = async (worker: string) => (await fleetEvents()).filter((e) => e.type === 'drain_gone' && e.detail?.worker === worker).map((e) => e.by);

  it('says a worker killed while draining ended before it drained (WORKER_GONE, exit 1), removes its drain request, and records it', async () => {
    const started = w.logs('run started').length;
    await h.publish(job('held-1', 1, 'slow-step'));
    await eventually(async () => w.logs('run started'), (l) => l.length > started, 'the job to start');
    const drain = run(['drain', id, '--wait', ...server]);
    await eventually(async () => w.logs('draining: no new work is taken; the jobs running here finish, then the worker exits'), (l) => l.length === 1, 'the worker to drain');
    w.kill('SIGKILL');
    const r = await drain;
    expect(r).toMatchObject({ code: 1, out: '' });
    expect(r.err).toBe(`altlas drain: WORKER_GONE: ${id} ended its heartbeat before it drained (killed, or stopped and not answering): the jobs it held are redelivered and its drain request is removed; if it only stopped, it may still drain when it resumes (when it read the request before)`);
    // The fleet's history has the outcome, with who asked, not the request alone.
    expect(await goneIn(id)).toEqual([me]);
    expect((await run(['history', '--fleet', ...server])).out).toContain(`${id}, asked to drain by ${me}, ${GONE}`);
    const control = await new Kvm(h.nc).open('ALT_CONTROL');
    expect((await control.get(drainKey(id)))?.operation ?? 'none').not.toBe('PUT');
    expect((await fleetEvents()).filter((e) => e.type === 'drained')).toEqual([]);
    // Once its heartbeat is stale, the worker is not live: a new drain is refused.
    expect((await run(['drain', id, ...server])).err).toMatch(/WORKER_NOT_FOUND/);
  }, 120_000);

  it('says a stopped worker (SIGSTOP) is gone too, recorded with who asked; resumed, it drains or runs on, and stops cleanly', async () => {
    const s = await h.worker({ ...BEAT });
    const sid = String((await eventually(async () => s.logs('worker started'), (l) => l.length > 0, 'worker started'))[0].worker_id);
    // Stopped once its heartbeat is written (live for two intervals after): the drain is asked of a live worker.
    await eventually(async () => (await run(['workers', '--json', ...server])).out, (out) => out.includes(`"worker_id":"${sid}"`), 'its heartbeat');
    s.kill('SIGSTOP');
    try {
      const r = await run(['drain', sid, '--wait', ...server]);
      expect(r).toMatchObject({ code: 1, err: expect.stringContaining(`WORKER_GONE: ${sid} ended its heartbeat before it drained`) });
      expect(await goneIn(sid)).toEqual([me]);
    } finally {
      s.kill('SIGCONT');
    }
    // Whether it drains depends on whether it read the request before its watch was reset; either way it ends with 0.
    s.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
  }, 120_000);
});
