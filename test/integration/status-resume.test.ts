import { afterEach, describe, expect, it } from '@jest/globals';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { CheckpointStore } from '../../src/status/checkpoints.ts';
import { jetstreamManager } from '@nats-io/jetstream';
import { statusKey, type StatusEntry } from '../../src/status/status.ts';
import type { TaskResult } from '../../src/engine/types.ts';
import { main } from '../../src/cli/main.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function watchStatus(harness: Harness, altId: string): Promise<{ entries: StatusEntry[]; times: number[]; stop: () => void }> {
  const kv = await new Kvm(harness.nc).create('ALT_RUNS');
  const entries: StatusEntry[] = [];
  const times: number[] = [];
  const w = await kv.watch({ key: statusKey(altId) });
  void (async () => {
    for await (const u of w) {
      if (u.operation !== 'PUT') continue;
      entries.push(u.json<StatusEntry>());
      times.push(Date.now());
    }
  })();
  return { entries, times, stop: () => w.stop() };
}

describe('job status and resume', () => {
  it('resumes a SIGKILLed job from its checkpoints: no second AI request for completed tasks, one .last', async () => {
    h = await Harness.start();
    h.fake.setFaults({ latencyMs: 600 });
    // A budget of 0 writes each completed task at once (the budget's own bound is tested below).
    const env = { RUNNER_ACK_WAIT_MS: '2000', RUNNER_STATUS_FLUSH_MS: '50', RUNNER_CHECKPOINT_BUDGET_MS: '0' };
    const first = await h.worker(env);
    const status = await watchStatus(h, 'resume-me');
    await h.publish(job('resume-me', 5));
    await eventually(async () => status.entries.at(-1), (e) => ['t1', 't2', 't3'].every((t) => e?.tasks[t]?.state === 'completed'), 'tasks 1-3 completed in the status bucket', 30_000);
    first.kill('SIGKILL');
    await first.exited;

    // What the first run stored, read from the checkpoint bucket before the job is resumed.
    const kvm = new Kvm(h.nc);
    const cp = new CheckpointStore({ kv: await kvm.open('ALT_CHECKPOINTS'), bucket: 'ALT_CHECKPOINTS', obj: await new Objm(h.nc).open('ALT_OUTPUTS'), objBucket: 'ALT_OUTPUTS', jsm: await jetstreamManager(h.nc), maxValue: 262_144 });
    const firstRun = (await cp.load('ALT', 1)).results;
    expect([...firstRun.keys()].sort()).toEqual(expect.arrayContaining(['t1', 't2', 't3']));
    h.fake.setFaults({ latencyMs: 50 });
    await h.worker(env);
    const [{ last }] = await h.waitForLasts(1, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(await h.lasts()).toHaveLength(1);
    expect(last.status).toBe('success');
    for (const t of ['t1', 't2', 't3']) {
      const prompts = h.fake.stats.prompts.filter((p) => p.endsWith(`Task:\nstep ${t.slice(1)} of resume-me`));
      expect({ t, requests: prompts.length }).toEqual({ t, requests: 1 });
      const before = firstRun.get(t)!;
      expect(last.task_results[t]).toMatchObject({ status: 'completed', start_time: before.start_time, end_time: before.end_time, duration_ms: before.duration_ms, output: before.output });
      expect(last.task_results[t].metadata.resumed).toBe(true);
    }
    expect((last.metadata.resumed_tasks as string[]).sort()).toEqual([...firstRun.keys()].sort());
    expect(last.metadata.deliveries).toBe(2);
    // Checkpoints of a finished job are removed.
    await eventually(() => cp.load('ALT', 1), (m) => m.results.size === 0, 'the checkpoints to be removed');
    status.stop();
  });

  it('re-pays at most RUNNER_CHECKPOINT_BUDGET_MS of completed AI work after a crash', async () => {
    // Calls of 300 ms and a budget of 1,000 ms: completed results are written once they add up to more.
    h = await Harness.start(undefined, { latencyMs: 300, record: true });
    const budgetMs = 1_000;
    const env = { RUNNER_ACK_WAIT_MS: '2000', RUNNER_CHECKPOINT_BUDGET_MS: String(budgetMs) };
    const first = await h.worker(env);
    await h.publish(job('budgeted', 10));
    const answered = () => h!.fake.log.filter((r) => r.status === 200);
    await eventually(async () => answered().length, (n) => n >= 6, 'six calls answered', 30_000);
    first.kill('SIGKILL');
    await first.exited;
    const before = answered().map((r) => r.prompt);
    const killedAt = Date.now();
    h.fake.setFaults({ latencyMs: 20 });
    await h.worker(env);
    await h.waitForLasts(1, 30_000);
    // Completed calls asked again after the crash: their AI time is what the crash cost.
    const again = h.fake.log.filter((r) => r.start >= killedAt && before.includes(r.prompt));
    const repaidMs = again.length * 300;
    expect(repaidMs).toBeLessThanOrEqual(budgetMs);
    expect(before.length - again.length).toBeGreaterThanOrEqual(3);
  });

  it('writes a running job\'s entry after RUNNER_STATUS_FLUSH_MS, then its final state, equal to the .last', async () => {
    h = await Harness.start();
    h.fake.setFaults({ latencyMs: 100 });
    await h.worker({ RUNNER_STATUS_FLUSH_MS: '50' });
    const status = await watchStatus(h, 'watched');
    await h.publish(job('watched', 3));
    const [{ last }] = await h.waitForLasts(1);
    const entries = await eventually(async () => status.entries, (e) => e.at(-1)?.state === 'completed', 'the final status');
    const states = entries.map((e) => e.state).filter((s, i, all) => i === 0 || all[i - 1] !== s);
    expect(states).toEqual(['running', 'completed']);
    const final = entries.at(-1)!;
    expect(final.last_status).toBe(last.status);
    expect(Object.fromEntries(Object.entries(final.tasks).map(([id, t]) => [id, t.state]))).toEqual(Object.fromEntries(Object.entries(last.task_results).map(([id, r]) => [id, r.status])));
    expect(final).toMatchObject({ alt_id: 'watched', deliveries: 1, alt_stream: 'ALT', alt_stream_seq: 1 });
    status.stop();

    const out: string[] = [];
    const code = await main(['status', 'watched', '--server', h.server.url], { out: (l) => out.push(l), err: () => {} });
    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/^job watched: completed \(\.last success\)/m);
    expect(out.join('\n')).toMatch(/^t2 +completed +1 /m);
    const missing = await main(['status', 'nope', '--server', h.server.url], { out: () => {}, err: () => {} });
    expect(missing).toBe(1);
    // --watch prints the entry and returns once the job is finished.
    const watched: string[] = [];
    expect(await main(['status', 'watched', '--watch', '--json', '--server', h.server.url], { out: (l) => watched.push(l), err: () => {} })).toBe(0);
    expect(JSON.parse(watched.at(-1)!)).toMatchObject({ alt_id: 'watched', state: 'completed', last_status: 'success' });
  });

  it('keeps the status writes of a 1,000-task job under the documented bound', async () => {
    // The .last of 1,000 tasks with their usage is about 1.05 MB: past the default max payload, it would become LAST_TOO_LARGE.
    h = await Harness.start({ config: 'max_payload: 2MB' });
    const flushMs = 500;
    await h.worker({ RUNNER_STATUS_FLUSH_MS: String(flushMs), RUNNER_TASK_CONCURRENCY: '16', AI_MAX_CONCURRENCY: '16' });
    const status = await watchStatus(h, 'big');
    const tasks = Array.from({ length: 1000 }, (_, i) => ({ id: `t${i}`, description: `tiny ${i}`, dependencies: i >= 10 ? [`t${i % 10}`] : [] }));
    await h.publish(JSON.stringify({ id: 'big', version: '1.0', created_at: '2025-01-01T00:00:00Z', title: 'big', tasks }));
    await h.waitForLasts(1, 60_000);
    await eventually(async () => status.entries, (e) => e.at(-1)?.state === 'completed', 'the final status');
    const { times } = status;
    // Bound: one coalesced write per flush interval, plus the state changes (pending, running, final): 2 + 3 per second here.
    const bound = 1000 / flushMs + 3;
    let worst = 0;
    for (let i = 0; i < times.length; i++) worst = Math.max(worst, times.filter((t) => t >= times[i] && t < times[i] + 1000).length);
    expect(worst).toBeLessThanOrEqual(bound);
    expect(times.length).toBeLessThan(100);
    expect(Object.values(status.entries.at(-1)!.tasks).every((t) => t.state === 'completed')).toBe(true);
    status.stop();
  });

  it('round-trips a 2 MiB output through the object store, and removes everything of a message (without a consumer)', async () => {
    h = await Harness.start();
    const kvm = new Kvm(h.nc);
    const objects = await new Objm(h.nc).create('CP_OBJ');
    const cp = new CheckpointStore({ kv: await kvm.create('CP_TEST', { maxValueSize: 65_536 }), bucket: 'CP_TEST', obj: objects, objBucket: 'CP_OBJ', jsm: await jetstreamManager(h.nc), maxValue: 65_536 });
    const text = 'ğ'.repeat(1024 * 1024); // 2 MiB of UTF-8
    const result: TaskResult = { task_id: 'huge', status: 'completed', start_time: '2025-01-01T00:00:00.000Z', end_time: '2025-01-01T00:00:01.000Z', duration_ms: 1000, output: { text, model_used: 'm', tokens_used: 5, processing_time_ms: 9 }, error: null, error_code: null, attempts: 1, metadata: {} };
    const small: TaskResult = { ...result, task_id: 'small', output: { ...result.output!, text: 'tiny' } };
    const names = await cp.saveBatch('ALT', 7, 1, 0, [result, small]);
    expect(names).toEqual(['cp/ALT.7/huge']);
    const stored = await (await kvm.open('CP_TEST')).get('ALT.7.c.1-0');
    expect(stored!.value.length).toBeLessThan(65_536);
    expect(await cp.claim('ALT', 7, 2, 'w')).toBe(true);
    expect(await cp.claim('ALT', 7, 2, 'w')).toBe(false);
    const loaded = await cp.load('ALT', 7);
    expect(loaded.results.get('huge')).toEqual(result);
    expect(loaded.results.get('small')).toEqual(small);
    // An output whose object is gone (expired, deleted): that task runs again; the others still resume.
    await objects.delete('cp/ALT.7/huge');
    const partial = await cp.load('ALT', 7);
    expect([...partial.results.keys()]).toEqual(['small']);
    await cp.clear('ALT', 7, loaded.objects);
    expect((await cp.load('ALT', 7)).results.size).toBe(0);
    expect(await cp.claimedBy('ALT', 7)).toBe(0);
    expect((await objects.info('cp/ALT.7/huge'))?.deleted ?? true).toBe(true);
    // Listing, reading and removing left no consumer behind (each would stay five minutes).
    const jsm = await jetstreamManager(h.nc);
    const left: string[] = [];
    for (const stream of ['KV_CP_TEST', 'OBJ_CP_OBJ']) for await (const c of jsm.consumers.list(stream)) left.push(`${stream}/${c.name}`);
    expect(left).toEqual([]);
  });
});
