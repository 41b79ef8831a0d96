/**
 * Each role attacked through exactly the lists `altlas permissions` prints, on a real
 * nats-server, while jobs run (one in flight with checkpoints, one waiting in ALT, one dead
 * letter): sniffing other roles' inboxes, reading ALT and the checkpoints, creating durable or
 * push consumers, purging, deleting, updating or rolling up streams. Every attack is denied and
 * nothing is lost; then the reader's and the operator's watches (`results --follow`, `status
 * --watch`, the dashboard) work through the same lists.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { headers as natsHeaders, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { FakeOrchestrator } from '../../src/ai/fake-orchestrator.ts';
import { loadConfig } from '../../src/config/load.ts';
import { NatsServer } from '../../src/devtools/nats-server.ts';
import { connectionOptions } from '../../src/messaging/connect.ts';
import { readObject } from '../../src/status/store-access.ts';
import { ROLE_PERMISSIONS, serverPermissions, type Role } from '../../src/security/permissions.ts';
import { WorkerProcess, eventually, job } from '../helpers/runner.ts';
import { ROOT } from '../helpers/paths.ts';

const config = loadConfig({});
const ROLES: Role[] = ['runner', 'producer', 'reader', 'operator'];
/** The streams the worker made, whatever they are (a stream or bucket added later is attacked too): listed once it started. */
let STREAMS: string[] = [];
/** Streams that hold job bodies: no role but the runner reads them (the operator the DLQ's large originals too). */
const BODIES = ['ALT', 'KV_ALT_CHECKPOINTS', 'OBJ_ALT_BODIES'];
const SECRET = `SNIFF-ME-${randomBytes(6).toString('hex')}`;

let server: NatsServer;
let fake: FakeOrchestrator;
let admin: NatsConnection;
let adminJsm: JetStreamManager;
const as: Partial<Record<Role, NatsConnection>> = {};
const processes: ChildProcess[] = [];
let worker: WorkerProcess;

/** A connection as a role's user would make it (its role's inbox prefix). */
const connectAs = (role: Role) => connect({ ...connectionOptions(config, `attacker ${role}`, role), servers: server.url, user: role, pass: `${role}-pw` });

/** An `altlas` process as a role's user; resolves when `until` matches its output. */
function altlas(role: Role, argv: string[], env: NodeJS.ProcessEnv = {}): { proc: ChildProcess; output: () => string; wait: (until: RegExp) => Promise<string> } {
  const proc = spawn(join(ROOT, 'bin', 'altlas'), [...argv, '--server', server.url], { env: { ...process.env, NATS_USER: role, NATS_PASSWORD: `${role}-pw`, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  processes.push(proc);
  let out = '';
  const waiters: (() => void)[] = [];
  const take = (c: Buffer) => {
    out += c.toString();
    for (const w of waiters.splice(0)) w();
  };
  proc.stdout!.on('data', take);
  proc.stderr!.on('data', take);
  const wait = (until: RegExp) => new Promise<string>((resolve, reject) => {
    const check = () => {
      if (until.test(out)) resolve(out);
      else if (proc.exitCode !== null) reject(new Error(`altlas ${argv.join(' ')} exited ${proc.exitCode}: ${out}`));
      else waiters.push(check);
    };
    proc.once('exit', () => waiters.splice(0).forEach((w) => w()));
    check();
  });
  return { proc, output: () => out, wait };
}

/** No stream lost messages (the held job may still write its status meanwhile). */
async function expectNothingLost(before: Record<string, number>): Promise<void> {
  const after = await counts();
  for (const s of STREAMS) expect({ s, kept: after[s] >= before[s] }).toEqual({ s, kept: true });
}

const counts = async (): Promise<Record<string, number>> => Object.fromEntries(await Promise.all(STREAMS.map(async (s) => [s, (await adminJsm.streams.info(s)).state.messages] as const)));

beforeAll(async () => {
  const users = ['{ user: admin, password: admin }', ...ROLES.map((r) => `{ user: ${r}, password: ${r}-pw, ${serverPermissions(ROLE_PERMISSIONS[r](config))} }`)];
  // A small max payload: a large original goes to the object store, and the operator's purge removes it there.
  server = await NatsServer.start({ config: `max_payload: 65536\nauthorization { users = [\n${users.join('\n')}\n] }` });
  fake = new FakeOrchestrator({ latencyMs: 50 });
  fake.setFaults({ latencyMs: 50, outputChars: 1_000 });
  const aiUrl = await fake.listen();
  admin = await connect({ servers: server.url, user: 'admin', pass: 'admin' });
  adminJsm = await jetstreamManager(admin);
  worker = new WorkerProcess({
    NATS_URL: server.url, NATS_USER: 'runner', NATS_PASSWORD: 'runner-pw', AI_URL: aiUrl, HTTP_PORT: '0', LOG_LEVEL: 'info',
    RUNNER_CONCURRENCY: '1', RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_KEEP_ALT: 'true', ALT_MAX_BYTES: '65536', RUNNER_OUTPUT_INLINE_MAX: '256', RUNNER_STATUS_FLUSH_MS: '10', RUNNER_NAK_DELAY_MS: '200',
  });
  await worker.started();
  for await (const name of adminJsm.streams.names()) STREAMS.push(name);
  STREAMS = STREAMS.sort();
  expect(STREAMS).toEqual(expect.arrayContaining(['ALT', 'LAST', 'ALT_DLQ', 'KV_ALT_RUNS', 'KV_ALT_CHECKPOINTS', 'OBJ_ALT_OUTPUTS', ...BODIES]));
  for (const r of ROLES) as[r] = await connectAs(r);
}, 120_000);

afterAll(async () => {
  for (const p of processes) if (p.exitCode === null) {
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
  }
  worker?.kill('SIGKILL');
  await worker?.exited;
  for (const nc of [...Object.values(as), admin]) await nc?.close().catch(() => {});
  await fake?.close();
  await server?.dispose();
});

/** A request the role's user may not send: the server refuses it before anything is done. */
async function refused(role: Role, subject: string, body: unknown = {}): Promise<string | null> {
  try {
    const m = await as[role]!.request(subject, typeof body === 'string' ? body : JSON.stringify(body), { timeout: 20_000 });
    return `answered: ${m.string().slice(0, 200)}`;
  } catch (e) {
    return /Permissions Violation/.test((e as Error).message) ? null : `failed otherwise: ${(e as Error).message}`;
  }
}

describe('each role against the printed lists', () => {
  const sniffers: { role: Role; subject: string; sub: Subscription; got: number }[] = [];

  it('runs jobs while every role tries to sniff inboxes and job subjects: each subscription is refused, none receives anything', async () => {
    const targets: Record<Role, string[]> = {
      runner: ['_INBOX.>', '_INBOX_altlas.>', '_INBOX_altlas_producer.>', '_INBOX_altlas_reader.>', '_INBOX_altlas_operator.>', '>', 'alt.>'],
      producer: ['_INBOX.>', '_INBOX_altlas.>', '_INBOX_altlas_runner.>', '_INBOX_altlas_reader.>', '_INBOX_altlas_operator.>', '>', 'alt.>', '$JS.ACK.>', '$KV.ALT_CHECKPOINTS.>', '$KV.ALT_RUNS.>', 'progress.>', '$O.ALT_BODIES.>', 'dlq.alt.>'],
      reader: ['_INBOX.>', '_INBOX_altlas.>', '_INBOX_altlas_runner.>', '_INBOX_altlas_producer.>', '_INBOX_altlas_operator.>', '>', 'alt.>', '$JS.ACK.>', '$KV.ALT_CHECKPOINTS.>', '$O.>', 'dlq.alt.>', 'progress.>'],
      operator: ['_INBOX.>', '_INBOX_altlas.>', '_INBOX_altlas_runner.>', '_INBOX_altlas_producer.>', '>', 'alt.>', '$JS.ACK.>', '$KV.ALT_CHECKPOINTS.>', '$O.>', 'progress.>'],
    };
    for (const role of ROLES) {
      for (const subject of targets[role]) {
        const s = { role, subject, sub: null as unknown as Subscription, got: 0 };
        // A refused subscription calls back once, with the permission error; a message would come without one.
        s.sub = as[role]!.subscribe(subject, {
          callback: (err) => {
            if (!err) s.got++;
          },
        });
        sniffers.push(s);
      }
      // The server refuses a subscription before it answers the flush's ping.
      await as[role]!.flush();
    }
    expect(sniffers.filter((s) => !s.sub.isClosed()).map((s) => `${s.role} ${s.subject}`)).toEqual([]);
    // Jobs through the producer: one done, one held in flight (checkpoints written), one waiting in ALT, one dead letter.
    const js = jetstream(as.producer!);
    await js.publish('alt.submit', job('attack-done', 2, SECRET));
    await js.publish('alt.submit', `{"id": "attack-broken", "secret": "${SECRET}", "tasks": [`);
    await js.publish('alt.submit', `{"id": "attack-large", "secret": "${SECRET}", "tasks": [${'"x",'.repeat(16_000)}"x"]}`);
    await eventually(() => counts(), (c) => c.LAST === 3 && c.ALT_DLQ === 2, 'the first .last and the dead letters');
    // A job body kept as an object (RUNNER_KEEP_ALT) is in the bodies' store, which the reader may not read; none among the artifacts.
    expect([await readObject(adminJsm, 'ALT_BODIES', 'alt/attack-done') !== null, await readObject(adminJsm, 'ALT_OUTPUTS', 'alt/attack-done')]).toEqual([true, null]);
    fake.setFaults({ latencyMs: 600_000, outputChars: 1_000 });
    await js.publish('alt.submit', job('attack-held', 3, SECRET));
    await eventually(async () => fake.stats.inFlight, (n) => n === 1, 'a job in flight');
    await js.publish('alt.submit', job('attack-waiting', 1, SECRET));
    await eventually(() => counts(), (c) => c.ALT >= 2 && c.KV_ALT_CHECKPOINTS >= 1, 'ALT and checkpoints');
    expect(sniffers.filter((s) => s.got > 0).map((s) => `${s.role} ${s.subject}: ${s.got}`)).toEqual([]);
  });

  it('refuses reading ALT and the checkpoints to everyone but the runner, and the large DLQ originals to everyone but the operator', async () => {
    const originals: string[] = ['$JS.API.STREAM.MSG.GET.OBJ_ALT_BODIES', '$JS.API.DIRECT.GET.OBJ_ALT_BODIES', '$JS.API.DIRECT.GET.OBJ_ALT_BODIES.$O.ALT_BODIES.M.ZGxxL0FMVC8z', '$JS.API.STREAM.MSG.DELETE.OBJ_ALT_BODIES'];
    const readers: string[] = [];
    for (const role of ['producer', 'reader'] as const) {
      for (const subject of originals) {
        const r = await refused(role, subject, { seq: 1, last_by_subj: '$O.ALT_BODIES.M.ZGxxL0FMVC8z' });
        if (r) readers.push(`${role} ${subject}: ${r}`);
      }
    }
    expect(readers).toEqual([]);
    const attacks: string[] = [
      '$JS.API.STREAM.MSG.GET.ALT', '$JS.API.DIRECT.GET.ALT', '$JS.API.DIRECT.GET.ALT.alt.submit', '$JS.API.CONSUMER.MSG.NEXT.ALT.runner',
      '$JS.API.CONSUMER.CREATE.ALT', '$JS.API.CONSUMER.CREATE.ALT.spy', '$JS.API.CONSUMER.CREATE.ALT.spy.alt.submit', '$JS.API.CONSUMER.DURABLE.CREATE.ALT.spy',
      '$JS.API.STREAM.MSG.GET.KV_ALT_CHECKPOINTS', '$JS.API.DIRECT.GET.KV_ALT_CHECKPOINTS', '$JS.API.DIRECT.GET.KV_ALT_CHECKPOINTS.$KV.ALT_CHECKPOINTS.ALT.2.claim',
      '$JS.API.CONSUMER.CREATE.KV_ALT_CHECKPOINTS', '$JS.API.CONSUMER.CREATE.KV_ALT_CHECKPOINTS.spy', '$JS.API.STREAM.INFO.KV_ALT_CHECKPOINTS',
      '$JS.ACK.ALT.runner.1.2.2.0.0',
    ];
    const let_through: string[] = [];
    for (const role of ['producer', 'reader', 'operator'] as const) {
      for (const subject of attacks) {
        const r = await refused(role, subject, { seq: 2, last_by_subj: 'alt.submit', batch: 1, stream_name: 'ALT', config: { deliver_subject: `_INBOX_altlas_${role}.spy`, ack_policy: 'none' } });
        if (r) let_through.push(`${role} ${subject}: ${r}`);
      }
    }
    expect(let_through).toEqual([]);
  });

  it('refuses every consumer (durable, push or ephemeral) to the producer, the reader and the operator, on every stream, and to the runner but its own durables', async () => {
    const let_through: string[] = [];
    for (const role of ['producer', 'reader', 'operator', 'runner'] as const) {
      for (const stream of STREAMS) {
        const push = { stream_name: stream, config: { deliver_subject: 'alt.submit', ack_policy: 'none', deliver_policy: 'all' } };
        const durable = { stream_name: stream, config: { durable_name: 'spy', name: 'spy', ack_policy: 'explicit' } };
        for (const [subject, body] of [[`$JS.API.CONSUMER.CREATE.${stream}`, push], [`$JS.API.CONSUMER.CREATE.${stream}.spy`, durable], [`$JS.API.CONSUMER.DURABLE.CREATE.${stream}.spy`, durable], [`$JS.API.CONSUMER.CREATE.${stream}.spy.>`, durable]] as const) {
          const r = await refused(role, subject.replace('.>', '.last.x'), body);
          if (r) let_through.push(`${role} ${subject}: ${r}`);
        }
      }
    }
    expect(let_through).toEqual([]);
  });

  it('refuses wholesale purges, stream deletes and updates to every role, and deletes outside a role\'s own records', async () => {
    const before = await counts();
    const let_through: string[] = [];
    for (const role of ROLES) {
      for (const stream of STREAMS) {
        for (const api of ['STREAM.PURGE', 'STREAM.DELETE', 'STREAM.UPDATE']) {
          const r = await refused(role, `$JS.API.${api}.${stream}`, api === 'STREAM.UPDATE' ? { name: stream, subjects: ['x.>'] } : {});
          if (r) let_through.push(`${role} ${api} ${stream}: ${r}`);
        }
        // A message delete is granted by name only where the role removes its own records (the lists say which); nowhere else.
        const mayDelete = ROLE_PERMISSIONS[role](config).publish.some((r) => r.subject === `$JS.API.STREAM.MSG.DELETE.${stream}`);
        expect({ role, stream, mayDelete }).toEqual({ role, stream, mayDelete: (role === 'runner' && ['ALT', 'OBJ_ALT_OUTPUTS', 'OBJ_ALT_BODIES'].includes(stream)) || (role === 'operator' && ['ALT_DLQ', 'OBJ_ALT_BODIES'].includes(stream)) });
        if (!mayDelete) {
          const r = await refused(role, `$JS.API.STREAM.MSG.DELETE.${stream}`, { seq: 1 });
          if (r) let_through.push(`${role} MSG.DELETE ${stream}: ${r}`);
        }
      }
    }
    expect(let_through).toEqual([]);
    await expectNothingLost(before);
  });

  it('refuses a roll-up of a whole stream through a subject a role may write', async () => {
    const before = await counts();
    const attempts: [Role, string][] = [
      ['operator', '$KV.ALT_RUNS.cancel.everything'], ['runner', '$KV.ALT_RUNS.x'], ['runner', '$KV.ALT_CHECKPOINTS.x'], ['runner', '$KV.ALT_WORKERS.x'], ['runner', '$KV.ALT_BUDGETS.x'],
      ['producer', 'alt.submit'], ['operator', 'alt.submit'], ['runner', 'last.x'], ['runner', 'dlq.alt.x'], ['runner', 'usage.x.y'], ['runner', 'progress.x.y'],
    ];
    const let_through: string[] = [];
    for (const [role, subject] of attempts) {
      const h = natsHeaders();
      h.set('Nats-Rollup', 'all');
      try {
        await jetstream(as[role]!).publish(subject, 'wipe', { headers: h });
        let_through.push(`${role} ${subject}`);
      } catch (e) {
        expect({ role, subject, error: (e as Error).message }).toEqual({ role, subject, error: expect.stringMatching(/rollup not permitted/i) });
      }
    }
    expect(let_through).toEqual([]);
    await expectNothingLost(before);
  });

  it('refuses forged progress (text a watcher would show as an AI\'s answer) to every role but the runner', async () => {
    const let_through: string[] = [];
    for (const role of ['producer', 'reader', 'operator'] as const) {
      for (const subject of ['progress.attack-done.t1', 'live.progress.attack-done.t1']) {
        const r = await refused(role, subject, { v: 1, type: 'chunk', job: 'attack-done', task: 't1', attempt: 'forged', index: 0, text: 'forged' });
        if (r) let_through.push(`${role} ${subject}: ${r}`);
      }
    }
    expect(let_through).toEqual([]);
  });

  it('leaves no consumer but the runner\'s, and nothing lost', async () => {
    const durables: string[] = [];
    for (const stream of STREAMS) for await (const c of adminJsm.consumers.list(stream)) if (c.config.durable_name) durables.push(`${stream}/${c.config.durable_name}`);
    expect(durables).toEqual(['ALT/runner']);
    // Not even the runner leaves one behind: its cancel watch, checkpoint listings and object reads need none.
    for (const stream of STREAMS.filter((s) => s !== 'ALT')) {
      const all: string[] = [];
      for await (const c of adminJsm.consumers.list(stream)) all.push(c.name);
      expect({ stream, consumers: all }).toEqual({ stream, consumers: [] });
    }
    expect(sniffers.filter((s) => s.got > 0).map((s) => `${s.role} ${s.subject}: ${s.got}`)).toEqual([]);
  });

  it('still gives the reader and the operator their watches: results --follow, status --watch, the dashboard', async () => {
    const attacksSeen = server.log.filter((l) => /Violation/.test(l)).length;
    const follow = altlas('reader', ['results', '--follow']);
    await follow.wait(/attack-done/);
    const watch = altlas('reader', ['status', 'attack-held', '--watch', '--json']);
    await watch.wait(/"state":"running"/);
    const reader = altlas('reader', ['dashboard', '--port', '0']);
    const readerUrl = /dashboard on (http:\/\/\S+)/.exec(await reader.wait(/dashboard on http:\/\/\S+/))![1];
    const token = 'role-attack-token';
    const operator = altlas('operator', ['dashboard', '--port', '0'], { DASHBOARD_TOKEN: token, DASHBOARD_OPERATOR_TOKEN: `${token}-operator` });
    const operatorUrl = /dashboard on (http:\/\/\S+)/.exec(await operator.wait(/dashboard on http:\/\/\S+/))![1];
    // A dashboard listens at once; it has its data once /healthz says ready (the API answers 503 before).
    for (const url of [readerUrl, operatorUrl]) await eventually(async () => (await (await fetch(`${url}/healthz`)).json()) as { ready: boolean }, (b) => b.ready, `the dashboard at ${url} to be ready`);
    const jobs = await (await fetch(`${readerUrl}/api/jobs`)).json() as { jobs: { alt_id: string }[] };
    expect(jobs.jobs.map((j) => j.alt_id)).toEqual(expect.arrayContaining(['attack-done', 'attack-held']));
    const dlq = await (await fetch(`${readerUrl}/api/dlq`)).json() as { records: { seq: number }[] };
    expect(dlq.records).toHaveLength(2);
    expect((await fetch(`${readerUrl}/api/dlq/${dlq.records[0].seq}`)).status).toBe(200);
    // The large original is the operator's to read: the reader's dashboard and dlq show say where it is, the operator's show it.
    const largeSeq = (await adminJsm.streams.getMessage('ALT_DLQ', { last_by_subj: 'dlq.alt.ALT_LIMIT' }))!.seq;
    const withheld = await (await fetch(`${readerUrl}/api/dlq/${largeSeq}`)).json() as { payload: string };
    expect(withheld.payload).toMatch(/^\(the original, \d+ bytes, is kept at altlas\+obj:\/\/ALT_BODIES\/dlq\/ALT\/\d+, which only the operator role may read\)$/);
    const readerShow = altlas('reader', ['dlq', 'show', String(largeSeq)]);
    await readerShow.wait(/which only the operator role may read/);
    const operatorShow = altlas('operator', ['dlq', 'show', String(largeSeq)]);
    await operatorShow.wait(/"id": "attack-large"/);
    expect((await fetch(`${readerUrl}/api/fleet`)).status).toBe(200);
    // The operator's dashboard cancels the held job; the watches see it end, and the next jobs run.
    fake.setFaults({ latencyMs: 50 });
    const cancel = await fetch(`${operatorUrl}/api/actions/cancel`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ alt_id: 'attack-held' }) });
    expect(cancel.status).toBe(200);
    await watch.wait(/"state":"cancelled"/);
    await follow.wait(/attack-waiting/);
    follow.proc.kill('SIGINT');
    await new Promise((r) => (follow.proc.exitCode === null ? follow.proc.once('exit', r) : r(null)));
    expect(follow.proc.exitCode).toBe(0);
    expect(follow.output()).toMatch(/attack-held +failure \(JOB_CANCELLED\)/);
    // The dashboard saw the cancel as it was written (its watch of the status bucket).
    await eventually(async () => (await (await fetch(`${readerUrl}/api/jobs`)).json()) as { jobs: { alt_id: string; state: string }[] }, (j) => j.jobs.some((x) => x.alt_id === 'attack-held' && x.state === 'cancelled'), 'the cancel on the reader\'s dashboard');
    // The operator's dashboard controls the fleet (its operator token); the reader's shows the intake.
    const { workers } = await (await fetch(`${readerUrl}/api/fleet`)).json() as { workers: { worker_id: string; concurrency: number }[] };
    for (const [name, body] of [['pause', {}], ['resume', {}], ['concurrency', { worker_id: workers[0].worker_id, concurrency: workers[0].concurrency }]] as const) {
      const r = await fetch(`${operatorUrl}/api/actions/${name}`, { method: 'POST', headers: { authorization: `Bearer ${token}-operator`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect({ name, status: r.status }).toEqual({ name, status: 200 });
    }
    expect(await (await fetch(`${readerUrl}/api/fleet`)).json()).toMatchObject({ intake: { paused: false, by: expect.stringMatching(/^dashboard:/) } });
    // The operator purges the large dead letter: its original leaves the object store, message by message.
    const large = (await adminJsm.streams.getMessage('ALT_DLQ', { last_by_subj: 'dlq.alt.ALT_LIMIT' }))!;
    const ref = large.header.get('Dlq-Payload')!;
    expect(ref).toMatch(/^altlas\+obj:\/\/ALT_BODIES\/dlq\//);
    const objectsBefore = (await counts()).OBJ_ALT_BODIES;
    const purge = altlas('operator', ['dlq', 'purge', '--code', 'ALT_LIMIT', '--yes']);
    await purge.wait(/removed 1 of 1 dead letter of ALT_LIMIT/);
    const gone = await readObject(adminJsm, 'ALT_BODIES', ref.slice('altlas+obj://ALT_BODIES/'.length));
    expect({ gone: gone === null, fewer: (await counts()).OBJ_ALT_BODIES < objectsBefore }).toEqual({ gone: true, fewer: true });
    // The operator replays the other dead letter: its record goes (a single message delete); the job, broken again, gets a new one.
    const first = (await adminJsm.streams.info('ALT_DLQ')).state.first_seq;
    const replay = altlas('operator', ['dlq', 'replay', String(first)]);
    await replay.wait(new RegExp(`replayed DLQ ${first} to alt\\.submit: ALT seq \\d+; record removed`));
    expect(await adminJsm.streams.getMessage('ALT_DLQ', { seq: first }).then((m) => (m ? 'kept' : 'gone'), () => 'gone')).toBe('gone');
    await eventually(async () => (await adminJsm.streams.info('ALT_DLQ')).state, (st) => st.messages === 1 && st.first_seq > first, 'the replayed job\'s new record');
    // What the commands and the dashboards did needed no permission beyond their lists (but the reader's tries at the large original, refused as they must be).
    expect(server.log.filter((l) => /Violation/.test(l)).slice(attacksSeen).filter((l) => !/"reader".*MSG\.GET\.OBJ_ALT_BODIES/.test(l))).toEqual([]);
  });
});
