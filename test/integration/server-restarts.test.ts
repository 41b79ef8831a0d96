/**
 * Each job runs once while nats-server is killed (SIGKILL, no flush) and started again, several
 * times (five, down 3 s each) during one run of two workers: no two runs of a message overlap (counted from the
 * workers' `run started` / `run ended` lines, not only from AI calls), every job has one `.last`,
 * none is doubled and no worker saw its `.last` as a duplicate.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { overlaps, runsOf } from '../helpers/runs.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('nats-server killed and started again', () => {
  it('never runs a job twice at once, stores one .last per job and publishes no duplicate (5 server kills)', async () => {
    h = await Harness.start(undefined, { latencyMs: 100, latencyJitterMs: 200, record: true });
    const jobs = 300;
    const env = { RUNNER_ACK_WAIT_MS: '2000', RUNNER_CONCURRENCY: '8', RUNNER_NAK_DELAY_MS: '100', RUNNER_CHECKPOINT_BUDGET_MS: '0', LAST_DUPLICATE_WINDOW_MS: '1000' };
    const workers = [await h.worker(env), await h.worker(env)];
    for (let i = 0; i < jobs; i++) await h.publish(job(`restart-${i}`, 3));
    for (let kill = 0; kill < 5; kill++) {
      await sleep(2_500);
      await h.server.kill('SIGKILL');
      await sleep(3_000);
      await h.server.restart();
    }
    const lasts = await eventually(() => h!.lasts().catch(() => []), (l) => l.length >= jobs, `${jobs} .last results`, 150_000);
    await eventually(async () => h!.consumer(), (c) => c.num_ack_pending === 0 && c.num_pending === 0, 'the consumer to drain', 60_000);
    const runs = runsOf(workers);
    const both = overlaps(runs);
    const duplicates = workers.flatMap((w) => w.logs('the LAST stream already held this .last (a second run of one message)'));
    const lostLeases = workers.reduce((n, w) => n + w.logs('lease lost: the job stops here without publishing; JetStream hands it to another delivery').length, 0);
    const perJob = new Map<string, number>();
    for (const { last } of lasts) perJob.set(last.alt_file_id, (perJob.get(last.alt_file_id) ?? 0) + 1);
    // AI requests made for a job after its .last was written by the worker that finished it.
    const finishedAt = new Map<string, number>();
    for (const w of workers) for (const l of w.logs('job finished')) finishedAt.set(String(l.alt_id), Date.parse(String(l.timestamp)));
    const late = h.fake.log.filter((r) => {
      const id = /of (restart-\d+)$/.exec(r.prompt)?.[1];
      return id !== undefined && finishedAt.has(id) && r.start > finishedAt.get(id)!;
    });
    process.stdout.write(`${JSON.stringify({ scenario: '5 x nats-server SIGKILL, 3 s down; 2 workers, ack wait 2 s', jobs, lasts: lasts.length, doubled: [...perJob.values()].filter((n) => n > 1).length, runs: runs.length, overlapping: both.length, duplicate_lines: duplicates.length, leases_lost: lostLeases, ai_calls_after_last: late.length, dlq: (await h.records('ALT_DLQ')).length })}\n`);
    expect(both).toEqual([]);
    expect(perJob.size).toBe(jobs);
    expect([...perJob.entries()].filter(([, n]) => n > 1)).toEqual([]);
    expect(duplicates).toEqual([]);
    expect(late.map((r) => r.prompt)).toEqual([]);
    expect(await h.records('ALT_DLQ')).toEqual([]);
  }, 300_000);
});
