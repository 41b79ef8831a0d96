/**
 * What an operator meets first, through the documented contract only (the `altlas` command,
 * environment variables, HTTP endpoints, subjects): a worker that cannot reach NATS, errors that
 * point the right way, init, jobs, cancel, workers, dlq purge.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { NatsServer, freePort } from '../../src/devtools/nats-server.ts';
import { Harness, WorkerProcess, eventually, job } from '../helpers/runner.ts';
import { ROOT } from '../helpers/paths.ts';
import { Kvm } from '@nats-io/kv';
import { cancelKey } from '../../src/status/status.ts';

const run = async (argv: string[], env?: Record<string, string>) => {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { ...process.env };
  if (env) Object.assign(process.env, env);
  try {
    const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    for (const k of Object.keys(env ?? {})) if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
};
const bin = join(ROOT, 'bin', 'altlas');
const exec = promisify(execFile);

let h: Harness | undefined;
const extra: WorkerProcess[] = [];
afterEach(async () => {
  for (const w of extra.splice(0)) {
    w.kill('SIGKILL');
    await w.exited;
  }
  await h?.close();
  h = undefined;
});

describe('a worker that cannot reach NATS', () => {
  it('answers /healthz at once, says why in /readyz and in one log line per attempt, and stops on SIGTERM', async () => {
    const natsPort = await freePort();
    const httpPort = await freePort();
    const w = new WorkerProcess({ NATS_URL: `nats://127.0.0.1:${natsPort}`, HTTP_PORT: String(httpPort), LOG_LEVEL: 'info' });
    extra.push(w);
    const health = await eventually(() => fetch(`http://127.0.0.1:${httpPort}/healthz`).then((r) => r.status, () => 0), (s) => s === 200, '/healthz');
    expect(health).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(new RegExp(`nats: .*127\\.0\\.0\\.1:${natsPort}`));
    const attempts = await eventually(async () => w.logs('cannot connect to NATS; retrying'), (l) => l.length >= 3, 'three logged attempts');
    expect(attempts[0]).toMatchObject({ level: 'warn', code: 'NATS_UNREACHABLE', server: `nats://127.0.0.1:${natsPort}`, attempt: 1, next_retry_ms: expect.any(Number) });
    // README (Configuration): the first connection waits 1, 2, 4, 8 s, then 10 s between attempts.
    expect(attempts.slice(0, 3).map((a) => a.next_retry_ms)).toEqual([1000, 2000, 4000]);
    expect(String(attempts[0].reason)).toMatch(/connection refused/);
    w.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
  });

  it('runs with bounded V8 generations, two malloc arenas and jemalloc unless the operator chooses (README: Operations, memory)', async () => {
    const cmdline = (w: WorkerProcess) => readFileSync(`/proc/${w.proc.pid}/cmdline`, 'utf8').split('\0');
    const environ = (w: WorkerProcess) => readFileSync(`/proc/${w.proc.pid}/environ`, 'utf8').split('\0');
    const unreachable = { NATS_URL: `nats://127.0.0.1:${await freePort()}`, HTTP_PORT: '0' };
    const plain = new WorkerProcess(unreachable);
    const chosen = new WorkerProcess({ ...unreachable, NODE_OPTIONS: '--max-semi-space-size=32', MALLOC_ARENA_MAX: '4' });
    const replaced = new WorkerProcess({ ...unreachable, ALTLAS_NODE_FLAGS: '--max-semi-space-size=16' });
    const emptied = new WorkerProcess({ ...unreachable, ALTLAS_NODE_FLAGS: '' });
    const glibc = new WorkerProcess({ ...unreachable, ALTLAS_MALLOC: 'system' });
    extra.push(plain, chosen, replaced, emptied, glibc);
    const all = [plain, chosen, replaced, emptied, glibc];
    await eventually(async () => all.filter((w) => w.logs('cannot connect to NATS; retrying').length > 0).length, (n) => n === 5, 'the five workers running', 90_000);
    // jemalloc with its background purge when the system has it (.ci/run and the image install it).
    const jemalloc = (w: WorkerProcess) => readFileSync(`/proc/${w.proc.pid}/maps`, 'utf8').includes('libjemalloc');
    const haveJemalloc = ['x86_64-linux-gnu', 'aarch64-linux-gnu'].some((d) => existsSync(`/usr/lib/${d}/libjemalloc.so.2`));
    expect(jemalloc(plain)).toBe(haveJemalloc);
    if (haveJemalloc) expect(environ(plain)).toContain('MALLOC_CONF=background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:2');
    expect(jemalloc(glibc)).toBe(false);
    expect(cmdline(plain)).toEqual(expect.arrayContaining(['--max-semi-space-size=4', '--heap-growing-percent=40']));
    expect(environ(plain)).toContain('MALLOC_ARENA_MAX=2');
    expect(cmdline(chosen).some((a) => a.startsWith('--max-semi-space-size'))).toBe(false);
    expect(cmdline(chosen)).toContain('--heap-growing-percent=40');
    expect(environ(chosen)).toContain('MALLOC_ARENA_MAX=4');
    expect(cmdline(replaced)).toContain('--max-semi-space-size=16');
    expect(cmdline(replaced).some((a) => a.startsWith('--heap-growing-percent'))).toBe(false);
    expect(cmdline(emptied).some((a) => /^--(max-semi-space-size|heap-growing-percent)/.test(a))).toBe(false);
  });
});

describe('errors that point the right way', () => {
  it('names the missing stream and what creates it, before any worker ran', async () => {
    h = await Harness.start();
    const server = ['--server', h.server.url];
    const pub = await run(['publish', ...server, join(ROOT, 'samples', 'runner-example.alt.json')]);
    expect(pub.code).toBe(1);
    expect(pub.err).toMatch(/^altlas publish: STREAM_MISSING: the stream ALT does not exist yet: start a worker \(RUNNER_PROVISION=true creates the streams\) or run "altlas init"$/);
    const results = await run(['results', ...server]);
    expect(results.err).toMatch(/STREAM_MISSING: the stream LAST does not exist yet/);
    const dlq = await run(['dlq', 'list', ...server]);
    expect(dlq.err).toMatch(/STREAM_MISSING: the stream ALT_DLQ does not exist yet/);
    const jobs = await run(['jobs', ...server]);
    expect(jobs.err).toMatch(/STREAM_MISSING: the stream KV_ALT_RUNS does not exist yet/);
    const usage = await run(['usage', ...server]);
    expect(usage.err).toMatch(/STREAM_MISSING: the stream ALT_USAGE does not exist yet/);
    // The dashboard serves its page and /healthz at once, says what it waits for, and shows the fleet once the buckets exist.
    const dash = spawn(bin, ['dashboard', '--port', '0', ...server], { stdio: ['ignore', 'pipe', 'pipe'] });
    const said = { out: '', err: '' };
    dash.stdout.on('data', (c: Buffer) => (said.out += c.toString()));
    dash.stderr.on('data', (c: Buffer) => (said.err += c.toString()));
    const dashExit = new Promise<number | null>((r) => dash.once('exit', (code) => r(code)));
    try {
      const address = (await eventually(async () => said.out, (o) => /^dashboard on http:\/\/127\.0\.0\.1:\d+ /.test(o), 'the dashboard to serve', 30_000)).match(/http:\/\/\S+/)![0];
      await eventually(async () => said.err, (e) => /the status buckets do not exist yet \(start a worker or run "altlas init"\); waiting for them/.test(e), 'the dashboard to say it waits', 60_000);
      expect((await fetch(address)).status).toBe(200);
      expect(await (await fetch(`${address}/healthz`)).json()).toEqual({ status: 'ok', ready: false, waiting_for: 'the status buckets do not exist yet (start a worker or run "altlas init")' });
      const early = await fetch(`${address}/api/jobs`);
      expect([early.status, ((await early.json()) as { waiting_for: string }).waiting_for]).toEqual([503, 'the status buckets do not exist yet (start a worker or run "altlas init")']);
      expect(await (await fetch(`${address}/api/config`)).json()).toMatchObject({ ready: false, waiting_for: expect.stringContaining('buckets') });
      // altlas init creates everything; publish then works and a later worker finds it all.
      const init = await run(['init', ...server]);
      expect(init.code).toBe(0);
      expect(init.out.split('\n').filter((l) => l.startsWith('created'))).toHaveLength(14);
      expect(init.out).toMatch(/^created +ALT_PROGRESS$/m);
      expect(init.out).toMatch(/^created +ALT_HISTORY$/m);
      expect(init.out).toMatch(/^created +KV_ALT_CONTROL$/m);
      expect(init.out).toMatch(/^created +KV_ALT_LIMITS$/m);
      expect(init.out).toMatch(/^created +OBJ_ALT_BODIES$/m);
      expect(init.out).toContain('consumer runner on ALT: created');
      await eventually(async () => (await fetch(`${address}/healthz`)).json(), (b) => (b as { ready: boolean }).ready, 'the dashboard to be ready', 30_000);
      expect((await fetch(`${address}/api/jobs`)).status).toBe(200);
      // A second dashboard on the same port says to choose another.
      const port = address.split(':').at(-1)!;
      const second = await exec(bin, ['dashboard', '--port', port, ...server]).catch((e: { code: number; stderr: string }) => e);
      expect((second as { code: number }).code).toBe(2);
      expect((second as { stderr: string }).stderr).toMatch(new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use \\(another dashboard\\?\\): choose another with --port`));
    } finally {
      dash.kill('SIGTERM');
    }
    expect(await dashExit).toBe(0);
    const again = await run(['init', ...server]);
    expect(again.out).not.toMatch(/^created/m);
    expect(again.out).toContain('consumer runner on ALT: exists');
    expect((await run(['publish', ...server, join(ROOT, 'samples', 'runner-example.alt.json')])).code).toBe(0);
    await h.worker();
    await h.waitForLasts(1);
  });

  it('names the server, the reason and a stable code when NATS cannot be reached', async () => {
    const port = await freePort();
    for (const [url, reason] of [[`nats://127.0.0.1:${port}`, /connection refused/], ['nats://nohost.invalid:4222', /does not resolve/], ['nats://[::1', /invalid|cannot connect/]] as const) {
      const r = await run(['results', '--server', url]);
      expect([url, r.code]).toEqual([url, 1]);
      expect(r.err).toMatch(/^altlas results: NATS_UNREACHABLE: cannot connect to NATS at /);
      expect(r.err).toMatch(reason);
      expect(r.err).toMatch(/check NATS_URL \(or --server\)/);
    }
  });

  it('says what answered at a URL that is not NATS (the monitoring port) and exits; a worker says it in its retries', async () => {
    const monitor = await freePort();
    const server = await NatsServer.start({ config: `http: 127.0.0.1:${monitor}` });
    const url = `nats://127.0.0.1:${monitor}`;
    try {
      for (const argv of [['status'], ['jobs'], ['publish', join(ROOT, 'samples', 'runner-example.alt.json')], ['dlq', 'list']]) {
        // A subprocess: it must end by itself (a socket left open would keep it alive and time the test out).
        const r = await exec(bin, [...argv, '--server', url]).catch((e: { code: number; stderr: string }) => e);
        expect([argv[0], (r as { code: number }).code]).toEqual([argv[0], 1]);
        expect((r as { stderr: string }).stderr).toMatch(/NATS_UNREACHABLE: cannot connect to NATS at nats:\S+: an HTTP server answered \(HTTP\/1\.\d 200 OK\), not NATS: is this the monitoring port\?/);
      }
      const w = new WorkerProcess({ NATS_URL: url, HTTP_PORT: '0' });
      extra.push(w);
      const [attempt] = await eventually(async () => w.logs('cannot connect to NATS; retrying'), (l) => l.length >= 1, 'a logged attempt');
      expect(String(attempt.reason)).toMatch(/an HTTP server answered/);
    } finally {
      await server.dispose();
    }
  });

  it('a dashboard without NATS serves its page and /healthz at once and says it waits for NATS', async () => {
    const dash = spawn(bin, ['dashboard', '--port', '0', '--server', `nats://127.0.0.1:${await freePort()}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    dash.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise((r) => dash.once('exit', r));
    try {
      const address = (await eventually(async () => out, (o) => /dashboard on (http:\/\/\S+)/.test(o), 'the dashboard to listen')).match(/http:\/\/\S+/)![0];
      expect((await fetch(address)).status).toBe(200);
      const health = await eventually(async () => (await fetch(`${address}/healthz`)).json() as Promise<{ waiting_for: string }>, (b) => /connection refused/.test(b.waiting_for), 'the reason in /healthz');
      expect(health).toMatchObject({ status: 'ok', ready: false, waiting_for: expect.stringMatching(/^nats: cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: connection refused/) });
    } finally {
      dash.kill('SIGTERM');
    }
    await exited;
  });

  it('a second worker on a port in use says to set HTTP_PORT and exits 2', async () => {
    const blocker = createServer(() => {});
    await new Promise<void>((r) => blocker.listen(0, '0.0.0.0', r));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const w = new WorkerProcess({ NATS_URL: `nats://127.0.0.1:${await freePort()}`, HTTP_PORT: String(port) });
      extra.push(w);
      expect((await w.exited).code).toBe(2);
      expect(w.logs('worker could not start')[0]).toMatchObject({ code: 'CONFIG_INVALID', error: `HTTP_PORT ${port} is in use (another worker on this host?): set HTTP_PORT to a free port for each worker, or 0 to turn /healthz, /readyz and /metrics off` });
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('warns about a misspelt variable, lists enum values and ignores a worker-only value in a client command', async () => {
    const r = await exec(bin, ['validate', join(ROOT, 'samples', 'runner-example.alt.json')], { env: { ...process.env, RUNNER_CONCURENCY: '8', RUNNER_CONCURRENCY: 'many' } });
    expect(r.stderr).toMatch(/unknown variable RUNNER_CONCURENCY: did you mean RUNNER_CONCURRENCY\?/);
    expect(r.stderr).toMatch(/RUNNER_CONCURRENCY="many" must be a whole number; ignored here \(only the worker reads RUNNER_CONCURRENCY\)/);
    const worker = await exec(bin, ['worker'], { env: { ...process.env, LOG_LEVEL: 'loud', RUNNER_PROVISION: 'yes' } }).catch((e: { code: number; stderr: string }) => e);
    expect((worker as { code: number }).code).toBe(2);
    expect((worker as { stderr: string }).stderr).toMatch(/LOG_LEVEL="loud" must be one of: error, warn, info, debug/);
    expect((worker as { stderr: string }).stderr).toMatch(/RUNNER_PROVISION="yes" must be true or false/);
  });

  it('validate names every missing path; --version; per-verb help; a pipe closed early ends quietly', async () => {
    const missing = await run(['validate', 'missing-a', 'missing-b']);
    expect([missing.code, missing.err.split('\n')[0]]).toEqual([2, 'altlas validate: no such file or directory: missing-a, missing-b']);
    const version = await run(['--version']);
    expect(version.out).toMatch(/^altlas-runner \d+\.\d+\.\d+$/);
    for (const verb of ['list', 'show', 'replay', 'purge']) {
      const help = await run(['dlq', verb, '--help']);
      expect([verb, help.code, help.out.split('\n')[0]]).toEqual([verb, 0, expect.stringMatching(new RegExp(`^Usage: altlas dlq ${verb}`))]);
    }
    // A long output piped into a reader that stops after the first bytes.
    const child = spawn('bash', ['-c', `"${bin}" validate "${join(ROOT, 'test', 'fixtures')}" "${join(ROOT, 'samples')}" | head -c 10 >/dev/null; echo "\${PIPESTATUS[0]}" >&2`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    await new Promise((r) => child.once('exit', r));
    expect(stderr).not.toMatch(/EPIPE|Error|at /);
    expect(stderr.trim()).toMatch(/^[01]$/);
  });
});

describe('job control', () => {
  it('jobs lists the status bucket newest first; workers lists the live workers; cancel aborts a running job wherever it runs', async () => {
    h = await Harness.start();
    const w = await h.worker({ RUNNER_HEARTBEAT_MS: '500' });
    const server = ['--server', h.server.url];
    await h.publish(job('done-1', 1));
    await h.waitForLasts(1);
    // A job whose AI call hangs until it is cancelled.
    h.fake.setFaults({ latencyMs: 60_000 });
    await h.publish(job('slow-1', 2, 'slow-step'));
    await eventually(async () => h!.fake.stats.inFlight, (n) => n >= 1, 'the slow AI call');

    // A running job's first status write comes after RUNNER_STATUS_FLUSH_MS; a job finished sooner writes none (its .last is its record, and lists it).
    const listed = await eventually(() => run(['jobs', '--json', ...server]), (r) => r.out.includes('slow-1'), 'the running job listed');
    const jobs = listed.out.split('\n').map((l) => JSON.parse(l) as { alt_id: string; state: string });
    expect(jobs.map((j) => [j.alt_id, j.state])).toEqual([['slow-1', 'running'], ['done-1', 'completed']]);
    expect((await run(['jobs', '--state', 'running', '--json', ...server])).out.split('\n').map((l) => JSON.parse(l).alt_id)).toEqual(['slow-1']);
    expect(JSON.parse((await run(['status', 'done-1', '--json', ...server])).out)).toMatchObject({ alt_id: 'done-1', state: 'completed', last_status: 'success' });
    expect((await run(['jobs', '--state', 'nope', ...server])).code).toBe(2);

    const workers = await run(['workers', '--json', ...server]);
    const beat = JSON.parse(workers.out) as { worker_id: string; in_flight: number; concurrency: number };
    expect(beat).toMatchObject({ in_flight: 1, concurrency: 4 });
    expect(beat.worker_id).toMatch(new RegExp(`:${w.proc.pid}$`));

    const aborted = h.fake.stats.abortedByClient;
    const cancel = await run(['cancel', 'slow-1', '--wait', ...server]);
    expect(cancel).toMatchObject({ code: 0, out: 'slow-1: cancelled (JOB_CANCELLED)' });
    // The AI request was cancelled (the fake AI saw its socket close), and nothing was redelivered.
    expect(h.fake.stats.abortedByClient).toBe(aborted + 1);
    const lasts = await h.waitForLasts(2);
    const last = lasts.find(({ last: l }) => l.alt_file_id === 'slow-1')!.last;
    expect(last.status).toBe('failure');
    expect(last.metadata.error_code).toBe('JOB_CANCELLED');
    expect(Object.values(last.task_results).map((t) => [t.status, t.metadata.error_code])).toEqual([['cancelled', 'JOB_CANCELLED'], ['cancelled', 'JOB_CANCELLED']]);
    // The status entry agrees with the .last: no task left pending, the running one cancelled (not JOB_ABORTED).
    const status = JSON.parse((await run(['status', 'slow-1', '--json', ...server])).out) as { state: string; last_status: string; tasks: Record<string, { state: string; error_code?: string }> };
    expect([status.state, status.last_status]).toEqual(['cancelled', last.status]);
    expect(Object.fromEntries(Object.entries(status.tasks).map(([id, t]) => [id, [t.state, t.error_code]]))).toEqual(Object.fromEntries(Object.entries(last.task_results).map(([id, t]) => [id, [t.status, t.metadata.error_code]])));
    await eventually(() => h!.consumer(), (c) => c.num_ack_pending === 0 && c.num_pending === 0 && c.num_redelivered === 0, 'the consumer to settle without redelivery');
    expect(h.fake.stats.requests).toBe(2);

    // No command creates a consumer (they read by message gets), nor does the worker's start-up
    // probe, checkpoint listing or cancel watch: what is left is the durable alone.
    for (const argv of [['jobs'], ['workers'], ['status', 'slow-1'], ['results'], ['init'], ['jobs', '--json']]) expect((await run([...argv, ...server])).code).toBe(0);
    const ephemeral: string[] = [];
    for await (const stream of h.jsm.streams.names()) {
      for await (const c of h.jsm.consumers.list(stream)) if (!c.config.durable_name) ephemeral.push(stream);
    }
    expect(ephemeral).toEqual([]);
  });

  it('cancels a job waiting in the stream without an AI call; a cancel binds to the messages stored before it', async () => {
    h = await Harness.start();
    const server = ['--server', h.server.url];
    const asked = (id: string) => h!.fake.stats.prompts.filter((p) => p.includes(` of ${id}`)).length;
    const unknown = 'no state recorded yet: cancelled where it runs, or when a worker picks it up (a message of it published after this cancel runs)';
    expect((await run(['init', ...server])).code).toBe(0);
    // A cancel of an id nothing was published for (a typo, or too early): armed for no message yet.
    expect(await run(['cancel', 'ghost-1', ...server])).toMatchObject({ code: 0, out: `cancel requested for ghost-1: ${unknown}` });
    // A job waiting in the stream (no worker yet) is cancelled when a worker picks it up.
    await h.publish(job('later-1', 2));
    const r = await run(['cancel', 'later-1', '--json', ...server]);
    expect(JSON.parse(r.out)).toMatchObject({ alt_id: 'later-1', found: 'queued_or_unknown', state: null, armed: true, alt_stream_seq: 1, requested: true, message: unknown });
    // ghost-1 published after its cancel: it runs.
    await h.publish(job('ghost-1', 2));
    await h.worker();
    const lasts = await h.waitForLasts(2);
    const byId = Object.fromEntries(lasts.map(({ last }) => [last.alt_file_id, last]));
    expect([byId['later-1'].metadata.error_code, asked('later-1')]).toEqual(['JOB_CANCELLED', 0]);
    expect([byId['ghost-1'].status, byId['ghost-1'].metadata.error_code, asked('ghost-1')]).toEqual(['success', undefined, 2]);
    // The request that cancelled later-1 is removed; ghost-1's, which cancelled nothing, stays (bound to no message of it).
    const kv = await new Kvm(h.nc).open('ALT_RUNS');
    await eventually(() => kv.get(cancelKey('later-1')), (e) => e?.operation === 'DEL', 'later-1\'s request removed');
    expect((await kv.get(cancelKey('ghost-1')))?.operation).toBe('PUT');
    // It is no job gone missing: status (and the dashboard) find it by its .last, as they find any job that wrote no entry.
    const status = JSON.parse((await run(['status', 'later-1', '--json', ...server])).out) as { state: string; title: string; tasks: Record<string, { state: string; error_code?: string; started_at: string | null }> };
    expect(status).toMatchObject({ state: 'cancelled', title: 'job later-1' });
    expect(Object.entries(status.tasks).map(([id, t]) => [id, t.state, t.error_code, t.started_at])).toEqual([['t1', 'cancelled', 'JOB_CANCELLED', null], ['t2', 'cancelled', 'JOB_CANCELLED', null]]);

    // A job whose last run finished: the request is written too (exit 0); it cancels a rerun still waiting in the stream.
    const finishedMessage = (id: string, state: string) => `cancel requested for ${id}: its last run ended ${state} already; a message of it still waiting in the stream (a rerun) is cancelled, one published later runs`;
    expect(await run(['cancel', 'later-1', ...server])).toEqual({ code: 0, out: finishedMessage('later-1', 'cancelled'), err: '' });
    expect((await run(['history', 'later-1', '--json', ...server])).out.split('\n').filter((l) => l.includes('cancel_requested'))).toHaveLength(2);
    // A rerun of ghost-1 waits (the intake paused) when ghost-1 is cancelled: it ends cancelled, without an AI call.
    expect((await run(['pause', ...server])).code).toBe(0);
    await eventually(async () => h!.workers[0].logs('intake paused: no new work is taken'), (l) => l.length === 1, 'the worker to pause');
    await h.publish(job('ghost-1', 2), { 'Nats-Msg-Id': 'ghost-1:rerun' });
    const cancelled = JSON.parse((await run(['cancel', 'ghost-1', '--json', ...server])).out);
    expect(cancelled).toMatchObject({ alt_id: 'ghost-1', found: 'finished', state: 'completed', armed: true, requested: true, message: finishedMessage('ghost-1', 'completed').replace('cancel requested for ghost-1: ', '') });
    expect((await run(['resume', ...server])).code).toBe(0);
    const ghost = async () => (await h!.lasts()).filter(({ last }) => last.alt_file_id === 'ghost-1');
    const [, waited] = await eventually(ghost, (l) => l.length === 2, 'the waiting rerun\'s .last');
    expect([waited.last.metadata.error_code, asked('ghost-1')]).toEqual(['JOB_CANCELLED', 2]);
    // A rerun published after the cancel runs.
    await h.publish(job('ghost-1', 2), { 'Nats-Msg-Id': 'ghost-1:rerun-2' });
    const [, , later] = await eventually(ghost, (l) => l.length === 3, 'the later rerun\'s .last');
    expect([later.last.status, asked('ghost-1')]).toEqual(['success', 4]);
    await h.publish(job('later-1', 2), { 'Nats-Msg-Id': 'later-1:rerun' });
    await eventually(() => h!.lasts(), (l) => l.filter(({ last }) => last.alt_file_id === 'later-1').length === 2, 'the rerun\'s .last');
    const rerun = (await h.lasts()).filter(({ last }) => last.alt_file_id === 'later-1').at(-1)!.last;
    expect([rerun.status, asked('later-1')]).toEqual(['success', 2]);
  });

  it('cancels a job in its first RUNNER_STATUS_FLUSH_MS without claiming it has not started: aborted where it runs, its AI request cancelled', async () => {
    h = await Harness.start();
    const server = ['--server', h.server.url];
    // A cancel written before fresh-1 was published, read again as a worker's watch does after a reconnect: it aborts nothing.
    expect((await run(['init', ...server])).code).toBe(0);
    expect((await run(['cancel', 'fresh-1', ...server])).code).toBe(0);
    // No status entry is written for a minute: the cancel finds no state recorded.
    await h.worker({ RUNNER_STATUS_FLUSH_MS: '60000' });
    h.fake.setFaults({ latencyMs: 60_000 });
    await h.publish(job('fresh-1', 2, 'slow-step'));
    await h.publish(job('fresh-2', 1, 'slow-step'));
    await eventually(async () => h!.fake.stats.inFlight, (n) => n >= 2, 'the slow AI calls');
    const kv = await new Kvm(h.nc).open('ALT_RUNS');
    await kv.put(cancelKey('fresh-1'), (await kv.get(cancelKey('fresh-1')))!.value);
    // The worker's watch reads the requests in order: once fresh-2's cancel ended it, the stale one was read too.
    expect((await run(['cancel', 'fresh-2', '--wait', ...server])).out).toBe('fresh-2: cancelled (JOB_CANCELLED)');
    expect([(await h.lasts()).map(({ last }) => last.alt_file_id), h.fake.stats.inFlight]).toEqual([['fresh-2'], 1]);
    const aborted = h.fake.stats.abortedByClient;
    const cancel = await run(['cancel', 'fresh-1', ...server]);
    expect(cancel).toMatchObject({ code: 0, out: 'cancel requested for fresh-1: no state recorded yet: cancelled where it runs, or when a worker picks it up (a message of it published after this cancel runs)' });
    const last = (await h.waitForLasts(2)).find(({ last: l }) => l.alt_file_id === 'fresh-1')!.last;
    expect([last.metadata.error_code, last.task_results.t1.status]).toEqual(['JOB_CANCELLED', 'cancelled']);
    await eventually(async () => h!.fake.stats.abortedByClient, (n) => n === aborted + 1, 'the AI request cancelled');
    expect(h.fake.stats.requests).toBe(2);
    // The history says what the cancel knew.
    expect((await run(['history', 'fresh-1', ...server])).out).toMatch(/cancel requested by .* \(no state recorded yet: waiting in the stream, just started, or no such job\)/);
  });

  it('dlq purge removes what matches, asks unless --yes, and refuses without a terminal', async () => {
    h = await Harness.start();
    await h.worker();
    const server = ['--server', h.server.url];
    await h.publish('{"tasks": [{"id": "a", "dependencies": ["a"]}]}');
    await h.publish('{"tasks": [');
    await h.publish('{"tasks": [{"id": "b", "dependencies": ["zz"]}]}');
    await eventually(() => h!.records('ALT_DLQ'), (r) => r.length === 3, 'three dead letters');
    const refused = await run(['dlq', 'purge', ...server]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/confirm with --yes/);
    expect((await run(['dlq', 'purge', '--older-than', '1h', '--yes', ...server])).out).toBe('nothing to purge');
    const one = await run(['dlq', 'purge', '--code', 'ALT_SYNTAX', '--yes', ...server]);
    expect(one.out).toBe('removed 1 of 1 dead letter of ALT_SYNTAX from ALT_DLQ');
    expect((await h.records('ALT_DLQ')).map((r) => r.headers?.get('Dlq-Code')).sort()).toEqual(['ALT_SCHEMA', 'ALT_SCHEMA']);
    expect((await run(['dlq', 'purge', '--older-than', '0s', '--yes', '--json', ...server])).out).toMatch(/^\{"removed":\[\d+,\d+\]\}$/);
    expect(await h.records('ALT_DLQ')).toEqual([]);
  });
});

describe('retention', () => {
  it('creates LAST and ALT_DLQ with the configured limits, and reports (never changes) an existing stream that differs', async () => {
    h = await Harness.start();
    await h.worker({ LAST_MAX_AGE_MS: '3600000', LAST_MAX_BYTES: '50000000', DLQ_MAX_AGE_MS: '7200000' });
    const last = await h.jsm.streams.info('LAST');
    const dlq = await h.jsm.streams.info('ALT_DLQ');
    expect([last.config.max_age, last.config.max_bytes, dlq.config.max_age]).toEqual([3600e9, 50_000_000, 7200e9]);
    const other = await h.worker({ LAST_MAX_AGE_MS: '60000', LAST_MAX_BYTES: '-1', DLQ_MAX_AGE_MS: '7200000' });
    const [warning] = other.logs('an existing stream\'s retention differs from the configuration; it is left as it is');
    expect(warning).toMatchObject({ stream: 'LAST', max_age_ms: 3_600_000, max_bytes: 50_000_000, wanted_max_age_ms: 60_000, wanted_max_bytes: -1 });
    expect(other.logs('an existing stream\'s retention differs from the configuration; it is left as it is')).toHaveLength(1);
    expect((await h.jsm.streams.info('LAST')).config.max_age).toBe(3600e9);
    // altlas init shows the differences; --apply applies the configured values, and says what it changed.
    const env = { LAST_MAX_AGE_MS: '60000', LAST_MAX_BYTES: '-1', DLQ_MAX_AGE_MS: '7200000' };
    const server = ['--server', h.server.url];
    const shown = await run(['init', ...server], env);
    expect(shown.out.split('\n')).toEqual(expect.arrayContaining([
      'exists   LAST (differs: max_age 1h, configured 1m (LAST_MAX_AGE_MS); max_bytes 50000000 bytes, configured no limit (LAST_MAX_BYTES); duplicate_window 1h, configured 1m (LAST_DUPLICATE_WINDOW_MS))',
      'exists   ALT_DLQ', 'consumer runner on ALT: exists',
      'what exists differs from the configuration (shown above): "altlas init --apply" applies the configured values',
    ]));
    expect((await h.jsm.streams.info('LAST')).config.max_age).toBe(3600e9);
    const applied = await run(['init', '--apply', ...server], env);
    expect(applied.out.split('\n').filter((l) => l.startsWith('updated'))).toEqual([
      'updated  LAST: max_age 1h → 1m (LAST_MAX_AGE_MS)', 'updated  LAST: max_bytes 50000000 bytes → no limit (LAST_MAX_BYTES)',
      'updated  LAST: duplicate_window 1h → 1m (LAST_DUPLICATE_WINDOW_MS)',
    ]);
    const info = (await h.jsm.streams.info('LAST')).config;
    expect([info.max_age, info.max_bytes, info.subjects]).toEqual([60e9, -1, ['last.>']]);
    expect((await run(['init', ...server], env)).out).not.toMatch(/differs/);
  });
});
