/**
 * The dashboard and the readers of the status bucket against hostile input: a Host header that
 * is not the dashboard's own (DNS rebinding) gets 421; malformed paths, query parameters and
 * action bodies get 400 BAD_INPUT, never a 500 or a stack; a value in the status bucket that is
 * not a status entry (not JSON, wrong shape) is shown as unreadable and skipped by the
 * dashboard, `altlas jobs`, `status` and `workers`, while the other jobs still show.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:http';
import { connect as tcp } from 'node:net';
import { Kvm } from '@nats-io/kv';
import { main } from '../../src/cli/main.ts';
import { Harness, eventually } from '../helpers/runner.ts';

const TOKEN = 'guards-token-5678';
let h: Harness;
let port: number;
let dashboard: { close(): Promise<void> } | undefined;
const stop = new AbortController();

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...argv, '--server', h.server.url], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

interface Answer { status: number; body: string; json: Record<string, unknown> | null }

/** One HTTP request to the dashboard with the Host header given (node's client lets it be set). */
function call(method: string, path: string, options: { host?: string; body?: string; token?: string; type?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, method, path,
      headers: {
        host: options.host ?? `127.0.0.1:${port}`,
        ...(options.body !== undefined ? { 'content-type': options.type ?? 'application/json' } : {}),
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
        // An event stream answers 200 and stays open: its head is enough.
        if (/text\/event-stream/.test(String(res.headers['content-type']))) res.destroy();
      });
      res.on('close', () => {
        let json: Record<string, unknown> | null = null;
        try {
          json = JSON.parse(body) as Record<string, unknown>;
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode ?? 0, body, json });
      });
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

const entry = (id: string) => ({
  alt_id: id, state: 'completed', title: `Job ${id}`, alt_stream: 'ALT', alt_stream_seq: 1, deliveries: 1, worker_id: 'w-1',
  received_at: new Date().toISOString(), updated_at: new Date().toISOString(), started_at: null, finished_at: new Date().toISOString(),
  last_status: 'success', tasks_total: 1, tasks_done: 1, error: null, tasks: { a: { state: 'completed', attempts: 1, started_at: null, finished_at: null } },
});

beforeAll(async () => {
  h = await Harness.start();
  expect((await cli(['init'])).code).toBe(0);
  const kvm = new Kvm(h.nc);
  const runs = await kvm.open('ALT_RUNS');
  await runs.put('good-1', JSON.stringify(entry('good-1')));
  await runs.put('bad-json', 'not json {');
  await runs.put('bad-number', '42');
  await runs.put('bad-shape', JSON.stringify({ alt_id: 42, state: 'completed' }));
  await runs.put('bad-state', JSON.stringify({ ...entry('bad-state'), state: 'exploded' }));
  await runs.put('bad-tasks', JSON.stringify({ ...entry('bad-tasks'), tasks: { a: 'done' } }));
  const workers = await kvm.open('ALT_WORKERS');
  await workers.put('bad-beat', JSON.stringify({ host: 'x' }));
  const { Dashboard } = await import('../../src/dashboard/server.ts');
  const { loadConfig } = await import('../../src/config/load.ts');
  const d = new Dashboard({ config: loadConfig({ NATS_URL: h.server.url, DASHBOARD_TOKEN: TOKEN, DASHBOARD_HOSTS: 'dash.example.internal, [fd00::7]' }), port: 0, host: '127.0.0.1' });
  dashboard = d;
  port = (await d.listen()).port;
  await d.attach(h.nc, stop.signal);
}, 120_000);

afterAll(async () => {
  stop.abort();
  await dashboard?.close();
  await h?.close();
});

describe('the dashboard\'s Host check', () => {
  it('answers its own names and refuses any other Host with 421 HOST_NOT_ALLOWED', async () => {
    for (const host of [`127.0.0.1:${port}`, '127.0.0.1', `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`, 'dash.example.internal', `dash.example.internal:${port}`, '[fd00::7]:80']) {
      const r = await call('GET', '/api/config', { host });
      expect({ host, status: r.status }).toEqual({ host, status: 200 });
    }
    for (const host of ['evil.example', `evil.example:${port}`, 'localhost.evil.example', '127.0.0.1.nip.io', 'dash.example.internal.evil.example', '10.9.8.7', 'localhost:notaport', 'a b']) {
      for (const path of ['/', '/api/jobs', '/api/dlq', '/healthz', '/api/events']) {
        const r = await call('GET', path, { host });
        expect({ host, path, status: r.status, code: r.json?.code }).toEqual({ host, path, status: 421, code: 'HOST_NOT_ALLOWED' });
      }
      const purge = await call('POST', '/api/actions/purge', { host, token: TOKEN, body: JSON.stringify({ all: true }) });
      expect({ host, status: purge.status }).toEqual({ host, status: 421 });
    }
  });
});

describe('the dashboard\'s inputs', () => {
  it('answer bad input with 400 BAD_INPUT, never a 500 or a stack', async () => {
    const gets = [
      '/api/jobs/%E0%A4%A', '/api/jobs/%ZZ', '/api/jobs/%ZZ/progress', `/api/jobs/${'x'.repeat(300)}`, '/api/jobs/a%00b', '/api/jobs/a%0Ab/progress',
      '/api/jobs?limit=abc', '/api/jobs?limit=-5', '/api/jobs?limit=1e3', '/api/jobs?state=exploded', `/api/jobs?q=${'q'.repeat(1_200)}`, '/api/jobs?q=%00',
      '/api/dlq/abc', '/api/dlq/1.5', '/api/dlq/0', '/api/dlq/-3', '/api/dlq/%ZZ', '/api/dlq/99999999999999999999',
      '/api/dlq?code=lower', '/api/dlq?code=%00', `/api/dlq?code=${'A'.repeat(100)}`,
      '/api/usage?since=yesterday', '/api/usage?by=colour', `/api/usage?since=${'1'.repeat(100)}`,
    ];
    for (const path of gets) {
      const r = await call('GET', path);
      expect({ path, status: r.status, code: r.json?.code }).toEqual({ path, status: 400, code: 'BAD_INPUT' });
      expect(r.body).not.toMatch(/\n\s+at |node:internal|\.ts:\d+/);
    }
    const posts: [string, string][] = [
      ['cancel', '{}'], ['cancel', '{"alt_id":5}'], ['cancel', JSON.stringify({ alt_id: 'x'.repeat(1_000) })], ['cancel', '{"alt_id":"a\\nb"}'], ['cancel', '{"alt_id":"a","extra":1}'],
      ['cancel', '{"__proto__":{"alt_id":"a"}}'], ['cancel', '{'], ['cancel', '[]'], ['cancel', 'null'], ['cancel', '"text"'],
      ['approve', '{"alt_id":"a"}'], ['approve', '{"alt_id":"a","task":"b","reject":"yes"}'], ['approve', '{"alt_id":"a","task":"b","comment":{}}'],
      ['approve', JSON.stringify({ alt_id: 'a', task: 'b', comment: 'c'.repeat(5_000) })], ['approve', '{"alt_id":["a"],"task":"b"}'],
      ['replay_from', '{"alt_id":"a","from":"b","set":"x=1"}'], ['replay_from', '{"alt_id":"a","from":"b","set":[1]}'], ['replay_from', '{"alt_id":"a","from":"b","set":["novalue"]}'],
      ['replay_from', '{"alt_id":"a","from":"b","name":5}'], ['replay_from', '{"alt_id":"a","from":"b","alt":""}'], ['replay_from', '{"alt_id":"a"}'],
      ['replay', '{}'], ['replay', '{"seq":"abc"}'], ['replay', '{"seq":1.5}'], ['replay', '{"seq":-1}'], ['replay', '{"seq":1e300}'], ['replay', '{"code":"lower"}'],
      ['replay', '{"seq":1,"code":"ALT_SCHEMA"}'], ['replay', '{"all":true}'],
      ['purge', '{}'], ['purge', '{"all":"true"}'], ['purge', '{"all":false}'], ['purge', '{"all":true,"code":"ALT_SCHEMA"}'], ['purge', '{"cod":"ALT_SCHEMA"}'],
      ['purge', '{"seq":0}'], ['purge', '{"seq":null}'], ['purge', '{"code":""}'], ['purge', '{"code":12}'],
    ];
    for (const [action, body] of posts) {
      const r = await call('POST', `/api/actions/${action}`, { token: TOKEN, body });
      expect({ action, body, status: r.status, code: r.json?.code }).toEqual({ action, body, status: 400, code: 'BAD_INPUT' });
      expect(r.body).not.toMatch(/\n\s+at |node:internal|\.ts:\d+/);
    }
    // The other refusals carry their codes too.
    expect(await call('POST', '/api/actions/purge', { token: 'wrong', body: '{"all":true}' })).toMatchObject({ status: 401, json: { code: 'UNAUTHORIZED' } });
    expect(await call('POST', '/api/actions/purge', { token: TOKEN, body: '{"all":true}', type: 'text/plain' })).toMatchObject({ status: 415, json: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
    expect(await call('GET', '/api/actions/purge')).toMatchObject({ status: 405, json: { code: 'METHOD_NOT_ALLOWED' } });
    expect(await call('GET', '/api/nothing')).toMatchObject({ status: 404, json: { code: 'NOT_FOUND' } });
    expect(await call('GET', '/api/dlq/12345')).toMatchObject({ status: 404, json: { code: 'NOT_FOUND' } });
    // A request target that is no path, sent raw: an answer, and the dashboard still serves.
    const raw = await new Promise<string>((resolve) => {
      const s = tcp(port, '127.0.0.1', () => s.end(`GET http://[ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
      let text = '';
      s.on('data', (c) => (text += c.toString()));
      s.on('close', () => resolve(text));
      s.on('error', () => resolve(text));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect((await call('GET', '/healthz')).status).toBe(200);
  });
});

describe('a status bucket holding values that are not status entries', () => {
  it('the dashboard lists the good jobs and counts the rest as unreadable', async () => {
    const r = await eventually(() => call('GET', '/api/jobs'), (a) => a.status === 200 && (a.json?.unreadable as unknown[])?.length === 5, 'the jobs list');
    expect((r.json!.jobs as { alt_id: string }[]).map((j) => j.alt_id)).toEqual(['good-1']);
    expect((r.json!.unreadable as { key: string }[]).map((u) => u.key).sort()).toEqual(['bad-json', 'bad-number', 'bad-shape', 'bad-state', 'bad-tasks']);
    expect((r.json!.stats as { unreadable: number }).unreadable).toBe(5);
    expect((await call('GET', '/api/jobs/good-1')).status).toBe(200);
    expect((await call('GET', '/api/fleet')).status).toBe(200);
    // A cancel of a job whose entry is unreadable is still written.
    expect((await call('POST', '/api/actions/cancel', { token: TOKEN, body: '{"alt_id":"bad-json"}' })).status).toBe(200);
  });

  it('altlas jobs, status and workers show them as unreadable and go on', async () => {
    const jobs = await cli(['jobs', '--json']);
    expect(jobs.code).toBe(0);
    expect(jobs.out.split('\n').map((l) => (JSON.parse(l) as { alt_id: string }).alt_id)).toEqual(['good-1']);
    for (const key of ['bad-json', 'bad-number', 'bad-shape', 'bad-state', 'bad-tasks']) expect(jobs.err).toContain(`the status entry ${key} is unreadable`);
    const table = await cli(['jobs']);
    expect(table.code).toBe(0);
    expect(table.out).toContain('good-1');
    const one = await cli(['status', 'bad-json']);
    expect(one.code).toBe(1);
    expect(one.err).toMatch(/the status entry bad-json is unreadable \(not JSON\)/);
    expect((await cli(['status', 'bad-shape'])).err).toMatch(/unreadable \(alt_id is not a string\)/);
    expect((await cli(['status', 'good-1'])).code).toBe(0);
    const workers = await cli(['workers', '--json']);
    expect(workers).toMatchObject({ code: 0, out: '' });
  });
});
