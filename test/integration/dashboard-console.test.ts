/**
 * The dashboard's operator console, through its HTTP API and in a browser: a job's history, its
 * `.alt` as received (masked by the data policy), each task's prompt and full output (an artifact
 * fetched when asked), the finished-jobs search with paging, a job whose status entry expired,
 * and the actions recorded with the dashboard token's name.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Kvm } from '@nats-io/kv';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { Harness, eventually } from '../helpers/runner.ts';
import { ROOT } from '../helpers/paths.ts';

const TOKEN = 'console-token-123';
const SECRET = 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd';
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
let h: Harness;
let url: string;
let dash: ChildProcess;
let browser: Browser | undefined;

const job = (id: string) => JSON.stringify({
  id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `console ${id}`, metadata: { api_key: SECRET, owner: 'ops' },
  tasks: [{ id: 't1', description: 'write the draft', dependencies: [] }, { id: 't2', description: 'polish the draft', dependencies: ['t1'] }],
});
const get = async (path: string) => {
  const r = await fetch(`${url}${path}`);
  return { status: r.status, body: await r.json() as Record<string, any> };
};

beforeAll(async () => {
  // Answers of 2,000 characters: larger than RUNNER_OUTPUT_INLINE_MAX, so each is an artifact and the .last keeps a preview.
  h = await Harness.start(undefined, { outputChars: 2_000 });
  await h.worker({ RUNNER_KEEP_ALT: 'true', RUNNER_OUTPUT_INLINE_MAX: '256', RUNNER_STATUS_TTL_MS: '1000', RUNNER_CONCURRENCY: '1' });
  for (const id of ['console-a', 'console-b', 'console-c']) await h.publish(job(id));
  await h.waitForLasts(3);
  dash = spawn(join(ROOT, 'bin', 'altlas'), ['dashboard', '--port', '0', '--server', h.server.url], { env: { ...process.env, DASHBOARD_TOKEN: TOKEN, DASHBOARD_TOKEN_NAME: 'ops-alice' }, stdio: ['ignore', 'pipe', 'pipe'] });
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    dash.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /dashboard on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    dash.once('exit', (code) => reject(new Error(`dashboard exited ${code}: ${out}`)));
  });
  await eventually(() => fetch(`${url}/healthz`).then((r) => r.json() as Promise<{ ready: boolean }>), (b) => b.ready, 'the dashboard ready');
}, 180_000);
afterAll(async () => {
  await browser?.close();
  dash?.kill('SIGKILL');
  await h?.close();
});

describe('the dashboard\'s console API', () => {
  it('shows a finished job whose status entry expired: its .last, its history, its .alt masked', async () => {
    // Once its status entry expired (or when none was written), the job is as its .last gives it: no worker named.
    const kv = await new Kvm(h.nc).open('ALT_RUNS');
    await eventually(async () => (await kv.get('console-a'))?.operation ?? 'none', (op) => op !== 'PUT', 'the status entry to expire', 60_000);
    const r = await eventually(() => get('/api/jobs/console-a'), (x) => x.status === 200 && x.body.last !== null, 'the job from its .last');
    expect(r.body.last.alt_file_id).toBe('console-a');
    expect(r.body.job === null || (r.body.job.state === 'completed' && r.body.job.worker_id === '')).toBe(true);
    // A worker sends a job's events once per HISTORY_FLUSH_MS.
    const history = await eventually(() => get('/api/jobs/console-a/history'), (x) => x.body.events?.some((e: { type: string }) => e.type === 'last_stored'), 'the job\'s history');
    expect(history.body.events.map((e: { type: string }) => e.type)).toEqual(['delivered', 'started', 'task_finished', 'task_finished', 'last_stored']);
    const alt = await get('/api/jobs/console-a/alt');
    expect(alt.body).toMatchObject({ alt_id: 'console-a', kept: true, document: { id: 'console-a', metadata: { owner: 'ops' } } });
    expect(JSON.stringify(alt.body)).not.toContain(SECRET);
    expect((await get('/api/jobs/never/alt')).body).toEqual({ alt_id: 'never', kept: false });
  }, 120_000);

  it('gives a task\'s prompt (with the full output of the task before) and its full output, fetched from its artifact', async () => {
    const lasts = await h.lasts();
    const last = lasts.find((l) => l.last.alt_file_id === 'console-a')!.last;
    const t1 = await get('/api/jobs/console-a/tasks/t1');
    // The .last keeps a preview; the task view gives the whole answer, from the artifact object.
    expect(t1.body.output.text).toHaveLength(2_000);
    expect(last.task_results.t1.output!.text).not.toBe(t1.body.output.text);
    expect(last.artifacts!.find((a) => a.task_id === 't1')).toMatchObject({ size_bytes: 2_000, path: t1.body.artifact });
    expect(t1.body.artifact).toMatch(/^altlas\+obj:\/\//);
    const t2 = await get('/api/jobs/console-a/tasks/t2');
    expect(t2.body.prompt.user).toBe(`Context from earlier tasks:\n[t1]\n${t1.body.output.text}\n\nTask:\npolish the draft`);
    expect(t2.body.prompt.system).toMatch(/^You are /);
    expect((await get('/api/jobs/console-a/tasks/nope')).status).toBe(404);
  });

  it('searches finished jobs a page at a time', async () => {
    const first = await get('/api/finished?q=console&limit=2');
    expect(first.body.jobs.map((j: { alt_id: string }) => j.alt_id)).toEqual(['console-c', 'console-b']);
    const second = await get(`/api/finished?q=console&limit=2&page=${first.body.next}`);
    expect(second.body.jobs.map((j: { alt_id: string }) => j.alt_id)).toEqual(['console-a']);
    expect(second.body.next).toBeNull();
    expect((await get('/api/finished?state=running')).status).toBe(400);
    for (const q of ['limit=abc', 'limit=-5', 'limit=1e9', 'code=%3E', 'q=a&q=b']) expect((await get(`/api/finished?${q}`)).status).toBe(400);
  });

  it('records an action with the dashboard token\'s name', async () => {
    const cancel = (altId: string) => fetch(`${url}/api/actions/cancel`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ alt_id: altId }) });
    // An id with no record: answered as altlas cancel answers it, and the history says what was known.
    const r = await cancel('console-z');
    expect([r.status, await r.json()]).toEqual([200, { alt_id: 'console-z', found: 'queued_or_unknown', state: null, worker_id: null, armed: true, alt_stream_seq: expect.any(Number), message: 'no state recorded yet: cancelled where it runs, or when a worker picks it up (a message of it published after this cancel runs)' }]);
    const history = await get('/api/jobs/console-z/history');
    expect(history.body.events).toEqual([expect.objectContaining({ type: 'cancel_requested', by: 'dashboard:ops-alice', detail: { found: 'queued_or_unknown' } })]);
    // A finished job: 200 as altlas cancel, the request written (for a rerun still waiting) and in its history.
    const done = await cancel('console-a');
    expect([done.status, await done.json()]).toEqual([200, { alt_id: 'console-a', found: 'finished', state: 'completed', worker_id: null, armed: true, alt_stream_seq: expect.any(Number), message: 'its last run ended completed already; a message of it still waiting in the stream (a rerun) is cancelled, one published later runs' }]);
    expect(((await get('/api/jobs/console-a/history')).body.events as { type: string; by?: string }[]).filter((e) => e.type === 'cancel_requested').map((e) => e.by)).toEqual(['dashboard:ops-alice']);
  });

  it('has a page for each view: the finished search, a job\'s history, a task\'s prompt and output', async () => {
    if (!CHROMIUM) {
      console.log('skipped: chromium is not installed (apt-get install chromium; .ci/run installs it)');
      return;
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const page = await browser.newPage();
    await page.goto(`${url}/#/finished?q=console&since=`);
    await page.waitForSelector('#finished-table tr[data-job="console-a"]');
    await page.goto(`${url}/#/job/console-a`);
    await page.waitForSelector('#history-list li[data-event="last_stored"]');
    await page.click('#tasks-table tr[data-task="t2"] a');
    await page.waitForFunction(() => (globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } }).document.querySelector('#task-prompt')?.textContent?.includes('Context from earlier tasks'));
    expect(page.url()).toMatch(/#\/job\/console-a\/task\/t2$/);
    expect((await page.textContent('#task-output'))!.length).toBeGreaterThanOrEqual(2_000);
  }, 120_000);
});
