/**
 * Job history through a nats-server restart: the events a worker could not get confirmed while
 * the server was down (the jobs it ran then) are sent again once it is back, so every job's
 * timeline holds its delivery, its start and its `.last`, each once.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { main } from '../../src/cli/main.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const history = async (id: string) => {
  const out: string[] = [];
  await main(['history', id, '--json', '--server', h!.server.url], { out: (l) => out.push(l), err: () => {} });
  return out.filter(Boolean).map((l) => JSON.parse(l) as { type: string; deliveries?: number; worker_id?: string });
};

describe('job history across a nats-server restart', () => {
  it('keeps every job\'s delivery, start and .last: the worker sends again what the server did not confirm', async () => {
    h = await Harness.start(undefined, { latencyMs: 400 });
    await h.worker({ RUNNER_CONCURRENCY: '8', RUNNER_ACK_WAIT_MS: '30000' });
    const ids = Array.from({ length: 8 }, (_, i) => `hr-${i}`);
    for (const id of ids) await h.publish(job(id, 2));
    // Every job runs (its first AI call in flight), and its first events wait for their flush: the server goes down.
    await eventually(async () => h!.fake.stats.requests, (n) => n >= ids.length, 'every job to start');
    await h.server.kill();
    await new Promise((r) => setTimeout(r, 1_500));
    await h.server.restart();
    const lasts = await h.waitForLasts(ids.length, 90_000);
    expect(lasts).toHaveLength(ids.length);
    for (const id of ids) {
      const events = await eventually(() => history(id), (e) => e.some((x) => x.type === 'last_stored'), `the .last of ${id} in its history`, 60_000);
      const first = events.filter((e) => e.deliveries === 1).map((e) => e.type);
      // Its first delivery's events, each once (a copy stored twice is read once).
      expect({ id, delivered: first.filter((t) => t === 'delivered').length, started: first.filter((t) => t === 'started').length }).toEqual({ id, delivered: 1, started: 1 });
      expect(events.filter((e) => e.type === 'last_stored')).toHaveLength(1);
    }
  }, 180_000);

  it('a worker killed a few seconds after the server is back has lost none of what it sent while the server was down', async () => {
    // Long AI calls: the jobs still run when the server goes and when the worker is killed.
    h = await Harness.start(undefined, { latencyMs: 8_000 });
    const w = await h.worker({ RUNNER_CONCURRENCY: '8', RUNNER_ACK_WAIT_MS: '6000' });
    const ids = Array.from({ length: 6 }, (_, i) => `hk-${i}`);
    for (const id of ids) await h.publish(job(id, 1));
    await eventually(async () => h!.fake.stats.requests, (n) => n >= ids.length, 'every job to start');
    // Down before the first events' flush (HISTORY_FLUSH_MS): they are sent while it is down.
    await h.server.kill();
    await new Promise((r) => setTimeout(r, 3_000));
    await h.server.restart();
    await eventually(async () => w.logs('NATS reconnect'), (l) => l.length > 0, 'the worker to reconnect', 30_000);
    await new Promise((r) => setTimeout(r, 3_000));
    w.kill('SIGKILL');
    await h.worker({ RUNNER_CONCURRENCY: '8', RUNNER_ACK_WAIT_MS: '6000' });
    expect(await h.waitForLasts(ids.length, 120_000)).toHaveLength(ids.length);
    // The killed worker's delivery and start of every job, each once (the server, killed too, may
    // count the next delivery as the first again: the events are told apart by their worker).
    const killed = String(w.logs('worker started')[0]?.worker_id);
    for (const id of ids) {
      const events = await eventually(() => history(id), (e) => e.some((x) => x.type === 'last_stored'), `the .last of ${id} in its history`, 60_000);
      const mine = events.filter((e) => e.worker_id === killed).map((e) => e.type);
      expect({ id, delivered: mine.filter((t) => t === 'delivered').length, started: mine.filter((t) => t === 'started').length }).toEqual({ id, delivered: 1, started: 1 });
    }
  }, 240_000);
});
