/**
 * A job's history complete and in causal order, through the real worker: a rejected or cancelled
 * job's `.last` is in it; a delivery held (paused, beyond a lowered concurrency, draining, shutting
 * down) shows from its arrival with its hold, then its start or its hand-back; operators' actions
 * are stamped before what they cause; a redelivery after a SIGKILL names the tasks it took from
 * checkpoints, so every task is accounted for.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import type { HistoryEvent } from '../../src/status/history.ts';
import { inProcessWorker, type InProcessWorker } from '../helpers/in-process.ts';
import { ROOT } from '../helpers/paths.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';

const cli = async (h: Harness, ...argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...argv, '--server', h.server.url], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
};
/** The timeline as `altlas history` prints it, without the times. */
const lines = async (h: Harness, id: string) => (await cli(h, 'history', id)).out.split('\n').map((l) => l.replace(/^\S+ {2}/, ''));
/** A job's events as `altlas history --json` gives them (`id` `--fleet`: the fleet's). */
const events = async (h: Harness, id: string): Promise<HistoryEvent[]> => {
  const r = await cli(h, 'history', id, '--json');
  return r.code === 0 ? r.out.split('\n').map((l) => JSON.parse(l) as HistoryEvent) : [];
};
const at = (e: { at?: unknown; timestamp?: unknown } | undefined) => Date.parse(String(e?.at ?? e?.timestamp));

describe('a job\'s history on one worker: rejected, held while paused, replayed', () => {
  let h: Harness;
  let w: InProcessWorker;
  /** The worker's id, as its run lines name it. */
  const wid = () => String(w.logs('run started')[0]?.worker_id);
  beforeAll(async () => {
    h = await Harness.start(undefined, { latencyRules: [{ match: 'slow-step', ms: 6_000 }] });
    // One slot, and a pull request that stays open 15 s: a job published just after a pause is delivered to it and held.
    w = await inProcessWorker(h, { RUNNER_CONCURRENCY: '1', HISTORY_FLUSH_MS: '20', RUNNER_STATUS_FLUSH_MS: '20' }, { pullExpiresMs: 15_000 });
  }, 180_000);
  afterAll(async () => {
    await w?.close();
    await h?.close();
  });

  it('a rejected job: delivered, its failure .last stored, dead-lettered', async () => {
    const seq = await h.publish(readFileSync(join(ROOT, 'samples', 'invalid-cycle.alt.json')));
    const [{ last }] = await h.waitForLasts(1);
    expect(last).toMatchObject({ alt_file_id: 'invalid-cycle-example', status: 'failure' });
    const timeline = await eventually(() => lines(h, 'invalid-cycle-example'), (l) => l.some((x) => x.startsWith('dead-lettered')), 'the dead letter in the history');
    expect(timeline).toEqual([
      `delivered (delivery 1, message ${seq}) to ${wid()}`,
      `.last stored (failure) on ${wid()} (ALT_CYCLE)`,
      `dead-lettered (ALT_CYCLE) on ${wid()}`,
    ]);
  }, 120_000);

  it('the history goes on a connection of its own, not between the worker\'s .last publishes, acks and pulls', async () => {
    const subjects: string[] = [];
    const publish = w.nc.publish.bind(w.nc);
    w.nc.publish = (subject, ...rest) => {
      subjects.push(subject);
      publish(subject, ...rest);
    };
    try {
      await h.publish(job('own-connection', 1));
      await eventually(() => lines(h, 'own-connection'), (l) => l.some((x) => x.startsWith('.last stored')), 'the job\'s history');
    } finally {
      w.nc.publish = publish;
    }
    // The worker's own connection sent the job's .last; its history went on the other.
    expect(subjects.some((s) => s.startsWith('last.'))).toBe(true);
    expect(subjects.filter((s) => s.startsWith('history.'))).toEqual([]);
  }, 120_000);

  it('a delivery held while paused shows at once with its hold, starts after the resume; the resume is stamped before the workers act', async () => {
    // The rejected job's slot freed: the worker asked for work again (a request open 15 s).
    await eventually(async () => w.stack.worker.state.inFlight, (n) => n === 0, 'the slot free');
    expect((await cli(h, 'pause')).code).toBe(0);
    await eventually(async () => w.logs('intake paused: no new work is taken'), (l) => l.length > 0, 'the worker paused');
    const seq = await h.publish(job('held-1', 2));
    await eventually(async () => w.logs('a delivery arrived while paused: held until the intake resumes'), (l) => l.length > 0, 'the delivery held');
    // During the hold: the history has it, delivered with its hold, and nothing started.
    const during = await eventually(() => lines(h, 'held-1'), (l) => l.length > 0 && l[0] !== '', 'the held delivery in the history');
    expect(during).toEqual([`delivered (delivery 1, message ${seq}) to ${wid()}, held: paused`]);

    expect((await cli(h, 'resume')).code).toBe(0);
    await eventually(async () => (await h.lasts()).filter((l) => l.last.alt_file_id === 'held-1'), (l) => l.length === 1, 'held-1 run after the resume');
    const hist = await eventually(() => events(h, 'held-1'), (e) => e.some((x) => x.type === 'last_stored'), 'the .last in the history');
    expect(hist.map((e) => e.type)).toEqual(['delivered', 'started', 'task_finished', 'task_finished', 'last_stored']);
    const unpaused = (await events(h, '--fleet')).find((e) => e.type === 'unpaused');
    // The hold shows: delivered before the resume, started after it.
    expect(at(hist[0])).toBeLessThanOrEqual(at(unpaused));
    expect(at(hist[1])).toBeGreaterThanOrEqual(at(unpaused));
    // The resume is stamped before the worker acted on it (its log line), as the pause before its own.
    expect(at(unpaused)).toBeLessThanOrEqual(at(w.logs('intake resumed')[0]));
  }, 120_000);

  it('a replay is stamped before its message is delivered, and printed before it (three replays)', async () => {
    const dir = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'hist-replay-'));
    try {
      writeFileSync(join(dir, 'held-1.alt.json'), job('held-1', 2));
      for (let i = 1; i <= 3; i++) {
        const r = await cli(h, 'replay', 'held-1', '--from', 't2', '--alt', join(dir, 'held-1.alt.json'), '--json');
        expect(r).toMatchObject({ code: 0, err: '' });
        const seq = (JSON.parse(r.out) as { seq: number }).seq;
        const hist = await eventually(() => events(h, 'held-1'), (e) => e.filter((x) => x.type === 'last_stored').length === i + 1, 'the replay\'s .last in the history');
        const replayed = hist.find((e) => e.type === 'replayed' && e.detail?.seq === seq)!;
        const delivered = hist.find((e) => e.type === 'delivered' && e.alt_stream_seq === seq)!;
        // Cause before effect: the operator's action, then the worker's delivery of the message it published.
        expect({ replay: i, replayedAfterDelivered: at(replayed) > at(delivered) }).toEqual({ replay: i, replayedAfterDelivered: false });
        expect(hist.indexOf(replayed)).toBeLessThan(hist.indexOf(delivered));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('a delivery held beyond a lowered concurrency shows at once with its hold, and starts when the slot frees', async () => {
    const lastOf = async (id: string) => (await h.lasts()).filter((l) => l.last.alt_file_id === id);
    expect((await cli(h, 'workers', 'set', wid(), '--concurrency', '2')).code).toBe(0);
    await eventually(async () => w.stack.worker.concurrency, (n) => n === 2, 'two slots');
    await h.publish(job('slow-1', 1, 'slow-step'));
    // The slow job holds one slot; the other slot's request is open when the concurrency is lowered.
    await eventually(async () => w.stack.worker.state.inFlight, (n) => n === 1, 'the slow job running');
    expect((await cli(h, 'workers', 'set', wid(), '--concurrency', '1')).code).toBe(0);
    await eventually(async () => w.stack.worker.concurrency, (n) => n === 1, 'one slot');
    const seq = await h.publish(job('held-2', 1));
    await eventually(async () => w.logs('a delivery arrived beyond the concurrency: held until a slot frees'), (l) => l.length > 0, 'the delivery held');
    const during = await eventually(() => lines(h, 'held-2'), (l) => l[0] !== '', 'the held delivery in the history');
    expect(during).toEqual([`delivered (delivery 1, message ${seq}) to ${wid()}, held: concurrency`]);
    expect(await lastOf('slow-1')).toEqual([]);
    await eventually(() => lastOf('held-2'), (l) => l.length === 1, 'held-2 run once the slot freed');
    const slow = await eventually(() => events(h, 'slow-1'), (e) => e.some((x) => x.type === 'last_stored'), 'the slow job\'s .last in the history');
    const held = await eventually(() => events(h, 'held-2'), (e) => e.some((x) => x.type === 'last_stored'), 'held-2\'s .last in the history');
    expect(held.map((e) => e.type)).toEqual(['delivered', 'started', 'task_finished', 'last_stored']);
    expect(at(held[1])).toBeGreaterThanOrEqual(at(slow.find((e) => e.type === 'last_stored')));
    // Each change is stamped before the worker applied it, and read in that order.
    const fleet = await events(h, '--fleet');
    for (const n of [2, 1]) {
      const asked = fleet.findIndex((e) => e.type === 'concurrency_set' && !e.worker_id && e.detail?.concurrency === n);
      const applied = fleet.findIndex((e) => e.type === 'concurrency_set' && e.worker_id && e.detail?.concurrency === n);
      expect({ n, asked: asked >= 0, applied: applied >= 0, before: asked < applied, at: at(fleet[asked]) <= at(fleet[applied]) }).toEqual({ n, asked: true, applied: true, before: true, at: true });
    }
  }, 120_000);

  it('a job cancelled before it started: its cancelled .last is in its history, after the request', async () => {
    await eventually(async () => w.stack.worker.state.inFlight, (n) => n === 0, 'the slot free');
    expect((await cli(h, 'pause')).code).toBe(0);
    await eventually(async () => w.logs('intake paused: no new work is taken'), (l) => l.length > 1, 'the worker paused again');
    await h.publish(job('cancel-1', 2));
    expect((await cli(h, 'cancel', 'cancel-1')).code).toBe(0);
    expect((await cli(h, 'resume')).code).toBe(0);
    const timeline = await eventually(() => lines(h, 'cancel-1'), (l) => l.some((x) => x.startsWith('.last stored')), 'the cancelled .last in the history');
    // Held or not (a request of the worker may have been open at the pause), no task ran.
    expect(timeline.filter((l) => !l.startsWith('delivered'))).toEqual([
      expect.stringMatching(/^cancel requested by /),
      `.last stored (failure) on ${wid()} (JOB_CANCELLED)`,
    ]);
  }, 120_000);

  it('a delivery that arrives while the worker drains is held, and handed back unrun when it exits: the history says both', async () => {
    // held-2's slot freed: the worker asked for work again.
    await eventually(async () => w.stack.worker.state.inFlight, (n) => n === 0, 'the slot free');
    expect((await cli(h, 'drain', wid())).code).toBe(0);
    await eventually(async () => w.logs('drained: nothing runs here any more; stopping'), (l) => l.length > 0, 'the worker drained');
    const seq = await h.publish(job('held-3', 1));
    await eventually(async () => w.logs('a delivery arrived while draining: it is handed back'), (l) => l.length > 0, 'the delivery held');
    const during = await eventually(() => lines(h, 'held-3'), (l) => l[0] !== '', 'the held delivery in the history');
    expect(during).toEqual([`delivered (delivery 1, message ${seq}) to ${wid()}, held: draining`]);
    await w.close();
    const timeline = await eventually(() => lines(h, 'held-3'), (l) => l.length === 2, 'the hand-back in the history');
    expect(timeline).toEqual([`delivered (delivery 1, message ${seq}) to ${wid()}, held: draining`, `handed back on ${wid()} (JOB_ABORTED)`]);
  }, 120_000);
});

describe('a worker killed, a worker shutting down', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.start(undefined, { latencyMs: 300 });
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });

  it('after a SIGKILL the redelivery names the tasks it took from checkpoints: with what it ran, every task is accounted for', async () => {
    const env = { RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_ACK_WAIT_MS: '2000', HISTORY_FLUSH_MS: '1', RUNNER_TASK_CONCURRENCY: '1' };
    const first = await h.worker(env);
    await h.publish(job('kill-1', 4));
    // The first task is completed and checkpointed on the first worker, then it dies mid-job.
    await eventually(() => events(h, 'kill-1'), (e) => e.some((x) => x.type === 'checkpointed'), 'a checkpoint in the history');
    first.kill('SIGKILL');
    await first.exited;
    await h.worker(env);
    const [{ last }] = await h.waitForLasts(1, 60_000);
    expect(last.status).toBe('success');
    const hist = await eventually(() => events(h, 'kill-1'), (e) => e.some((x) => x.type === 'last_stored'), 'the .last in the history');
    const final = hist.find((e) => e.type === 'last_stored')!.deliveries!;
    expect(final).toBeGreaterThan(1);
    const started = hist.find((e) => e.type === 'started' && e.deliveries === final)!;
    const fromCheckpoints = (started.detail?.from_checkpoints ?? []) as string[];
    expect(fromCheckpoints.length).toBeGreaterThan(0);
    const ranThen = hist.filter((e) => e.type === 'task_finished' && e.deliveries === final).map((e) => e.task_id);
    // Each task once: taken from a checkpoint, or run by the last delivery.
    expect([...fromCheckpoints, ...ranThen].sort()).toEqual(['t1', 't2', 't3', 't4']);
    const printed = await lines(h, 'kill-1');
    expect(printed).toContain(`started on ${started.worker_id} (4 tasks; ${fromCheckpoints.length} from checkpoints: ${fromCheckpoints.join(', ')})`);
  }, 180_000);

  it('a delivery that arrives while a worker shuts down is held and handed back: the history says both', async () => {
    for (const p of h.workers) p.kill('SIGTERM');
    await Promise.all(h.workers.map((p) => p.exited));
    // One slot and a request open 15 s: the job published once the shutdown began is delivered to it.
    const w = await inProcessWorker(h, { RUNNER_CONCURRENCY: '1', RUNNER_ACK_WAIT_MS: '2000', HISTORY_FLUSH_MS: '20' }, { pullExpiresMs: 15_000 });
    await eventually(async () => w.stack.worker.pullRequests, (n) => n > 0, 'a pull request open');
    const closing = w.close();
    const seq = await h.publish(job('stop-1', 1));
    await closing;
    const timeline = await eventually(() => lines(h, 'stop-1'), (l) => l.length === 2, 'the hand-back in the history');
    expect(timeline).toEqual([expect.stringMatching(new RegExp(`^delivered \\(delivery 1, message ${seq}\\) to \\S+, held: stopping$`)), expect.stringMatching(/^handed back on \S+ \(JOB_ABORTED\)$/)]);
  }, 120_000);
});
