/**
 * Usage and budgets on the dashboard, in a real browser: the usage view (the calls the workers
 * recorded, as `altlas usage` adds them up), a job's spend and budget, each task's tokens and cost;
 * the models' rate limits as the fleet divides them (the Limits view).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import type { UsageSummary } from '../../src/usage/window.ts';
import { costNanos, loadPrices, priceOf } from '../../src/usage/prices.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { ROOT } from '../helpers/paths.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const PRICES = join(ROOT, 'deploy', 'ai-prices.yaml');
let h: Harness;
let browser: Browser;
let dash: ChildProcess | undefined;
let url = '';

beforeAll(async () => {
  if (!CHROMIUM) throw new Error('chromium is not installed (apt-get install chromium; .ci/run installs it)');
  // The fake enforces 1,000 requests a minute per model and says so in its headers: the workers learn it (the Limits view).
  h = await Harness.start(undefined, { record: true, cachedTokens: 2, rpm: 1_000 });
  await h.worker({ AI_PRICES: PRICES });
  await h.publish(job('spend-1', 3));
  await h.publish(JSON.stringify({ id: 'spend-2', version: '1.0', created_at: '2025-05-01T00:00:00Z', title: 'with a budget', metadata: { budget: { tokens: 5000 } }, tasks: [{ id: 'a', description: 'one step', parameters: { model: 'fake-small', max_tokens: 20 } }] }));
  await h.waitForLasts(2);
  dash = spawn(join(ROOT, 'bin', 'altlas'), ['dashboard', '--port', '0', '--server', h.server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    dash!.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /dashboard on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    dash!.once('exit', (code) => reject(new Error(`altlas dashboard exited with ${code}: ${out}`)));
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (dash) {
    dash.kill('SIGTERM');
    if (dash.exitCode === null) await new Promise((r) => dash!.once('exit', r));
  }
  await h?.close();
});

describe('the dashboard\'s usage', () => {
  it('serves the recorded calls as altlas usage adds them up, equal to the fake AI\'s log, and shows them', async () => {
    const table = loadPrices(PRICES);
    const answered = h.fake.log.filter((e) => e.status === 200);
    const input = answered.reduce((n, e) => n + e.usage!.input, 0);
    const nanos = answered.reduce((n, e) => n + costNanos(priceOf(table, e.model!), e.usage!)!, 0);
    const body = await eventually(async () => (await (await fetch(`${url}/api/usage?since=1h&by=model`)).json()) as UsageSummary, (b) => b.calls === 4, 'four calls in /api/usage');
    expect(body).toMatchObject({ calls: 4, jobs: 2, tokens: { input, cached_input: 8 }, currency: 'USD', by: 'model' });
    expect(Math.round(body.cost! * 1e9)).toBe(nanos);
    expect(Object.keys(body.groups)).toEqual(['default', 'fake-small']);
    expect((await fetch(`${url}/api/usage?by=week`)).status).toBe(400);

    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}/#/usage?since=1h&by=model`);
    const total = page.locator('#usage-table tr[data-group="total"]');
    await total.waitFor();
    expect(await total.locator('td').allTextContents()).toEqual(['total', '2', '4', '0', input.toLocaleString('en'), body.tokens.output!.toLocaleString('en'), '8', '0', `${Number(body.cost!.toPrecision(6))} USD`]);
    await page.locator('#usage-table tr[data-group="fake-small"]').waitFor();

    // The jobs list says what each job spent; a job's page its budget and each task's tokens and cost.
    await page.goto(`${url}/#/jobs`);
    await page.locator('tr[data-job-id="spend-2"] td[data-spent]').filter({ hasText: 'tok' }).waitFor();
    await page.goto(`${url}/#/job/spend-2`);
    await page.locator('#job-meta dd').filter({ hasText: '5,000 tokens' }).waitFor();
    const a = h.fake.log.find((e) => e.model === 'fake-small')!;
    expect(await page.locator('tr[data-task="a"] td[data-tokens]').textContent()).toBe(`${a.usage!.input} / ${a.usage!.output}`);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('the dashboard\'s limits', () => {
  it('serves and shows each model\'s limit as the fleet learned it from the provider\'s headers, and the worker\'s slice of it', async () => {
    type Row = { provider: string; model: string; unit: string; limit: number | null; learned: number | null; slices: { worker: string; amount: number }[] };
    const rows = await eventually(async () => ((await (await fetch(`${url}/api/limits`)).json()) as { limits: Row[] }).limits,
      (l) => l.some((r) => r.model === 'default' && r.unit === 'requests' && r.limit === 1_000 && r.slices.length === 1), 'the learned limit in /api/limits');
    const requests = rows.find((r) => r.model === 'default' && r.unit === 'requests')!;
    expect(requests).toMatchObject({ provider: 'orchestrator', learned: 1_000 });
    // Tokens: the fake sets no tpm, so no limit is known and nothing is divided.
    expect(rows.find((r) => r.model === 'default' && r.unit === 'tokens')).toMatchObject({ limit: null, slices: [] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}/#/limits`);
    const row = page.locator('#limits-table tr[data-limit="orchestrator/default/requests"]');
    await row.waitFor();
    expect(await row.locator('td[data-cell="limit"]').textContent()).toBe('1,000');
    // The slice follows the worker's use at each renewal: its worker and a number.
    expect(await row.locator('td[data-cell="slices"]').textContent()).toMatch(new RegExp(`^${requests.slices[0].worker}: [\\d,]+$`));
    expect(errors).toEqual([]);
    await page.close();
  });
});
