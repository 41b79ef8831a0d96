/**
 * Least privilege, proven: a nats-server whose users have exactly the permissions the code
 * generates (and the README prints), and every feature run through them. The server logs every
 * permission violation; there must be none. A missing permission stops the worker at start-up,
 * naming it.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { FakeOrchestrator } from '../../src/ai/fake-orchestrator.ts';
import { main } from '../../src/cli/main.ts';
import { loadConfig } from '../../src/config/load.ts';
import { NatsServer } from '../../src/devtools/nats-server.ts';
import { operatorPermissions, producerPermissions, readerPermissions, runnerPermissions, serverPermissions, type RolePermissions } from '../../src/security/permissions.ts';
import { WorkerProcess, eventually, job } from '../helpers/runner.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const config = loadConfig({});
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

async function stack(runner: RolePermissions = runnerPermissions(config)) {
  const users = [
    `{ user: admin, password: admin }`,
    `{ user: runner, password: runner-pw, ${serverPermissions(runner)} }`,
    `{ user: producer, password: producer-pw, ${serverPermissions(producerPermissions(config))} }`,
    `{ user: reader, password: reader-pw, ${serverPermissions(readerPermissions(config))} }`,
    `{ user: operator, password: operator-pw, ${serverPermissions(operatorPermissions(config))} }`,
  ];
  const server = await NatsServer.start({ config: `authorization { users = [\n${users.join('\n')}\n] }` });
  cleanups.push(() => server.dispose());
  const fake = new FakeOrchestrator({ latencyMs: 50 });
  const aiUrl = await fake.listen();
  cleanups.push(() => fake.close());
  const admin = await connect({ servers: server.url, user: 'admin', pass: 'admin' });
  cleanups.push(() => admin.close());
  const workers: WorkerProcess[] = [];
  const worker = async (env: Record<string, string> = {}) => {
    const w = new WorkerProcess({ NATS_URL: server.url, NATS_USER: 'runner', NATS_PASSWORD: 'runner-pw', AI_URL: aiUrl, HTTP_PORT: '0', LOG_LEVEL: 'info', RUNNER_NAK_DELAY_MS: '200', ...env });
    workers.push(w);
    cleanups.push(async () => {
      w.kill('SIGKILL');
      await w.exited;
    });
    await w.started();
    return w;
  };
  const violations = () => server.log.filter((l) => /Violation/i.test(l));
  return { server, fake, admin, worker, workers, violations };
}

const cli = async (server: NatsServer, user: string, argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const env = { ...process.env };
  Object.assign(process.env, { NATS_USER: user, NATS_PASSWORD: `${user}-pw` });
  try {
    const code = await main([...argv, '--server', server.url], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    process.env.NATS_USER = env.NATS_USER;
    process.env.NATS_PASSWORD = env.NATS_PASSWORD;
    if (env.NATS_USER === undefined) delete process.env.NATS_USER;
    if (env.NATS_PASSWORD === undefined) delete process.env.NATS_PASSWORD;
  }
};

async function lasts(nc: NatsConnection) {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info('LAST').catch(() => null);
  const out: Record<string, unknown>[] = [];
  for (let seq = info?.state.first_seq ?? 1; info && info.state.messages && seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage('LAST', { seq }).catch(() => null);
    if (m) out.push(JSON.parse(new TextDecoder().decode(m.data)));
  }
  return out;
}

describe('least privilege', () => {
  it('runs every feature with exactly the documented permissions and no violation', async () => {
    const s = await stack();
    // Budgets on: every job's tenant (_) has a day's budget, so the fleet's slices are written through the runner's permissions.
    const dir = mkdtempSync(join(tmpdir(), 'altlas-lp-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'tenants.yaml'), 'default: {day: {tokens: 100000000}}\n');
    const budgets = { BUDGET_TENANTS: join(dir, 'tenants.yaml') };
    const w = await s.worker({ ...budgets, RUNNER_OUTPUT_INLINE_MAX: '1000', RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_ACK_WAIT_MS: '3000', RUNNER_JANITOR_INTERVAL_MS: '2000' });
    // Jobs, with an output large enough to become an artifact object, through the producer's CLI.
    s.fake.setFaults({ latencyMs: 50, outputChars: 5_000 });
    const published = await cli(s.server, 'producer', ['publish', '--wait', '--timeout', '60', 'samples/runner-example.alt.json']);
    expect(published.err).toBe('');
    expect(published.code).toBe(0);
    // Invalid input: failure .last and DLQ.
    const js = jetstream(s.admin);
    await js.publish('alt.submit', '{"id": "broken", "tasks": [');
    await eventually(async () => (await jetstreamManager(s.admin)).streams.info('ALT_DLQ'), (i) => i.state.messages === 1, 'the dead letter');
    // Status and checkpoints: a job resumed after its worker was killed.
    s.fake.setFaults({ latencyMs: 500 });
    await js.publish('alt.submit', job('resumed', 4));
    await eventually(async () => s.fake.stats.requests, (n) => n >= 6, 'two tasks of the job done');
    w.kill('SIGKILL');
    await w.exited;
    s.fake.setFaults({ latencyMs: 50 });
    const second = await s.worker({ ...budgets, RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_MAX_DELIVER: '2', RUNNER_ACK_WAIT_MS: '3000' });
    await eventually(() => lasts(s.admin), (l) => l.some((x) => x.alt_file_id === 'resumed'), 'the resumed job', 30_000);
    expect(second.logs('resuming from checkpoints')).toHaveLength(1);
    // Cancel through the status bucket's watch.
    s.fake.setFaults({ latencyMs: 30_000 });
    await js.publish('alt.submit', job('to-cancel', 1));
    await eventually(async () => s.fake.stats.inFlight, (n) => n === 1, 'the job in flight');
    const cancelled = await cli(s.server, 'operator', ['cancel', 'to-cancel', '--wait']);
    expect({ code: cancelled.code, out: cancelled.out, err: cancelled.err }).toEqual({ code: 0, out: 'to-cancel: cancelled (JOB_CANCELLED)', err: '' });
    await eventually(() => lasts(s.admin), (l) => l.some((x) => x.alt_file_id === 'to-cancel'), 'the cancelled job');
    s.fake.setFaults({ latencyMs: 50 });
    // An approval task: the job parks (the runner's permissions), an operator approves it and it resumes; then an operator replays it from a task.
    const approval = JSON.stringify({ id: 'approved', version: '1.0', created_at: '2025-05-01T00:00:00Z', title: 'approved', tasks: [{ id: 'a', description: 'draft', dependencies: [] }, { id: 'ok', description: 'Send?', dependencies: ['a'], parameters: { task_type: 'approval' } }, { id: 'b', description: 'send', dependencies: ['ok'] }] });
    await js.publish('alt.submit', approval);
    await eventually(async () => (await cli(s.server, 'reader', ['status', 'approved'])).out, (o) => o.includes('JOB_PARKED'), 'the job parked');
    const approved = await cli(s.server, 'operator', ['approve', 'approved', 'ok', '--comment', 'fine']);
    expect({ code: approved.code, err: approved.err }).toEqual({ code: 0, err: '' });
    await eventually(() => lasts(s.admin), (l) => l.some((x) => x.alt_file_id === 'approved' && x.status === 'success'), 'the approved job');
    writeFileSync(join(dir, 'approved.alt.json'), approval);
    const again = await cli(s.server, 'operator', ['replay', 'approved', '--from', 'b', '--alt', join(dir, 'approved.alt.json'), '--wait', '--timeout', '60']);
    expect({ code: again.code, err: again.err }).toEqual({ code: 0, err: '' });
    // Live output: a job followed by the producer as it runs, and replayed by a reader.
    s.fake.setFaults({ latencyMs: 300 });
    const streamed = await cli(s.server, 'producer', ['publish', '--wait', '--stream', '--timeout', '60', 'samples/runner-example.alt.json']);
    expect({ code: streamed.code, err: streamed.err }).toEqual({ code: 0, err: '' });
    await js.publish('alt.submit', job('followed', 2));
    const watched = await cli(s.server, 'reader', ['watch', 'followed', '--timeout', '60']);
    expect({ code: watched.code, text: watched.out.includes('── t2 ──') }).toEqual({ code: 0, text: true });
    s.fake.setFaults({ latencyMs: 50 });
    // Reader commands.
    for (const argv of [['results', '--json'], ['status'], ['status', 'resumed'], ['dlq', 'list'], ['dlq', 'show', '1'], ['jobs'], ['workers'], ['usage', '--json']]) {
      const r = await cli(s.server, 'reader', argv);
      expect({ argv, code: r.code, err: r.err }).toEqual({ argv, code: 0, err: '' });
    }
    // The usage records the runner published are what the reader adds up.
    const usage = JSON.parse((await cli(s.server, 'reader', ['usage', '--json'])).out) as { calls: number };
    expect(usage.calls).toBeGreaterThanOrEqual(5);
    // Operator commands: replay a dead letter (it fails again), then purge it with its original.
    const replayed = await cli(s.server, 'operator', ['dlq', 'replay', '1']);
    expect({ code: replayed.code, err: replayed.err }).toEqual({ code: 0, err: '' });
    // The replayed record went with the replay; the job's new failure is its one record.
    await eventually(async () => (await jetstreamManager(s.admin)).streams.info('ALT_DLQ'), (i) => i.state.messages === 1 && i.state.last_seq === 2, 'the replayed job dead-lettered again');
    const purged = await cli(s.server, 'operator', ['dlq', 'purge', '--code', 'ALT_SYNTAX', '--yes']);
    expect({ code: purged.code, out: purged.out, err: purged.err }).toEqual({ code: 0, out: 'removed 1 of 1 dead letter of ALT_SYNTAX from ALT_DLQ', err: '' });
    await eventually(async () => (await jetstreamManager(s.admin)).streams.info('ALT_DLQ'), (i) => i.state.messages === 0, 'the purged DLQ');
    const artifact = (await lasts(s.admin)).flatMap((l) => (l.artifacts as { path: string }[] | undefined) ?? []).find((a) => a.path.startsWith('altlas+obj://'));
    expect(artifact).toBeDefined();
    const got = await cli(s.server, 'reader', ['artifact', 'get', artifact!.path]);
    expect(got.code).toBe(0);
    expect(got.out.length).toBeGreaterThan(4_000);
    // The tenant's slices were written by the workers (and the second returns its own at shutdown).
    const slices = await (await jetstreamManager(s.admin)).streams.info('KV_ALT_BUDGETS', { subjects_filter: '$KV.ALT_BUDGETS.budget.>' });
    expect(Object.keys(slices.state.subjects ?? {})).toEqual(['$KV.ALT_BUDGETS.budget._.day.tokens']);
    // Job history (written by the runner and the operator), the fleet's controls and the finished-jobs search, each role through its own permissions.
    const history = await cli(s.server, 'reader', ['history', 'to-cancel']);
    expect({ code: history.code, err: history.err }).toEqual({ code: 0, err: '' });
    expect(history.out).toMatch(/cancel requested by nats:operator[\s\S]*\.last stored \(/);
    // The events of a run killed with its worker, of an approval and a replay, of a dead letter.
    const resumed = (await cli(s.server, 'reader', ['history', 'resumed'])).out;
    // What the killed worker had not sent yet (at most HISTORY_FLUSH_MS of it) died with it: the second delivery's events are there.
    expect(resumed).toMatch(/delivered \(delivery 2,[\s\S]*claimed \(delivery 2\)[\s\S]*\.last stored \(success\)/);
    const approvedHistory = (await cli(s.server, 'reader', ['history', 'approved'])).out;
    expect(approvedHistory).toMatch(/parked: waiting for a person[\s\S]*task ok approved by nats:operator: fine[\s\S]*resumed after approval[\s\S]*\.last stored \(success\)[\s\S]*replay from task b published by nats:operator/);
    expect((await cli(s.server, 'reader', ['history', 'broken'])).out).toMatch(/dead-lettered \(ALT_SYNTAX/);
    for (const argv of [['pause'], ['resume']]) {
      const r = await cli(s.server, 'operator', argv);
      expect({ argv, code: r.code, err: r.err }).toEqual({ argv, code: 0, err: '' });
    }
    // The running worker's id (the killed one's heartbeat may still be listed first).
    const workerId = String(second.logs('worker started')[0].worker_id);
    expect((await cli(s.server, 'reader', ['workers', '--json'])).out).toContain(`"worker_id":"${workerId}"`);
    const set = await cli(s.server, 'operator', ['workers', 'set', workerId, '--concurrency', '2']);
    expect({ code: set.code, err: set.err }).toEqual({ code: 0, err: '' });
    await eventually(async () => second.logs('concurrency changed'), (l) => l.length === 1, 'the new concurrency');
    const fleet = await cli(s.server, 'reader', ['history', '--fleet']);
    expect(fleet.out).toMatch(/intake paused by nats:operator[\s\S]*intake resumed by nats:operator[\s\S]*set to 2 by nats:operator/);
    const finished = await cli(s.server, 'reader', ['jobs', '--finished', '--json']);
    expect({ code: finished.code, err: finished.err, found: finished.out.includes('"alt_id":"to-cancel"') }).toEqual({ code: 0, err: '', found: true });
    // Graceful shutdown.
    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(s.violations()).toEqual([]);
  });

  it('dead-letters with the guard and the janitor under the runner\'s permissions', async () => {
    const s = await stack();
    s.fake.setFaults({ latencyMs: 60_000 });
    const env = { RUNNER_ACK_WAIT_MS: '1000', RUNNER_MAX_DELIVER: '1' };
    const first = await s.worker(env);
    await jetstream(s.admin).publish('alt.submit', job('crash-loop', 1));
    await eventually(async () => s.fake.stats.requests, (n) => n >= 1, 'the job in flight');
    await s.worker(env);
    first.kill('SIGKILL');
    await eventually(async () => (await jetstreamManager(s.admin)).streams.info('ALT_DLQ'), (i) => i.state.messages === 1, 'the dead letter', 30_000);
    expect(s.violations()).toEqual([]);
  });

  it('runs the archive hand-off with the runner\'s permissions for ARCHIVE_NOTIFY_SUBJECT', async () => {
    const archived = loadConfig({ ARCHIVE_NOTIFY_SUBJECT: 'archive.last_files' });
    const s = await stack(runnerPermissions(archived));
    const got: string[] = [];
    s.admin.subscribe('archive.last_files', { queue: 'archive-service', callback: (_e, m) => void got.push(m.json<{ id: string }>().id) });
    await s.admin.flush();
    await s.worker({ ARCHIVE_NOTIFY_SUBJECT: 'archive.last_files' });
    await jetstream(s.admin).publish('alt.submit', job('archived', 1));
    const [last] = await eventually(() => lasts(s.admin), (l) => l.length === 1, 'the .last');
    await eventually(async () => got, (g) => g.length >= 1, 'the notification');
    expect(new Set(got)).toEqual(new Set([last.id]));
    expect(s.violations()).toEqual([]);
  });

  it('runs priority lanes with the runner\'s permissions for RUNNER_LANES: consumers made, pulled, removed; exhausted lane jobs dead-lettered', async () => {
    const lanes = loadConfig({ RUNNER_LANES: 'true' });
    const s = await stack(runnerPermissions(lanes));
    const env = { RUNNER_LANES: 'true', RUNNER_LANE_SCAN_MS: '200', RUNNER_LANE_IDLE_MS: '1000', RUNNER_ACK_WAIT_MS: '1500', RUNNER_MAX_DELIVER: '1' };
    await s.worker(env);
    const published = await cli(s.server, 'producer', ['publish', '--tenant', 'acme', '--wait', '--timeout', '60', 'samples/runner-example.alt.json']);
    expect([published.code, published.err]).toEqual([0, '']);
    await jetstream(s.admin).publish('alt.submit', job('outside-lanes', 1));
    await eventually(() => lasts(s.admin), (l) => l.length === 2, 'both .last');
    const jsm = await jetstreamManager(s.admin);
    const consumers = async () => {
      const names: string[] = [];
      for await (const c of jsm.consumers.list('ALT')) names.push(c.name);
      return names.sort();
    };
    // The idle lane consumer, its subject empty, is removed by the worker.
    await eventually(consumers, (n) => n.join() === 'runner', 'the idle lane consumer to go', 30_000);
    // A lane job whose worker dies is dead-lettered from its lane consumer's advisory.
    s.fake.setFaults({ latencyMs: 60_000 });
    const first = s.workers[0];
    await jetstream(s.admin).publish('alt.high.acme', job('crash-loop', 1));
    await eventually(async () => s.fake.stats.requests, (n) => n >= 2, 'the lane job in flight');
    await s.worker(env);
    first.kill('SIGKILL');
    await eventually(async () => jsm.streams.info('ALT_DLQ'), (i) => i.state.messages === 1, 'the dead letter', 30_000);
    expect(s.violations()).toEqual([]);
  });

  it('refuses to start, naming the permission, when one is missing', async () => {
    const full = runnerPermissions(config);
    const advisory = '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ALT.runner';
    const s = await stack({ ...full, subscribe: full.subscribe.filter((r) => r.subject !== advisory) });
    await expect(s.worker()).rejects.toThrow(/worker exited before it started/);
    const w = s.workers[0];
    expect((await w.exited).code).toBe(2);
    expect(w.logs('worker could not start')[0]).toMatchObject({ code: 'PERMISSION_DENIED', error: expect.stringContaining(advisory) });
  });

  it('gives a runner no reply meant for another client', async () => {
    const s = await stack();
    const runner = await connect({ servers: s.server.url, user: 'runner', pass: 'runner-pw' });
    cleanups.push(() => runner.close());
    const sub = runner.subscribe('_INBOX.>');
    await runner.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect(sub.isClosed()).toBe(true);
  });
});
