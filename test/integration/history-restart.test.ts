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

/**
 * A worker running `n` jobs of `tasks` tasks (named `<prefix>-<i>`, each with its first AI call in
 * flight and its first events waiting for their flush), then the server down `downMs` and back.
 */
async function runThroughRestart(o: { latencyMs: number; ackWaitMs: number; prefix: string; n: number; tasks: number; downMs: number }) {
  h = await Harness.start(undefined, { latencyMs: o.latencyMs });
  const w = await h.worker({ RUNNER_CONCURRENCY: '8', RUNNER_ACK_WAIT_MS: String(o.ackWaitMs) });
  const ids = Array.from({ length: o.n }, (_, i) => `${o.prefix}-${i}`);
  for (const id of ids) await h.publish(job(id, o.tasks));
  await eventually(async () => h!.fake.stats.requests, (n) => n >= ids.length, 'every job to start');
  await h.server.kill();
  await new Promise((r) => setTimeout(r, o.downMs));
  await h.server.restart();
  return { w, ids };
}

describe('job history across a nats-server restart', () => {
  it('keeps every job\'s delivery, start and .last: the worker sends again what the server did not confirm', async () => {
    // Every job runs (its first AI call in flight), and its first events wait for their flush: the server goes down.
    const { ids } = await runThroughRestart({ latencyMs: 400, ackWaitMs: 30_000, prefix: 'hr', n: 8, tasks: 2, downMs: 1_500 });
    const lasts = await h!.waitForLasts(ids.length, 90_000);
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
    // Long AI calls: the jobs still run when the server goes and when the worker is killed. Down before
    // the first events' flush (HISTORY_FLUSH_MS): they are sent while it is down.
    const { w, ids } = await runThroughRestart({ latencyMs: 8_000, ackWaitMs: 6_000, prefix: 'hk', n: 6, tasks: 1, downMs: 3_000 });
    const h1 = h!;
    await eventually(async () => w.logs('NATS reconnect'), (l) => l.length > 0, 'the worker to reconnect', 30_000);
    await new Promise((r) => setTimeout(r, 3_000));
    w.kill('SIGKILL');
    await h1.worker({ RUNNER_CONCURRENCY: '8', RUNNER_ACK_WAIT_MS: '6000' });
    expect(await h1.waitForLasts(ids.length, 120_000)).toHaveLength(ids.length);
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
