/**
 * Finished jobs searched in LAST through the command (`altlas jobs --finished`): by status, error
 * code, title text, tenant and time range, a page at a time, and still found once the status
 * bucket forgot them; and `altlas jobs --watch`, a live table that ends cleanly on Ctrl-C.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Kvm } from '@nats-io/kv';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { ROOT } from '../helpers/paths.ts';

const run = async (argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
};
const json = (out: string) => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

let h: Harness;
let server: string[];
let between: string;
beforeAll(async () => {
  h = await Harness.start(undefined, { errorRules: [{ match: 'refused-step', status: 400 }] });
  // Status entries expire after a second: the search must not need them.
  await h.worker({ RUNNER_STATUS_TTL_MS: '1000', RUNNER_CONCURRENCY: '1' });
  server = ['--server', h.server.url];
  await h.publish(job('fin-report-1', 2, 'quarterly report'));
  await h.publish(job('fin-report-2', 1, 'quarterly report'));
  await h.waitForLasts(2);
  between = new Date().toISOString();
  await h.publish(job('fin-broken', 1, 'refused-step'));
  await h.publish(job('fin-acme', 1, 'tenant work'), {}, 'alt.high.acme');
  await h.waitForLasts(4);
}, 180_000);
afterAll(async () => {
  await h?.close();
});

describe('altlas jobs --finished', () => {
  it('finds finished jobs newest first once the status bucket forgot them', async () => {
    // The status bucket holds none of them (expired, or never written for a short job).
    const kv = await new Kvm(h.nc).open('ALT_RUNS');
    await eventually(async () => (await Promise.all(['fin-report-1', 'fin-report-2', 'fin-broken', 'fin-acme'].map((id) => kv.get(id)))).filter((e) => e?.operation === 'PUT').length, (n) => n === 0, 'the status entries to expire', 60_000);
    const all = await run(['jobs', '--finished', '--json', ...server]);
    expect(all.code).toBe(0);
    expect(json(all.out).map((j) => j.alt_id)).toEqual(['fin-acme', 'fin-broken', 'fin-report-2', 'fin-report-1']);
    const table = await run(['jobs', '--finished', ...server]);
    expect(table.out).toMatch(/^JOB ID +STATUS +TASKS +CODE +TENANT/);
  }, 120_000);

  it('filters by status, error code, text, tenant and time range', async () => {
    const ids = async (...args: string[]) => json((await run(['jobs', '--finished', '--json', ...args, ...server])).out).map((j) => j.alt_id);
    expect(await ids('--state', 'failure')).toEqual(['fin-broken']);
    expect(await ids('--code', 'AI_REJECTED')).toEqual(['fin-broken']);
    expect(await ids('--text', 'FIN-REPORT')).toEqual(['fin-report-2', 'fin-report-1']);
    expect(await ids('--tenant', 'acme')).toEqual(['fin-acme']);
    expect(await ids('--since', between)).toEqual(['fin-acme', 'fin-broken']);
    expect(await ids('--until', between)).toEqual(['fin-report-2', 'fin-report-1']);
    const [acme] = json((await run(['jobs', '--finished', '--json', '--tenant', 'acme', ...server])).out);
    expect(acme).toMatchObject({ status: 'success', tenant: 'acme', tasks_done: 1, tasks_total: 1 });
  });

  it('pages: each page gives the token of the next, and the pages together are the whole list', async () => {
    const first = json((await run(['jobs', '--finished', '--json', '--limit', '3', ...server])).out);
    expect(first.map((j) => j.alt_id)).toEqual(['fin-acme', 'fin-broken', 'fin-report-2']);
    const token = String(first[3].next_page);
    const second = json((await run(['jobs', '--finished', '--json', '--limit', '3', '--page', token, ...server])).out);
    expect(second.map((j) => j.alt_id)).toEqual(['fin-report-1']);
    expect((await run(['jobs', '--finished', '--limit', '3', ...server])).out).toMatch(new RegExp(`more: add --page ${token}$`));
    expect((await run(['jobs', '--finished', '--state', 'running', ...server])).code).toBe(2);
  });

  it('takes --limit as the API does: decimal digits, 1 to 1000 (exit 2 otherwise)', async () => {
    for (const limit of ['0x4', ' 3', '3 ', '1e1', '+3', '0', '1001', '']) {
      const r = await run(['jobs', '--finished', '--limit', limit, ...server]);
      expect({ limit, code: r.code, err: r.err }).toEqual({ limit, code: 2, err: expect.stringMatching(/--limit must be a whole number from 1 to 1000, in decimal digits/) });
    }
    for (const limit of ['0x2', ' 2', '1e1']) expect((await run(['jobs', '--limit', limit, ...server])).code).toBe(2);
    expect((await run(['jobs', '--finished', '--json', '--limit', '1000', ...server])).code).toBe(0);
  });
});

describe('altlas jobs --watch', () => {
  it('prints each job as it changes (plain lines off a terminal) and ends with 0 on Ctrl-C', async () => {
    const proc = spawn(join(ROOT, 'bin', 'altlas'), ['jobs', '--watch', '--interval', '0.2', ...server], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    try {
      await eventually(async () => out, (o) => o.includes('watching the jobs of ALT_RUNS; Ctrl-C ends'), 'the watch to start', 60_000);
      await h.publish(job('watched-1', 2));
      await eventually(async () => out, (o) => /watched-1 {2}completed {2}2\/2/.test(o), 'the watched job to complete', 60_000);
      expect(out).not.toMatch(/\x1b\[/);
      proc.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      proc.kill('SIGKILL');
    }
  }, 120_000);
});
