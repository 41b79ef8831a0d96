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

async function open(url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(url);
  await page.waitForFunction(() => (globalThis as unknown as { __dashboard: { firstPaint: number | null } }).__dashboard.firstPaint !== null);
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
    await page.locator('nav button[data-tab="dlq"]').click();
    const row = page.locator('#dlq-table tr[data-code="ALT_UNKNOWN_DEPENDENCY"]');
    await row.first().waitFor({ timeout: 30_000 });
    await row.first().locator('button', { hasText: 'Original' }).click();
    await page.locator('#dlq-payload', { hasText: '"bad-1"' }).waitFor();
    await row.first().locator('button.replay').click();
    await page.locator('#toast', { hasText: 'replay refused: a valid token is needed for actions' }).waitFor();
    expect((await h.records('ALT_DLQ')).length).toBe(1);
    await page.locator('#token').fill(TOKEN);
    await page.locator('#token').dispatchEvent('change');
    await row.first().locator('button.replay').click();
    await page.locator('#toast', { hasText: 'replayed 1 dead letter' }).waitFor();
    await eventually(() => h.records('ALT_DLQ'), (r) => r.length === 2, 'the replayed job dead-lettered again');
    // Actions are POSTs: a GET is refused, and so is a POST without the token.
    expect((await fetch(`${url}/api/actions/purge`)).status).toBe(405);
    expect((await fetch(`${url}/api/actions/purge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(401);
    // The jobs view with work in flight, for the README.
    h.fake.setFaults({ latencyMs: 4_000 });
    for (const id of ['report-2', 'report-3', 'report-4']) await h.publish(job(id, 3));
    await page.locator('nav button[data-tab="jobs"]').click();
    await page.locator('tr[data-job-id="report-4"] [data-state="running"]').waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(shots, 'dashboard-jobs.png') });
    h.fake.setFaults({ latencyMs: 0 });
    // The only errors the page saw: the refused action (401), as intended.
    expect((page as unknown as { errors: string[] }).errors).toEqual(['Failed to load resource: the server responded with a status of 401 (Unauthorized)']);
    await page.close();
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
