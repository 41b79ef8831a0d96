/**
 * The fleet's controls end to end through the command: altlas pause / resume stop and restart
 * every worker's intake, altlas workers set changes a worker's concurrency live, altlas drain lets
 * a worker finish what it holds and exit 0; each is in the fleet's history with who did it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { hostname, userInfo } from 'node:os';
import { Kvm } from '@nats-io/kv';
import { main } from '../../src/cli/main.ts';
import { drainKey } from '../../src/status/control.ts';
import { Harness, eventually, job, type WorkerProcess } from '../helpers/runner.ts';

const run = async (argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
};
const me = `${userInfo().username}@${hostname()}`;

let h: Harness;
let server: string[];
beforeAll(async () => {
  h = await Harness.start(undefined, { latencyRules: [{ match: 'slow-step', ms: 700 }] });
  server = ['--server', h.server.url];
}, 180_000);
afterAll(async () => {
  await run(['resume', ...server]).catch(() => {});
  await h?.close();
});

const workerIdOf = async (w: WorkerProcess) => {
  const lines = await eventually(async () => w.logs('worker started'), (l) => l.length > 0, 'worker started');
  return String(lines[0].worker_id);
};
const lastsOf = async (prefix: string) => (await h.lasts()).filter((l) => l.last.alt_file_id.startsWith(prefix));

describe('altlas pause and resume', () => {
  it('stop every worker\'s intake (a job published meanwhile waits) and restart it', async () => {
    const w = await h.worker({ RUNNER_CONCURRENCY: '2' });
    const asked = Date.now();
    const paused = await run(['pause', ...server]);
    const returned = Date.now();
    expect(paused).toMatchObject({ code: 0 });
    expect(paused.out).toMatch(/intake paused on every worker/);
    const line = await eventually(async () => w.logs('intake paused: no new work is taken'), (l) => l.length > 0, 'the worker to pause');
    expect(line[0].by).toBe(me);
    // A figure, not an assertion: how long after the command returned the worker said it paused (the machine is shared).
    console.log(`altlas pause → the worker paused: ${Date.parse(String(line[0].timestamp)) - asked} ms after the command started (it returned after ${returned - asked} ms)`);
    await h.publish(job('paused-1', 1));
    // Nothing shows a job that does not start; give it time to (wrongly) run.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(w.logs('run started')).toEqual([]);
    expect(await lastsOf('paused-')).toEqual([]);

    expect((await run(['resume', ...server])).code).toBe(0);
    await eventually(() => lastsOf('paused-'), (l) => l.length === 1, 'the job to run once resumed');
    const fleet = await run(['history', '--fleet', ...server]);
    expect(fleet.out).toMatch(new RegExp(`intake paused by ${me} on every worker[\\s\\S]*intake resumed by ${me} on every worker`));
    w.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
  }, 180_000);
});

describe('altlas workers set --concurrency', () => {
  it('changes a worker\'s concurrency live: the AI side never sees more calls at once than it allows', async () => {
    const w = await h.worker({ RUNNER_CONCURRENCY: '3' });
    const id = await workerIdOf(w);
    const set = await run(['workers', 'set', id, '--concurrency', '1', ...server]);
    expect(set).toMatchObject({ code: 0, out: `${id}: concurrency 3 → 1 (applied)` });
    await eventually(async () => JSON.parse((await run(['workers', '--json', ...server])).out.split('\n').find((l) => l.includes(id)) ?? '{}'), (b) => b.concurrency === 1, 'the heartbeat to show 1');
    h.fake.stats.maxInFlight = 0;
    for (let i = 0; i < 3; i++) await h.publish(job(`one-at-a-time-${i}`, 1, 'slow-step'));
    await eventually(() => lastsOf('one-at-a-time-'), (l) => l.length === 3, 'three jobs');
    expect(h.fake.stats.maxInFlight).toBe(1);

    expect((await run(['workers', 'set', id, '--concurrency', '3', ...server])).code).toBe(0);
    await eventually(() => Promise.resolve(w.logs('concurrency changed')), (l) => l.length === 2, 'the second change');
    h.fake.stats.maxInFlight = 0;
    for (let i = 0; i < 3; i++) await h.publish(job(`three-at-once-${i}`, 1, 'slow-step'));
    await eventually(() => lastsOf('three-at-once-'), (l) => l.length === 3, 'three more jobs');
    expect(h.fake.stats.maxInFlight).toBeGreaterThan(1);
    const fleet = await run(['history', '--fleet', ...server]);
    expect(fleet.out).toMatch(new RegExp(`concurrency of ${id} set to 1 by ${me}`));

    const unknown = await run(['workers', 'set', 'nobody:1', '--concurrency', '2', ...server]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/WORKER_NOT_FOUND: no live worker nobody:1/);
    w.kill('SIGTERM');
    await w.exited;
  }, 180_000);
});

describe('altlas drain', () => {
  it('lets the worker finish the job it runs, then it exits 0', async () => {
    const w = await h.worker({ RUNNER_CONCURRENCY: '2', RUNNER_SHUTDOWN_GRACE_MS: '0' });
    const id = await workerIdOf(w);
    await h.publish(job('drained-1', 3, 'slow-step'));
    await eventually(async () => w.logs('run started'), (l) => l.length === 1, 'the job to start');
    // Values that got into its drain key another way are not drain requests: the JetStream API's
    // answer to a request whose reply subject named the key, another worker's request copied there.
    const control = await new Kvm(h.nc).open('ALT_CONTROL');
    await control.put(drainKey(id), JSON.stringify({ type: 'io.nats.jetstream.api.v1.stream_info_response', config: {}, state: {} }));
    await control.put(drainKey(id), JSON.stringify({ worker_id: 'another-worker', by: 'nats:operator', at: new Date().toISOString() }));
    await control.put(drainKey(id), 'junk');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(w.logs('draining: no new work is taken; the jobs running here finish, then the worker exits')).toHaveLength(0);
    expect(w.proc.exitCode).toBeNull();
    const drained = await run(['drain', id, '--wait', ...server]);
    expect(drained).toMatchObject({ code: 0, out: `${id} drained and exited` });
    expect((await w.exited).code).toBe(0);
    expect(w.logs('process exit')).toEqual([expect.objectContaining({ code: 0, reason: 'drained (altlas drain): nothing runs here any more' })]);
    // It finished (with RUNNER_SHUTDOWN_GRACE_MS=0 a plain shutdown would have handed it back unfinished).
    const [done] = await lastsOf('drained-');
    expect(done.last.status).toBe('success');
    expect(w.logs('run ended').map((l) => l.outcome)).toEqual(['ack']);
    const fleet = await run(['history', '--fleet', ...server]);
    expect(fleet.out).toMatch(new RegExp(`drain of ${id} requested by ${me}[\\s\\S]*${id} drained`));
  }, 180_000);

  it('shows the worker paused in altlas workers as soon as it drains, not at its next heartbeat', async () => {
    // A heartbeat a minute apart: only the beat the drain makes can show it within eventually's 30 s.
    const w = await h.worker({ RUNNER_HEARTBEAT_MS: '60000' });
    const id = await workerIdOf(w);
    // 20 slow tasks (at least 14 s): the worker still runs it, and is alive, while it drains.
    await h.publish(job('beat-drain-1', 20, 'slow-step'));
    await eventually(async () => w.logs('run started'), (l) => l.length === 1, 'the job to start');
    const beatOf = async () => JSON.parse((await run(['workers', '--json', ...server])).out.split('\n').find((l) => l.includes(`"${id}"`)) ?? '{}') as { paused?: boolean; in_flight?: number };
    expect(await beatOf()).toMatchObject({ paused: false });
    expect((await run(['drain', id, ...server])).code).toBe(0);
    expect(await eventually(beatOf, (b) => b.paused === true, 'the heartbeat to show it paused')).toMatchObject({ in_flight: 1 });
    expect(w.proc.exitCode).toBeNull();
    expect((await w.exited).code).toBe(0);
  }, 180_000);
});
