/**
 * `altlas dashboard` in a real browser (Debian's chromium, driven by playwright-core): live jobs,
 * one job's graph, dead letters and actions with and without the token, and the page with
 * 10,000 jobs. Screenshots go to a temporary folder; UPDATE_SCREENSHOTS=1 writes the README's.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { ROOT, SAMPLES } from '../helpers/paths.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const shots = process.env.UPDATE_SCREENSHOTS ? join(ROOT, 'docs') : mkdtempSync(join(tmpdir(), 'altlas-shots-'));
const TOKEN = 'test-token-1234';

let h: Harness;
let browser: Browser;
const dashboards: ChildProcess[] = [];

/** Starts `altlas dashboard --port 0` and resolves with its URL. */
async function dashboard(env: NodeJS.ProcessEnv): Promise<string> {
  const p = spawn(join(ROOT, 'bin', 'altlas'), ['dashboard', '--port', '0', '--server', h.server.url], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

beforeAll(async () => {
  if (!CHROMIUM) throw new Error('chromium is not installed (apt-get install chromium; .ci/run installs it)');
  h = await Harness.start();
  await h.worker();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
});
afterAll(async () => {
  await browser?.close();
  for (const d of dashboards) {
    d.kill('SIGTERM');
    if (d.exitCode === null) await new Promise((r) => d.once('exit', r));
  }
  await h?.close();
  if (!process.env.UPDATE_SCREENSHOTS) rmSync(shots, { recursive: true, force: true });
});

async function open(url: string, jobsView = true): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(url);
  if (jobsView) await page.waitForFunction(() => (globalThis as unknown as { __dashboard: { firstPaint: number | null } }).__dashboard.firstPaint !== null);
  (page as unknown as { errors: string[] }).errors = errors;
  return page;
}

describe('altlas dashboard', () => {
  it('shows jobs live, draws a job\'s graph, and acts on dead letters only with the token', async () => {
    const url = await dashboard({ DASHBOARD_TOKEN: TOKEN });
    const home = await fetch(url);
    expect(home.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    const page = await open(url);
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));

    // A job appears and reaches completed without a reload.
    h.fake.setFaults({ latencyMs: 300 });
    await h.publish(job('dash-1', 3));
    await page.locator('tr[data-job-id="dash-1"]').waitFor();
    await page.locator('tr[data-job-id="dash-1"] [data-state="completed"]').waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => (globalThis as unknown as { marker: number }).marker)).toBe(42);

    // Its graph: a node per task, an edge per dependency of the .alt (t1 → t2 → t3).
    await page.locator('tr[data-job-id="dash-1"]').click();
    await page.locator('#graph svg .node').first().waitFor();
    expect(await page.locator('#graph .node').count()).toBe(3);
    expect(await page.locator('#graph .edge').evaluateAll((es) => es.map((e) => `${(e as unknown as { dataset: Record<string, string> }).dataset.from}>${(e as unknown as { dataset: Record<string, string> }).dataset.to}`).sort())).toEqual(['t1>t2', 't2>t3']);
    await page.locator('#last-json', { hasText: '"status": "success"' }).waitFor({ state: 'attached' });

    // A 2.0 program: its instances and construct → member edges as the .last's graph has them.
    h.fake.setFaults({ latencyMs: 0 });
    await h.publish(readFileSync(join(SAMPLES, 'enhanced-2.0.alt.yaml')), { 'Content-Type': 'application/yaml' });
    const [enhanced] = (await h.waitForLasts(2)).filter(({ last }) => last.alt_file_id !== 'dash-1');
    await page.locator('#back').click();
    await page.locator(`tr[data-job-id="${enhanced.last.alt_file_id}"] [data-state="completed"]`).waitFor({ timeout: 30_000 });
    await page.locator(`tr[data-job-id="${enhanced.last.alt_file_id}"]`).click();
    await page.locator('#job-title', { hasText: enhanced.last.alt_file_id }).waitFor();
    await page.locator('#last-json', { hasText: enhanced.last.execution_id }).waitFor({ state: 'attached' });
    // Members never instantiated (a branch not taken) are drawn too, greyed: the .last lists them under control_flow.skipped.
    const skipped = (enhanced.last.metadata.control_flow as { skipped: unknown[] }).skipped.length;
    expect(await page.locator('#graph .node.state-skipped').count()).toBe(skipped);
    expect(await page.locator('#graph .node:not(.state-skipped)').count()).toBe(enhanced.last.execution_graph!.nodes.length);
    expect(await page.locator('#graph .edge').count()).toBe(enhanced.last.execution_graph!.edges.length);
    await page.screenshot({ path: join(shots, 'dashboard-job.png') });

    // A dead letter: listed with its code; replay refused without the token, done with it.
    await h.publish('{"id": "bad-1", "version": "1.0", "created_at": "2025-05-01T00:00:00Z", "title": "t", "tasks": [{"id": "a", "description": "x", "dependencies": ["zz"]}]}');
    await page.locator('nav a[data-tab="dlq"]').click();
    const row = page.locator('#dlq-table tr[data-code="ALT_UNKNOWN_DEPENDENCY"]');
    await row.first().waitFor({ timeout: 30_000 });
    await row.first().locator('button', { hasText: 'Original' }).click();
    await page.locator('#dlq-payload', { hasText: '"bad-1"' }).waitFor();
    await row.first().locator('button.replay').click();
    await page.locator('#toast', { hasText: 'replay refused: a valid token is needed for actions' }).waitFor();
    const before = await h.records('ALT_DLQ');
    expect(before.length).toBe(1);
    const dlqSeq = before[0].seq;
    await page.locator('#token').fill(TOKEN);
    await page.locator('#token').dispatchEvent('change');
    await row.first().locator('button.replay').click();
    await page.locator('#toast', { hasText: 'replayed 1 dead letter' }).waitFor();
    // The replayed job fails again: its new record replaces the old one (one record per job).
    const again = await eventually(() => h.records('ALT_DLQ'), (r) => r.length === 1 && r[0].seq !== dlqSeq, 'the replayed job dead-lettered again');
    expect(again[0].headers?.get('Dlq-Code')).toBe('ALT_UNKNOWN_DEPENDENCY');
    // Actions are POSTs: a GET is refused, and so is a POST without the token.
    expect((await fetch(`${url}/api/actions/purge`)).status).toBe(405);
    expect((await fetch(`${url}/api/actions/purge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(401);
    // The jobs view with work in flight, for the README.
    h.fake.setFaults({ latencyMs: 4_000 });
    for (const id of ['report-2', 'report-3', 'report-4']) await h.publish(job(id, 3));
    await page.locator('nav a[data-tab="jobs"]').click();
    await page.locator('tr[data-job-id="report-4"] [data-state="running"]').waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(shots, 'dashboard-jobs.png') });
    h.fake.setFaults({ latencyMs: 0 });
    // The only errors the page saw: the refused action (401), as intended.
    expect((page as unknown as { errors: string[] }).errors).toEqual(['Failed to load resource: the server responded with a status of 401 (Unauthorized)']);
    await page.close();
  });

  it('links every view, shows partialsuccess and outputs while a job runs, collapses a long loop, redacts every body, and checks the token', async () => {
    const url = await dashboard({ DASHBOARD_TOKEN: TOKEN });
    const secret = 'AKIA2E0A8F3B244C9986';
    const doc = (id: string, tasks: { id: string; description: string; dependencies?: string[] }[]) => JSON.stringify({ id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `job ${id}`, tasks });
    h.fake.setFaults({ script: [{ match: 'leaky step', answers: [`the key is ${secret}`] }], errorRules: [{ match: 'broken step', status: 400 }], latencyRules: [{ match: 'slow step', ms: 60_000 }] });
    try {
      // The live events from before the jobs start (read below).
      const reader = (await fetch(`${url}/api/events`)).body!.getReader();
      await h.publish(doc('partial-1', [{ id: 'ok', description: 'fine step' }, { id: 'bad', description: 'broken step' }]));
      // A job as ALT_LAS writes them: a uuid for an id, a long command for a title.
      await h.publish(readFileSync(join(SAMPLES, 'segmentation-1.alt.yaml')), { 'Content-Type': 'application/yaml' });
      await h.publish(doc('leaky-1', [{ id: 'first', description: 'leaky step' }, { id: 'second', description: 'slow step', dependencies: ['first'] }]));
      await h.publish(JSON.stringify({ id: 'loop-1', version: '2.0', timestamp: '2025-05-01T00:00:00Z', command: 'many items',
        segments: [{ id: 'many', task_type: 'control_flow', content: 'x', loop: { type: 'for_range', variable: 'i', start: 0, end: 40, body: ['w'] } }, { id: 'w', task_type: 'create', content: 'item ${i}' }] }));

      // A job opened by its URL while it runs: the completed task's output shows (from the status entry), masked.
      const page = await open(`${url}/#/job/leaky-1`, false);
      await page.locator('#job-title', { hasText: 'leaky-1' }).waitFor();
      const firstRow = page.locator('#tasks-table tr[data-task="first"] td.output');
      await firstRow.filter({ hasText: 'the key is' }).waitFor({ timeout: 30_000 });
      expect(await firstRow.textContent()).toBe('the key is [REDACTED]');
      // Every body is masked: the job, the list, and the live events.
      for (const path of ['/api/jobs/leaky-1', '/api/jobs']) {
        const text = await (await fetch(`${url}${path}`)).text();
        expect({ path, leaked: text.includes(secret), masked: text.includes('[REDACTED]') }).toEqual({ path, leaked: false, masked: true });
      }
      let stream = '';
      // Actions: a wrong token is refused (401), the right one cancels.
      const cancel = (token: string) => fetch(`${url}/api/actions/cancel`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"alt_id": "leaky-1"}' });
      expect((await cancel(`${TOKEN}x`)).status).toBe(401);
      expect((await cancel('')).status).toBe(401);
      expect((await cancel(TOKEN)).status).toBe(200);
      // Read the live events until leaky-1's cancelled entry went by (each event: "event: <type>\ndata: <json>").
      const cancelledSeen = () => [...stream.matchAll(/^event: job\ndata: (.+)$/gm)].some((m) => {
        const job = JSON.parse(m[1]) as { alt_id: string; state: string };
        return job.alt_id === 'leaky-1' && job.state === 'cancelled';
      });
      while (!cancelledSeen()) {
        const chunk = await reader.read();
        if (chunk.done) throw new Error(`the event stream ended: ${stream}`);
        stream += new TextDecoder().decode(chunk.value);
      }
      await reader.cancel();
      expect(stream).toContain('the key is [REDACTED]');
      expect(stream).not.toContain(secret);
      // The cancelled running task shows cancelled with JOB_CANCELLED, as in the .last.
      await page.locator('#tasks-table tr[data-task="second"] [data-state="cancelled"]').waitFor({ timeout: 30_000 });
      expect(await page.locator('#tasks-table tr[data-task="second"] td').nth(5).textContent()).toBe('JOB_CANCELLED');
      expect(await page.locator('#last-json').textContent()).not.toContain(secret);
      // The final entry leaves the outputs to the .last (its previews go); the page shows the .last's.
      const final = (await (await fetch(`${url}/api/jobs/leaky-1`)).json()) as { job: { tasks: Record<string, { preview?: string }> }; last: unknown };
      expect([final.job.tasks.first.preview, final.last !== null]).toEqual([undefined, true]);
      expect(await firstRow.textContent()).toBe('the key is [REDACTED]');
      // A reload keeps the view.
      await page.reload();
      await page.locator('#job-title', { hasText: 'leaky-1' }).waitFor();

      // The jobs list: partialsuccess as such, dates with times; a row links to its job and Back returns.
      await page.goto(`${url}/#/jobs`);
      await page.locator('tr[data-job-id="partial-1"] [data-state="partialsuccess"]').waitFor({ timeout: 30_000 });
      expect(await page.locator('tr[data-job-id="partial-1"] td').nth(6).textContent()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      await page.locator('tr[data-job-id="partial-1"] a').click();
      await page.locator('#job-title', { hasText: 'partial-1' }).waitFor();
      expect(new URL(page.url()).hash).toBe('#/job/partial-1');
      await page.goBack();
      await page.locator('#tab-jobs.active').waitFor();
      expect(new URL(page.url()).hash).toBe('#/jobs');
      await page.locator('#state-filter').selectOption('completed');
      expect(new URL(page.url()).hash).toBe('#/jobs?state=completed');
      // At 800 px the jobs table fits the window (less important columns give way) instead of being cut.
      await page.locator('#state-filter').selectOption('');
      await page.locator('tr[data-job-id="7428f73b-383b-4896-98e7-69fbd0e61cc5"]').waitFor({ timeout: 30_000 });
      await page.setViewportSize({ width: 800, height: 700 });
      expect(await page.evaluate(() => {
        const doc = (globalThis as unknown as { document: { querySelector: (s: string) => { getBoundingClientRect: () => { right: number } } } }).document;
        return doc.querySelector('#jobs-table').getBoundingClientRect().right <= (globalThis as unknown as { innerWidth: number }).innerWidth;
      })).toBe(true);
      await page.setViewportSize({ width: 1280, height: 760 });

      // A 40-iteration loop (range(0, 40)): drawn collapsed, expanded on a click.
      await page.locator('tr[data-job-id="loop-1"] [data-state="completed"]').waitFor({ timeout: 60_000 });
      await page.goto(`${url}/#/job/loop-1`);
      const collapsed = page.locator('#graph .node.collapsed');
      await collapsed.waitFor();
      expect(await collapsed.getAttribute('data-count')).toBe(String(40 - 4));
      expect(await page.locator('#graph .node').count()).toBeLessThan(12);
      expect(await page.locator('#graph .node[data-task="many[20]/w"]').count()).toBe(0);
      await collapsed.click();
      // An iteration from the middle (hidden while collapsed; the last one is always drawn).
      await page.locator('#graph .node[data-task="many[20]/w"]').waitFor();
      expect(await page.locator('#graph .node.collapsed').count()).toBe(0);
      expect(await page.locator('#graph .node').count()).toBe(41);

      // The fleet chart has a time axis.
      await page.goto(`${url}/#/fleet`);
      await page.locator('#chart text.axis', { hasText: 'now' }).waitFor();
      expect(await page.locator('#chart text.axis', { hasText: '−15 min' }).count()).toBe(1);
      await page.close();

      // Purge takes a filter or an explicit all: true; an empty body removes nothing.
      const purge = (body: string, token = TOKEN) => fetch(`${url}/api/actions/purge`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
      await h.publish(doc('bad-purge', [{ id: 'a', description: 'x', dependencies: ['zz'] }]));
      const records = (await eventually(() => h.records('ALT_DLQ'), (r) => r.some((x) => x.headers?.get('Alt-Id') === 'bad-purge'), 'a dead letter')).length;
      const refused = await purge('{}');
      expect([refused.status, ((await refused.json()) as { error: string }).error]).toEqual([400, 'purge takes seq, code, or all: true (to remove every dead letter)']);
      expect((await purge('{"all": true}', 'wrong')).status).toBe(401);
      expect((await h.records('ALT_DLQ')).length).toBe(records);
      expect((await purge('{"all": true}')).status).toBe(200);
      expect(await h.records('ALT_DLQ')).toEqual([]);
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok', ready: true });
    } finally {
      h.fake.setFaults({});
    }
  });

  it('shows the live text of a running task, growing as its answer comes, and the whole answer at its end', async () => {
    // A worker that asks for streamed answers (the one started first asks the orchestrator, which answers whole).
    for (const w of h.workers) w.kill('SIGKILL');
    await Promise.all(h.workers.map((w) => w.exited));
    await h.worker({ AI_PROVIDER: 'openai' });
    // About 4 s of answer at 40 tokens per second.
    h.fake.setFaults({ firstTokenMs: 50, tokenRate: 40, outputChars: 640 });
    const url = await dashboard({});
    const page = await open(url);
    await h.publish(job('live-1', 1));
    await page.locator('tr[data-job-id="live-1"]').click();
    const text = page.locator('#live-text [data-live-task="t1"] pre');
    // A function, not a string: the page's Content-Security-Policy refuses eval.
    const longer = (n: number) => ((globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } }).document.querySelector('#live-text [data-live-task="t1"] pre')?.textContent ?? '').length > n;
    await page.waitForFunction(longer, 0, { timeout: 30_000 });
    const first = (await text.textContent())!.length;
    // The same element, longer: the text grows on the page while the task runs.
    await page.waitForFunction(longer, first + 40, { timeout: 30_000 });
    // ...before the job's .last exists: the task is still running.
    expect((await h.lasts()).some(({ last: l }) => l.alt_file_id === 'live-1')).toBe(false);
    const stored = await eventually(() => h.lasts(), (l) => l.some((x) => x.last.alt_file_id === 'live-1'), 'the .last of live-1', 60_000);
    const last = stored.find((x) => x.last.alt_file_id === 'live-1')!.last;
    await page.locator('#live-text [data-live-task="t1"] .live-note', { hasText: 'complete' }).waitFor({ timeout: 30_000 });
    expect(await text.textContent()).toBe(last.task_results.t1.output!.text);
    h.fake.setFaults({});
    expect((page as unknown as { errors: string[] }).errors).toEqual([]);
    await page.close();
  });

  it('is read-only without DASHBOARD_TOKEN', async () => {
    const url = await dashboard({ DASHBOARD_TOKEN: '' });
    const page = await open(url);
    await expect(page.locator('#mode').textContent()).resolves.toBe('read-only');
    expect(await page.locator('#token').isHidden()).toBe(true);
    const r = await fetch(`${url}/api/actions/cancel`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: '{"alt_id": "x"}' });
    expect([r.status, ((await r.json()) as { error: string }).error]).toEqual([403, 'the dashboard is read-only: set DASHBOARD_TOKEN to allow actions']);
    // A page whose event stream connects once the dashboard is ready is told so first (it may have asked /api/config before).
    const events = (await fetch(`${url}/api/events`)).body!.getReader();
    let text = '';
    while (!/^event: stats$/m.test(text)) {
      const chunk = await events.read();
      if (chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    await events.cancel();
    expect(text.match(/^event: \w+$/gm)?.slice(0, 2)).toEqual(['event: ready', 'event: stats']);
    // The fleet view shows the priority lanes, highest first, with what each stores.
    const stats = JSON.parse(/^event: stats\ndata: (.*)$/m.exec(text)![1]) as { lanes: { lane: string; stored: number }[] };
    expect(stats.lanes.map((l) => l.lane)).toEqual(['critical', 'high', 'medium', 'low']);
    await page.locator('nav a[data-tab="fleet"]').click();
    // A function, not a string: the page's CSP allows no eval of a string expression.
    await page.waitForFunction(() => (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document.querySelectorAll('#lanes [data-lane]').length === 4);
    await expect(page.locator('#lanes [data-lane]').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-lane')} ${e.querySelector('b')?.textContent}`))).resolves.toEqual(['critical 0', 'high 0', 'medium 0', 'low 0']);
    await page.close();
  });

  it('opens with 10,000 jobs in the bucket and keeps up with 200 status updates per second (figures printed)', async () => {
    const entry = (i: number, state: string) => JSON.stringify({
      alt_id: `bulk-${i}`, state, title: `bulk job ${i}`, alt_stream: 'ALT', alt_stream_seq: i, deliveries: 1, worker_id: 'bench:1',
      received_at: new Date(Date.now() - 100_000 + i).toISOString(), updated_at: new Date().toISOString(), started_at: new Date(Date.now() - 100_000 + i).toISOString(),
      finished_at: state === 'completed' ? new Date().toISOString() : null, last_status: null, tasks_total: 3, tasks_done: state === 'completed' ? 3 : 1, error: null,
      tasks: { t1: { state: 'completed', attempts: 1, started_at: null, finished_at: null } },
    });
    const put = async (from: number, to: number, state: string) => {
      const window: Promise<unknown>[] = [];
      for (let i = from; i < to; i++) {
        window.push(h.js.publish(`$KV.ALT_RUNS.bulk-${i}`, entry(i, state)));
        if (window.length >= 500) await Promise.all(window.splice(0));
      }
      await Promise.all(window);
    };
    await put(0, 10_000, 'running');
    const url = await dashboard({});
    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    await page.goto(url);
    await page.waitForFunction(() => (globalThis as unknown as { __dashboard: { firstPaint: number | null } }).__dashboard.firstPaint !== null);
    const firstPaint = await page.evaluate(() => (globalThis as unknown as { __dashboard: { firstPaint: number } }).__dashboard.firstPaint);
    expect(await page.locator('#jobs-table tbody tr').count()).toBe(200);
    await page.locator('[data-count="running"] b', { hasText: /^10\d{3}$|^10000$/ }).waitFor();
    // 1,000 updates at 200 per second (the last 1,000 jobs complete).
    const before = await page.evaluate(() => (globalThis as unknown as { __dashboard: { updates: number } }).__dashboard.updates);
    const started = Date.now();
    for (let k = 0; k < 5; k++) {
      const tick = Date.now();
      await put(9_000 + k * 200, 9_200 + k * 200, 'completed');
      await new Promise((r) => setTimeout(r, Math.max(0, 1_000 - (Date.now() - tick))));
    }
    await page.waitForFunction((n) => (globalThis as unknown as { __dashboard: { updates: number } }).__dashboard.updates >= n, before + 1_000, { timeout: 30_000 });
    const seconds = (Date.now() - started) / 1000;
    await page.locator('[data-count="completed"] b', { hasText: /^100\d$/ }).waitFor({ timeout: 10_000 });
    process.stdout.write(`dashboard with 10,000 jobs: first paint of the jobs table ${firstPaint.toFixed(0)} ms after navigation; 1,000 updates sent at 200/s were all applied in ${seconds.toFixed(1)} s\n`);
    await page.close();
  });
});
