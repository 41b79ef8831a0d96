/**
 * Each job runs once under repeated pauses of a real worker process (SIGSTOP longer than the ack
 * wait, then SIGCONT, in cycles): no job is dead-lettered because of the worker's own stalls, no
 * job takes more than two deliveries, no two runs of a message overlap. Asserted from records:
 * the `.last`s, the DLQ, the worker's `run started` / `run ended` lines.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { overlaps, runsOf } from '../helpers/runs.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

type Line = Record<string, unknown>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a worker paused again and again', () => {
  it('dead-letters nothing, takes at most two deliveries per job and never runs a job twice at once (6 × SIGSTOP past the ack wait)', async () => {
    h = await Harness.start(undefined, { latencyMs: 100, latencyJitterMs: 200 });
    const jobs = 120;
    const w = await h.worker({ RUNNER_ACK_WAIT_MS: '2000', RUNNER_CONCURRENCY: '8', RUNNER_MAX_DELIVER: '3', RUNNER_NAK_DELAY_MS: '100', RUNNER_CHECKPOINT_BUDGET_MS: '0' });
    for (let i = 0; i < jobs; i++) await h.publish(job(`paused-${i}`, 3));
    await eventually(async () => h!.fake.stats.requests, (n) => n >= 20, 'the worker at work');
    let extra = 0;
    for (let cycle = 0; cycle < 6; cycle++) {
      w.kill('SIGSTOP');
      // Jobs published while the worker is stopped: the server may hand them to its open requests, so
      // they wait through the stall in its socket buffer.
      for (let i = 0; i < 5; i++) await h.publish(job(`during-${cycle}-${i}`, 3));
      extra += 5;
      await sleep(2_500);
      w.kill('SIGCONT');
      await sleep(2_000);
    }
    const total = jobs + extra;
    const done = await eventually(async () => ({ lasts: await h!.lasts(), dlq: await h!.records('ALT_DLQ') }), (r) => r.lasts.length + r.dlq.length >= total, `${total} .last results`, 120_000).catch(async (e: Error) => {
      const counts = new Map<string, number>();
      for (const raw of w.lines) {
        try {
          const m = String((JSON.parse(raw) as Line).message);
          counts.set(m, (counts.get(m) ?? 0) + 1);
        } catch {
          counts.set('(not json)', (counts.get('(not json)') ?? 0) + 1);
        }
      }
      throw new Error(`${e.message.slice(0, 80)}\n${JSON.stringify({ lasts: (await h!.lasts()).length, consumer: await h!.consumer(), lines: Object.fromEntries(counts) }, null, 1)}\n${w.lines.slice(-15).join('\n')}`);
    });
    const runs = runsOf([w]);
    const maxDeliveries = Math.max(...runs.map((r) => r.deliveries));
    const perJob = new Map<string, number>();
    for (const { last } of done.lasts) perJob.set(last.alt_file_id, Number(last.metadata.deliveries));
    const stalled = w.logs('a delivery was read right after the worker stalled: its lease is renewed and it is checked like a redelivery').length;
    const lostBeforeRun = w.logs('a delivery that waited through a stall of the worker lost its lease before it ran: handed back').length
      + w.logs('a delivery that waited through a stall of the worker lost its lease before it ran: released, JetStream redelivers it').length;
    const lost = w.logs('lease lost: the job stops here without publishing; JetStream hands it to another delivery').length;
    // The figures of the run, for the report.
    process.stdout.write(`${JSON.stringify({ scenario: '6 x SIGSTOP 2.5 s / 2 s running, ack wait 2 s', jobs: total, lasts: done.lasts.length, dlq: done.dlq.length, max_deliveries: maxDeliveries, redelivered_jobs: [...perJob.values()].filter((n) => n > 1).length, runs: runs.length, overlapping: overlaps(runs).length, stalled_reads: stalled, lost_before_run: lostBeforeRun, leases_lost: lost })}\n`);
    expect(done.dlq.map((r) => r.subject)).toEqual([]);
    expect(done.lasts).toHaveLength(total);
    expect(new Set(done.lasts.map(({ last }) => last.alt_file_id)).size).toBe(total);
    expect(done.lasts.every(({ last }) => last.status === 'success')).toBe(true);
    expect([...perJob.entries()].filter(([, n]) => n > 2)).toEqual([]);
    expect(runs.filter((r) => r.deliveries > 2)).toEqual([]);
    expect(overlaps(runs)).toEqual([]);
    // The pauses did hit the worker mid-work.
    expect(lost + stalled + lostBeforeRun).toBeGreaterThan(0);
  }, 240_000);

  it('runs a delivery that waited through a short stall at once under a renewed lease, and releases one whose lease ran out in the stall to its redelivery', async () => {
    h = await Harness.start(undefined, { latencyMs: 100 });
    const w = await h.worker({ RUNNER_ACK_WAIT_MS: '2000', RUNNER_CONCURRENCY: '8' });
    await h.publish(job('warm', 1));
    await h.waitForLasts(1);
    // Stopped while idle, its pull request open: the server hands it the jobs published meanwhile.
    const pause = async (ms: number, prefix: string) => {
      await sleep(700);
      w.kill('SIGSTOP');
      for (let i = 0; i < 3; i++) await h!.publish(job(`${prefix}-${i}`, 1));
      await sleep(ms);
      w.kill('SIGCONT');
    };
    await pause(1_000, 'short');
    await h.waitForLasts(4, 20_000);
    await pause(2_500, 'long');
    const lasts = await h.waitForLasts(7, 20_000);
    const deliveries = Object.fromEntries(lasts.map(({ last }) => [last.alt_file_id, last.metadata.deliveries]));
    // Short: its lease (from the stall's start) still held; it ran on its first delivery.
    expect(w.logs('a delivery was read right after the worker stalled: its lease is renewed and it is checked like a redelivery').length).toBeGreaterThanOrEqual(1);
    // Long: released without anything sent, run once on the redelivery.
    const released = w.logs('a delivery that waited through a stall of the worker lost its lease before it ran: released, JetStream redelivers it');
    expect(released.length).toBeGreaterThanOrEqual(1);
    for (const l of released) expect(l).toMatchObject({ code: 'LEASE_LOST', deliveries: 1 });
    expect(Object.values(deliveries).every((n) => Number(n) <= 2)).toBe(true);
    expect(new Set(lasts.map(({ last }) => last.alt_file_id)).size).toBe(7);
    expect(await h.records('ALT_DLQ')).toEqual([]);
    expect(overlaps(runsOf([w]))).toEqual([]);
  }, 60_000);
});
