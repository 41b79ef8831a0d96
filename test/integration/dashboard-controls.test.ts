/**
 * The fleet's controls on the dashboard: pause and resume the intake, drain a worker, set a
 * worker's concurrency, through the HTTP API and in a browser. Only DASHBOARD_OPERATOR_TOKEN may
 * (DASHBOARD_TOKEN gets 403 NOT_OPERATOR), a POST from another origin is 403 CROSS_ORIGIN, junk
 * bodies are 400 BAD_INPUT; each control is in the fleet's history with the token's name, and
 * takes effect on a real worker (on nats-server 2.9: the control record alone, no consumer pause).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { loadConfig } from '../../src/config/load.ts';
import { Dashboard } from '../../src/dashboard/server.ts';
import { Harness, eventually, job, type WorkerProcess } from '../helpers/runner.ts';

const TOKEN = 'controls-token-1234';
const OPERATOR = 'controls-operator-5678';
const BY = 'dashboard:ops-root';
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
let h: Harness;
let w: WorkerProcess;
let workerId: string;
const stop = new AbortController();
const dashboards: Dashboard[] = [];
let browser: Browser | undefined;

/** A dashboard with these variables, listening; its base address. */
async function dashboard(env: Record<string, string>): Promise<{ d: Dashboard; url: string }> {
  const d = new Dashboard({ config: loadConfig({ NATS_URL: h.server.url, ...env }), port: 0, host: '127.0.0.1' });
  dashboards.push(d);
  return { d, url: `http://127.0.0.1:${(await d.listen()).port}` };
}
let url: string;
/** A dashboard with DASHBOARD_TOKEN alone: actions, no fleet controls. */
let actionsOnly: { d: Dashboard; url: string };

interface Answer { status: number; body: Record<string, any> }
async function post(name: string, body: unknown, options: { base?: string; token?: string; origin?: string; type?: string } = {}): Promise<Answer> {
  const r = await fetch(`${options.base ?? url}/api/actions/${name}`, {
    method: 'POST',
    headers: {
      'content-type': options.type ?? 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.origin ? { origin: options.origin } : {}),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() as Record<string, any> };
}
const get = async (path: string) => (await fetch(`${url}${path}`)).json() as Promise<Record<string, any>>;
const fleetEvents = async () => (await get('/api/jobs/_fleet/history')).events as { type: string; at: string; by?: string; worker_id?: string; detail?: Record<string, unknown> }[];
const lastsOf = async (prefix: string) => (await h.lasts()).filter((l) => l.last.alt_file_id.startsWith(prefix));

beforeAll(async () => {
  h = await Harness.start(undefined, { latencyRules: [{ match: 'slow-step', ms: 700 }] });
  w = await h.worker({ RUNNER_CONCURRENCY: '3', RUNNER_SHUTDOWN_GRACE_MS: '0' });
  workerId = String((await eventually(async () => w.logs('worker started'), (l) => l.length > 0, 'worker started'))[0].worker_id);
  const main = await dashboard({ DASHBOARD_TOKEN: TOKEN, DASHBOARD_TOKEN_NAME: 'ops-alice', DASHBOARD_OPERATOR_TOKEN: OPERATOR, DASHBOARD_OPERATOR_TOKEN_NAME: 'ops-root' });
  url = main.url;
  await main.d.attach(h.nc, stop.signal);
}, 180_000);
afterAll(async () => {
  await browser?.close();
  stop.abort();
  for (const d of dashboards) await d.close();
  await h?.close();
});

describe('the dashboard\'s fleet controls refuse', () => {
  it('a GET, a missing or wrong token, DASHBOARD_TOKEN (NOT_OPERATOR), another origin, junk bodies and unknown workers', async () => {
    expect((await fetch(`${url}/api/actions/pause`)).status).toBe(405);
    expect(await get('/api/config')).toMatchObject({ actions: true, controls: true });
    const refused = async (name: string, body: unknown, options: Parameters<typeof post>[2]) => {
      const r = await post(name, body, options);
      return { name, body, status: r.status, code: r.body.code };
    };
    for (const name of ['pause', 'resume', 'drain', 'concurrency']) {
      const body = { worker_id: workerId, concurrency: 2 };
      expect(await refused(name, body, {})).toEqual({ name, body, status: 401, code: 'UNAUTHORIZED' });
      expect(await refused(name, body, { token: 'not-the-token' })).toEqual({ name, body, status: 401, code: 'UNAUTHORIZED' });
      expect(await refused(name, body, { token: TOKEN })).toEqual({ name, body, status: 403, code: 'NOT_OPERATOR' });
      expect(await refused(name, body, { token: OPERATOR, origin: 'http://evil.example' })).toEqual({ name, body, status: 403, code: 'CROSS_ORIGIN' });
    }
    // Another port of the same host is another origin; so is a page that has none ("null").
    const port = new URL(url).port;
    for (const origin of [`http://127.0.0.1:${Number(port) + 1}`, 'null', `https://127.0.0.1:${port}`]) {
      expect(await refused('pause', {}, { token: OPERATOR, origin })).toEqual({ name: 'pause', body: {}, status: 403, code: 'CROSS_ORIGIN' });
    }
    // The ordinary actions are checked alike.
    expect(await refused('cancel', { alt_id: 'x' }, { token: TOKEN, origin: 'http://evil.example' })).toMatchObject({ status: 403, code: 'CROSS_ORIGIN' });
    expect(await refused('pause', '{}', { token: OPERATOR, type: 'text/plain' })).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    const junk: [string, unknown][] = [
      ['pause', { now: true }], ['resume', []], ['pause', 'not json'],
      ['drain', {}], ['drain', { worker_id: 42 }], ['drain', { worker_id: '' }], ['drain', { worker_id: 'a\u0000b' }], ['drain', { worker_id: workerId, wait: true }],
      ...[0, -1, 1.5, '2', 10_001, null, true, 1e300].map((concurrency): [string, unknown] => ['concurrency', { worker_id: workerId, concurrency }]),
      ['concurrency', { worker_id: workerId }], ['concurrency', { concurrency: 2 }], ['concurrency', { worker_id: workerId, concurrency: 2, by: 'me' }],
    ];
    for (const [name, body] of junk) expect(await refused(name, body, { token: OPERATOR })).toEqual({ name, body, status: 400, code: 'BAD_INPUT' });
    // Sent from the dashboard's own page (its origin), the request goes through to the checks of its body.
    expect(await refused('concurrency', { worker_id: workerId, concurrency: 0 }, { token: OPERATOR, origin: url })).toMatchObject({ status: 400, code: 'BAD_INPUT' });
    for (const [name, body] of [['drain', { worker_id: 'nobody:1' }], ['concurrency', { worker_id: 'nobody:1', concurrency: 2 }]] as const) {
      const r = await post(name, body, { token: OPERATOR });
      expect({ name, status: r.status, code: r.body.code }).toEqual({ name, status: 404, code: 'WORKER_NOT_FOUND' });
      expect(r.body.error).toMatch(new RegExp(`no live worker nobody:1 \\(alive: ${workerId}\\)`));
    }
    // Without DASHBOARD_OPERATOR_TOKEN there are no controls; without any token the dashboard is read-only.
    actionsOnly = await dashboard({ DASHBOARD_TOKEN: TOKEN });
    await actionsOnly.d.attach(h.nc, stop.signal);
    expect(await (await fetch(`${actionsOnly.url}/api/config`)).json()).toMatchObject({ actions: true, controls: false });
    expect((await post('pause', {}, { base: actionsOnly.url, token: TOKEN })).body.code).toBe('NOT_OPERATOR');
    expect((await post('pause', {}, { base: actionsOnly.url, token: OPERATOR })).body.code).toBe('UNAUTHORIZED');
    const readOnly = await dashboard({});
    expect(await post('pause', {}, { base: readOnly.url, token: OPERATOR })).toMatchObject({ status: 403, body: { code: 'READ_ONLY' } });
    // Nothing refused was done: no pause record, no control in the fleet's history, the worker as it was.
    expect((await get('/api/fleet')).intake).toBeNull();
    expect(await fleetEvents()).toEqual([]);
    expect(w.logs('intake paused: no new work is taken')).toEqual([]);
    expect(w.logs('concurrency changed')).toEqual([]);
    expect(w.proc.exitCode).toBeNull();
  }, 120_000);
});

describe('the dashboard\'s fleet controls act on the workers', () => {
  it('pause holds the intake (no job starts until resume, counted from the jobs\' histories) and resume restarts it', async () => {
    const asked = Date.now();
    const paused = await post('pause', {}, { token: OPERATOR });
    // nats-server 2.9 has no consumer pause: the control record alone holds the intake.
    expect(paused).toEqual({ status: 200, body: { paused: true, by: BY, consumer_paused: false } });
    expect((await h.consumer()).paused).toBeFalsy();
    const line = await eventually(async () => w.logs('intake paused: no new work is taken'), (l) => l.length > 0, 'the worker to pause');
    expect(line[0].by).toBe(BY);
    // A figure, not an assertion (the machine is shared).
    console.log(`dashboard pause → the worker paused ${Date.parse(String(line[0].timestamp)) - asked} ms after the request`);
    expect((await get('/api/fleet')).intake).toMatchObject({ paused: true, by: BY });
    for (let i = 0; i < 3; i++) await h.publish(job(`held-${i}`, 1));
    // Until no pull request of the worker is open on the server (those sent before the pause expire),
    // each job is either delivered to the worker, which holds it, or waiting on the server: then none can start.
    const held = 'a delivery arrived while paused: held until the intake resumes';
    const settled = await eventually(async () => ({ c: await h.consumer(), held: w.logs(held).length }),
      ({ c, held: n }) => c.num_waiting === 0 && c.num_pending + c.num_ack_pending === 3 && n === c.num_ack_pending, 'each job held by the worker or waiting on the server, no pull request open');
    console.log(`while paused: ${settled.held} job(s) held by the worker, ${settled.c.num_pending} waiting on the server`);
    expect(w.logs('run started')).toEqual([]);
    const resumeAsked = Date.now();
    const resumed = await post('resume', {}, { token: OPERATOR });
    expect(resumed).toEqual({ status: 200, body: { paused: false, by: BY, consumer_paused: false } });
    await eventually(() => lastsOf('held-'), (l) => l.length === 3, 'the held jobs to run once resumed');
    const fleet = await fleetEvents();
    expect(fleet.map((e) => [e.type, e.by])).toEqual([['paused', BY], ['unpaused', BY]]);
    // From the records: every held job started after the resume was asked for, none while paused.
    for (let i = 0; i < 3; i++) {
      const events = await eventually(async () => (await get(`/api/jobs/held-${i}/history`)).events as { type: string; at: string }[], (e) => e.some((x) => x.type === 'started'), `held-${i}'s history`);
      const started = events.filter((e) => e.type === 'started').map((e) => Date.parse(e.at));
      expect({ job: i, startedBeforeResume: started.filter((t) => t < resumeAsked) }).toEqual({ job: i, startedBeforeResume: [] });
    }
  }, 120_000);

  it('sets a worker\'s concurrency live: no more jobs at once than it was given', async () => {
    const asked = Date.now();
    expect(await post('concurrency', { worker_id: workerId, concurrency: 1 }, { token: OPERATOR })).toEqual({ status: 200, body: { worker_id: workerId, concurrency: 1, was: 3 } });
    const line = await eventually(async () => w.logs('concurrency changed'), (l) => l.length === 1, 'the worker to take concurrency 1');
    expect(line[0]).toMatchObject({ concurrency: 1, was: 3, by: BY });
    console.log(`dashboard concurrency → the worker changed it ${Date.parse(String(line[0].timestamp)) - asked} ms after the request`);
    await eventually(() => get('/api/fleet'), (f) => f.workers.some((x: { worker_id: string; concurrency: number }) => x.worker_id === workerId && x.concurrency === 1), 'the heartbeat to show 1');
    h.fake.stats.maxInFlight = 0;
    for (let i = 0; i < 3; i++) await h.publish(job(`single-${i}`, 1, 'slow-step'));
    await eventually(() => lastsOf('single-'), (l) => l.length === 3, 'three jobs one at a time');
    expect(h.fake.stats.maxInFlight).toBe(1);

    expect((await post('concurrency', { worker_id: workerId, concurrency: 3 }, { token: OPERATOR })).status).toBe(200);
    await eventually(async () => w.logs('concurrency changed'), (l) => l.length === 2, 'the worker to take concurrency 3');
    h.fake.stats.maxInFlight = 0;
    for (let i = 0; i < 3; i++) await h.publish(job(`triple-${i}`, 1, 'slow-step'));
    await eventually(() => lastsOf('triple-'), (l) => l.length === 3, 'three jobs at once');
    expect(h.fake.stats.maxInFlight).toBeGreaterThan(1);
    // The dashboard's request (with the value it replaced) and the worker's own event when it took it, each with who asked.
    // The worker's own events go with its history's next send (within HISTORY_FLUSH_MS), the dashboard's at once.
    const set = await eventually(async () => (await fleetEvents()).filter((e) => e.type === 'concurrency_set'), (s) => s.filter((e) => e.worker_id === workerId).length >= 2, 'the worker\'s own two concurrency events');
    expect(set.every((e) => e.by === BY)).toBe(true);
    expect(set.filter((e) => !e.worker_id).map((e) => e.detail)).toEqual([{ worker: workerId, concurrency: 1, was: 3 }, { worker: workerId, concurrency: 3, was: 1 }]);
    expect(set.filter((e) => e.worker_id === workerId).map((e) => e.detail?.concurrency)).toEqual([1, 3]);
  }, 120_000);

});

/** The dashboard's fleet view in a page of its own, or null (said) when chromium is not installed. */
async function fleetPage() {
  if (!CHROMIUM) {
    console.log('skipped: chromium is not installed (apt-get install chromium; .ci/run installs it)');
    return null;
  }
  const page = await newPage();
  await page.goto(`${url}/#/fleet`);
  return page;
}

/** A page in Debian's chromium (one browser for the tests of this file). */
async function newPage() {
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  return browser.newPage();
}

describe('the dashboard page\'s fleet controls', () => {
  it('pause the intake with a click, show it paused, and resume it', async () => {
    const page = await fleetPage();
    if (!page) return;
    await page.waitForSelector('#intake-state:text("running")');
    // The buttons wait for the operator's token to be typed; the page sends it as the bearer token.
    await page.fill('#token', OPERATOR);
    await page.click('#pause-intake');
    await page.waitForSelector('#intake-state:text("paused")');
    expect(await page.textContent('#intake-by')).toContain(`paused by ${BY}`);
    expect(await page.isDisabled('#pause-intake')).toBe(true);
    expect((await get('/api/fleet')).intake).toMatchObject({ paused: true, by: BY });
    await page.click('#resume-intake');
    await page.waitForSelector('#intake-state:text("running")');
    expect((await get('/api/fleet')).intake).toMatchObject({ paused: false, by: BY });
    const fleet = await fleetEvents();
    expect(fleet.slice(-2).map((e) => [e.type, e.by])).toEqual([['paused', BY], ['unpaused', BY]]);
    // A dashboard without DASHBOARD_OPERATOR_TOKEN shows the intake with its controls disabled.
    const other = await newPage();
    await other.goto(`${actionsOnly.url}/#/fleet`);
    await other.waitForSelector('#intake-by:text("resumed by")');
    expect([await other.isDisabled('#pause-intake'), await other.isDisabled('#resume-intake')]).toEqual([true, true]);
    await other.close();
  }, 120_000);

  it('sets a worker\'s concurrency from its row', async () => {
    const page = await fleetPage();
    if (!page) return;
    const row = page.locator(`#workers-table tr[data-worker="${workerId}"]`);
    await row.locator('[data-cell="in-flight"]', { hasText: '/3' }).waitFor();
    const changes = w.logs('concurrency changed').length;
    await page.fill('#token', OPERATOR);
    await row.locator('input.concurrency').fill('2');
    await row.locator('button.set-concurrency').click();
    const line = await eventually(async () => w.logs('concurrency changed'), (l) => l.length === changes + 1, 'the worker to take concurrency 2');
    expect(line.at(-1)).toMatchObject({ concurrency: 2, was: 3, by: BY });
    // The next heartbeat shows it on the page.
    await row.locator('[data-cell="in-flight"]', { hasText: '/2' }).waitFor();
  }, 120_000);
});

describe('the dashboard\'s drain', () => {
  it('drains a worker: it finishes the job it runs, then exits 0', async () => {
    const before = w.logs('run started').length;
    await h.publish(job('drained-1', 3, 'slow-step'));
    await eventually(async () => w.logs('run started'), (l) => l.length === before + 1, 'the job to start');
    const asked = Date.now();
    const drained = await post('drain', { worker_id: workerId }, { token: OPERATOR });
    expect(drained).toEqual({ status: 200, body: { worker_id: workerId, draining: true, in_flight: expect.any(Number) } });
    expect((await w.exited).code).toBe(0);
    const draining = w.logs('draining: no new work is taken; the jobs running here finish, then the worker exits');
    expect(draining.map((l) => l.by)).toEqual([BY]);
    console.log(`dashboard drain → the worker began draining ${Date.parse(String(draining[0].timestamp)) - asked} ms after the request`);
    // It finished (with RUNNER_SHUTDOWN_GRACE_MS=0 a plain shutdown would have handed it back unfinished).
    const [done] = await lastsOf('drained-');
    expect(done.last.status).toBe('success');
    const fleet = await eventually(fleetEvents, (e) => e.some((x) => x.type === 'drained'), 'the worker\'s drained event');
    expect(fleet.filter((e) => e.type === 'drain_requested').map((e) => [e.by, e.detail?.worker])).toEqual([[BY, workerId]]);
    expect(fleet.findIndex((e) => e.type === 'drain_requested')).toBeLessThan(fleet.findIndex((e) => e.type === 'drained'));
  }, 120_000);

  it('drains a worker from its row on the page (after the confirmation)', async () => {
    if (!CHROMIUM) {
      console.log('skipped: chromium is not installed (apt-get install chromium; .ci/run installs it)');
      return;
    }
    const other = await h.worker({ RUNNER_CONCURRENCY: '1' });
    const otherId = String((await eventually(async () => other.logs('worker started'), (l) => l.length > 0, 'worker started'))[0].worker_id);
    const page = await newPage();
    const asked: string[] = [];
    page.on('dialog', (d) => void (asked.push(d.message()), d.accept()));
    await page.goto(`${url}/#/fleet`);
    await page.fill('#token', OPERATOR);
    await page.locator(`#workers-table tr[data-worker="${otherId}"] button.drain`).click();
    await eventually(async () => other.proc.exitCode, (code) => code !== null, 'the drained worker to exit', 60_000);
    expect((await other.exited).code).toBe(0);
    expect(asked).toEqual([expect.stringMatching(new RegExp(`^Drain ${otherId}\\?`))]);
    const fleet = await fleetEvents();
    expect(fleet.filter((e) => e.type === 'drain_requested' && e.detail?.worker === otherId).map((e) => e.by)).toEqual([BY]);
  }, 120_000);
});
