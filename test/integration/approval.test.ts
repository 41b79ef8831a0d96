/**
 * Approval tasks end to end, against real worker processes, a real nats-server and the fake AI's
 * own count of requests: a job parks at its approval task (message acked, slot free), survives
 * every worker and the server being killed, and resumes on a new worker at `altlas approve`
 * without repeating an AI call; the refusals; a timeout with no worker holding the job; and
 * 1,000 parked jobs holding no slot.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.ts';
import { Kvm } from '@nats-io/kv';
import { main } from '../../src/cli/main.ts';
import { decisionKey, readPark } from '../../src/approval/park.ts';
import { sweepParks } from '../../src/approval/sweep.ts';
import { jetstream } from '@nats-io/jetstream';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { bucketEntries } from '../../src/status/store-access.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';

let h: Harness | undefined;
const dashboards: ChildProcess[] = [];
afterEach(async () => {
  for (const d of dashboards.splice(0)) {
    d.kill('SIGTERM');
    if (d.exitCode === null) await new Promise((r) => d.once('exit', r));
  }
  await h?.close();
  h = undefined;
});

/** a → review (approval) → b, and c beside them. */
const reviewJob = (id: string, review: Record<string, unknown> = {}) => JSON.stringify({
  id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `job ${id}`,
  tasks: [
    { id: 'a', description: `draft of ${id}`, dependencies: [] },
    { id: 'review', description: `Is the draft of ${id} good to send?`, dependencies: ['a'], parameters: { task_type: 'approval', ...review } },
    { id: 'b', description: `send of ${id}`, dependencies: ['review'] },
    { id: 'c', description: `side of ${id}`, dependencies: [] },
  ],
});

const cli = async (...args: string[]) => {
  const out: string[] = [];
  const code = await main([...args, '--server', h!.server.url], { out: (l) => out.push(l), err: (l) => out.push(l) });
  return { code, out: out.join('\n') };
};
const parked = async (id: string) => readPark(await new Kvm(h!.nc).open('ALT_RUNS'), id);
/** Inference requests the fake AI received for a job's prompts (a repeated call counts twice). */
const aiCalls = (id: string) => h!.fake.stats.prompts.filter((p) => p.includes(` of ${id}`));

describe('approval tasks', () => {
  it('park, survive every worker and the server killed, resume on approve: one .last, no AI call repeated', async () => {
    h = await Harness.start();
    const first = await h.worker();
    await h.publish(reviewJob('ap-1'));
    const found = await eventually(() => parked('ap-1'), (p) => p !== null, 'the job to park');
    expect(found!.park).toMatchObject({ task: 'review', question: 'Is the draft of ap-1 good to send?' });
    // Its message is settled and nothing runs.
    await eventually(() => h!.consumer(), (c) => c.num_ack_pending === 0 && c.num_pending === 0, 'the message acked');
    const status = await cli('status', 'ap-1');
    expect(status.out).toMatch(/job ap-1: waiting, JOB_PARKED: task review waits for a person: Is the draft of ap-1 good to send\?/);
    // The approval task and the one after it wait (pending), the others completed.
    expect(status.out).toMatch(/^review +pending /m);
    expect(status.out).toMatch(/^a +completed /m);
    expect((await cli('jobs', '--state', 'waiting')).out).toMatch(/ap-1 +waiting \(JOB_PARKED: task review waits for a person: Is the draft of ap-1 good to send\?\)/);
    expect(aiCalls('ap-1').sort()).toEqual([expect.stringContaining('draft of ap-1'), expect.stringContaining('side of ap-1')].sort());

    first.kill('SIGKILL');
    await first.exited;
    await h.server.kill();
    await h.server.restart();
    await h.worker();
    // A value that got under the decision's key another way (a JetStream API answer whose reply
    // subject named it, another job's decision copied there) decides nothing and blocks nobody.
    // The test's own connection may still be reconnecting to the restarted server, and a request
    // sent around a restart can go unanswered: its writes are tried again (a second put of the same
    // value changes nothing here), and a write that never gets through says what the server logged.
    const runs = await new Kvm(jetstream(h.nc)).open('ALT_RUNS');
    const put = async (value: string) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await runs.put(decisionKey('ap-1', 'review'), value, { timeout: 5_000 });
        } catch (e) {
          if (attempt === 6) throw new Error(`the test's KV write failed 6 times (${String(e)}); nats-server's last lines:\n${h!.server.log.slice(-30).join('\n')}`);
          console.log(`the test's KV write after the server restart failed (${String(e)}), attempt ${attempt}; connection closed: ${h!.nc.isClosed()}`);
        }
      }
    };
    await put(JSON.stringify({ type: 'io.nats.jetstream.api.v1.stream_info_response', total: 1 }));
    await put(JSON.stringify({ task: 'review', decision: 'rejected', comment: null, by: 'nats:someone', decided_at: new Date().toISOString(), alt_id: 'another-job' }));
    const approved = await cli('approve', 'ap-1', 'review', '--comment', 'ship it');
    expect(approved).toMatchObject({ code: 0 });
    const [{ last }] = await h.waitForLasts(1, 60_000);
    expect(last.status).toBe('success');
    expect(Object.fromEntries(Object.entries(last.task_results).map(([k, r]) => [k, r.status]))).toEqual({ a: 'completed', review: 'completed', b: 'completed', c: 'completed' });
    expect(JSON.parse(last.task_results.review.output!.text)).toMatchObject({ decision: 'approved', comment: 'ship it' });
    // Every AI task was asked once; b got the decision as context.
    const calls = aiCalls('ap-1');
    expect(calls).toHaveLength(3);
    expect(calls.find((p) => p.includes('send of ap-1'))).toContain('"comment":"ship it"');
    await new Promise((r) => setTimeout(r, 500));
    expect(await h.lasts()).toHaveLength(1);
    // The park is gone; a second decision is refused.
    await eventually(() => parked('ap-1'), (p) => p === null, 'the park removed');
    const again = await cli('approve', 'ap-1', 'review');
    expect(again.code).toBe(1);
    expect(again.out).toContain('APPROVAL_NOT_WAITING');
  }, 120_000);

  it('refuses a job not waiting, another task, a second decision and a decision after the timeout; reject cancels the dependents', async () => {
    h = await Harness.start();
    await h.worker({ RUNNER_APPROVAL_SWEEP_MS: '600000' });
    expect((await cli('approve', 'nobody', 'review')).out).toContain('APPROVAL_NOT_WAITING');
    // Secrets in its headers: the park record (which the reader role may read) keeps them masked.
    const stripe = `sk_live_${'4eC39HqLyjWDarjtT1zdp7dc'}`;
    await h.publish(reviewJob('ap-2'), { baggage: `user=alice,api_key=${stripe}`, 'X-Api-Key': 'hdr-secret-93f1c7', 'X-Note': `see ${stripe}` });
    await h.publish(reviewJob('ap-3', { approval_timeout_s: 1, on_timeout: 'approve' }));
    await eventually(async () => [await parked('ap-2'), await parked('ap-3')], (p) => p.every((x) => x !== null), 'both jobs to park');
    const record = JSON.stringify((await bucketEntries(h.jsm, 'ALT_RUNS', 'park.*')).map((e) => Buffer.from(e.value).toString()));
    expect({ stripe: record.includes(stripe), header: record.includes('hdr-secret-93f1c7') }).toEqual({ stripe: false, header: false });
    expect((await parked('ap-2'))!.park.body_bucket).toBe('ALT_BODIES');
    expect((await parked('ap-2'))!.park.headers).toEqual(expect.arrayContaining([['baggage', 'user=alice,api_key=[REDACTED]'], ['X-Api-Key', '[REDACTED]'], ['X-Note', 'see [REDACTED]']]));
    expect((await cli('approve', 'ap-2', 'b')).out).toContain('APPROVAL_NOT_WAITING');
    // Two decisions at once: one wins.
    const both = await Promise.all([cli('approve', 'ap-2', 'review', '--reject', '--comment', 'no'), cli('approve', 'ap-2', 'review', '--reject', '--comment', 'never')]);
    expect(both.map((r) => r.code).sort()).toEqual([0, 1]);
    expect(both.find((r) => r.code === 1)!.out).toContain('APPROVAL_DECIDED');
    await new Promise((r) => setTimeout(r, 1_100));
    const late = await cli('approve', 'ap-3', 'review');
    expect(late.code).toBe(1);
    expect(late.out).toContain('APPROVAL_TIMED_OUT');
    const [{ last }] = await h.waitForLasts(1, 60_000);
    expect(last.alt_file_id).toBe('ap-2');
    expect(last.task_results.review).toMatchObject({ status: 'failed', error: expect.stringMatching(/rejected by .*: (no|never)$/) });
    expect(last.task_results.review.metadata.error_code).toBe('APPROVAL_REJECTED');
    expect(last.task_results.b.status).toBe('cancelled');
    expect(last.task_results.c.status).toBe('completed');
    expect(aiCalls('ap-2')).toHaveLength(2);
  }, 120_000);

  it('a timeout fires with no worker holding the job (the sweep), by its on_timeout', async () => {
    h = await Harness.start();
    await h.worker({ RUNNER_APPROVAL_SWEEP_MS: '200' });
    await h.publish(reviewJob('ap-4', { approval_timeout_s: 1, on_timeout: 'fail' }));
    const [{ last }] = await h.waitForLasts(1, 60_000);
    expect(last.task_results.review.metadata.error_code).toBe('APPROVAL_TIMEOUT');
    expect(last.task_results.b.status).toBe('cancelled');
    expect(last.task_results.c.status).toBe('completed');
    expect(aiCalls('ap-4')).toHaveLength(2);
  }, 60_000);

  it('1,000 parked jobs hold no slot: another job runs at once on a worker with concurrency 1', async () => {
    h = await Harness.start();
    await h.worker({ RUNNER_CONCURRENCY: '1', RUNNER_APPROVAL_SWEEP_MS: '600000' });
    const n = 1_000;
    const one = (id: string) => JSON.stringify({ id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: id, tasks: [{ id: 'ok', description: `ok? ${id}`, dependencies: [], parameters: { task_type: 'approval' } }] });
    for (let i = 0; i < n; i++) await h.publish(one(`park-${i}`));
    await eventually(async () => (await bucketEntries(h!.jsm, 'ALT_RUNS', 'park.*')).filter((e) => e.operation === 'PUT').length, (c) => c === n, `${n} parked jobs`, 180_000);
    const c = await h.consumer();
    expect(c.num_ack_pending).toBe(0);
    const t0 = Date.now();
    await h.publish(job('runs-now', 1));
    const [{ last }] = await h.waitForLasts(1, 30_000);
    expect(last.alt_file_id).toBe('runs-now');
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await bucketEntries(h.jsm, 'ALT_RUNS', 'park.*')).filter((e) => e.operation === 'PUT')).toHaveLength(n);
  }, 300_000);

  it('the dashboard shows the job waiting with its question, and approves it with the token (once)', async () => {
    h = await Harness.start();
    await h.worker();
    const p = spawn(join(ROOT, 'bin', 'altlas'), ['dashboard', '--port', '0', '--server', h.server.url], { env: { ...process.env, DASHBOARD_TOKEN: 'tok-123456' }, stdio: ['ignore', 'pipe', 'pipe'] });
    dashboards.push(p);
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      p.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /dashboard on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      p.once('exit', (code) => reject(new Error(`dashboard exited ${code}: ${out}`)));
    });
    await h.publish(reviewJob('ap-5'));
    const entry = await eventually(async () => (await fetch(`${url}/api/jobs/ap-5`)).json() as Promise<{ job?: { state: string; error: { code: string; message: string } | null } }>, (r) => r.job?.state === 'waiting', 'the dashboard to show the job waiting');
    expect(entry.job!.error).toEqual({ code: 'JOB_PARKED', message: 'task review waits for a person: Is the draft of ap-5 good to send?' });
    const approve = (token: string) => fetch(`${url}/api/actions/approve`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ alt_id: 'ap-5', task: 'review', comment: 'fine' }) });
    expect((await approve('wrong-token')).status).toBe(401);
    const ok = await approve('tok-123456');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ decision: 'approved', comment: 'fine' });
    const second = await approve('tok-123456');
    expect(second.status).toBe(409);
    expect(JSON.stringify(await second.json())).toContain('APPROVAL_DECIDED');
    const [{ last }] = await h.waitForLasts(1, 60_000);
    expect(last.status).toBe('success');
    expect(aiCalls('ap-5')).toHaveLength(3);
  }, 60_000);

  it('a decision whose resume was never published is resumed by the sweep; a 2.0 job reads the decision as a variable', async () => {
    h = await Harness.start();
    await h.worker({ RUNNER_APPROVAL_SWEEP_MS: '600000' });
    const doc = {
      id: 'ap-6', version: '2.0', timestamp: '2025-05-02T11:00:00Z', command: 'c', language: 'en', mode: 'Normal', persona: 'p', chaos_level: null, global_variables: [], functions: [],
      segments: [
        { id: 'draft', task_type: 'create', content: 'draft of ap-6', parameters: [], dependencies: [], metadata: {} },
        { id: 'review', task_type: 'approval', content: 'Publish the draft of ap-6?', parameters: [], dependencies: ['draft'], metadata: {} },
        { id: 'send', task_type: 'create', content: 'send of ap-6 because ${review.decision}: ${review.comment}', parameters: [], dependencies: ['review'], metadata: {} },
      ],
    };
    await h.publish(JSON.stringify(doc));
    await eventually(() => parked('ap-6'), (p) => p !== null, 'the job to park');
    // The decision is written, as a command that stopped before its publish leaves it.
    const kv = await new Kvm(h.nc).open('ALT_RUNS');
    await kv.create(decisionKey('ap-6', 'review'), new TextEncoder().encode(JSON.stringify({ task: 'review', decision: 'approved', comment: 'go ahead', by: 'someone', decided_at: new Date(Date.now() - 1000).toISOString() })));
    const resumed = await sweepParks({ kv, jsm: h.jsm, js: jetstream(h.nc), statusBucket: 'ALT_RUNS', objBucket: 'ALT_OUTPUTS', logger: silentLogger(), graceMs: 0 });
    expect(resumed).toBe(1);
    const [{ last }] = await h.waitForLasts(1, 60_000);
    expect(last.status).toBe('success');
    expect(aiCalls('ap-6').find((p) => p.includes('send of ap-6'))).toContain('send of ap-6 because approved: go ahead');
    expect(aiCalls('ap-6')).toHaveLength(2);
  }, 60_000);

  it('altlas cancel of a parked job: the sweep resumes it undecided and it ends cancelled, its park removed; a job parked after a cancel of its id stays parked', async () => {
    h = await Harness.start();
    await h.worker({ RUNNER_APPROVAL_SWEEP_MS: '200' });
    // ap-9 is cancelled before it is published: its park is no park the cancel was meant for.
    expect((await cli('cancel', 'ap-9')).code).toBe(0);
    const ap9 = await h.publish(reviewJob('ap-9'));
    await h.publish(reviewJob('ap-7'));
    await eventually(async () => [await parked('ap-7'), await parked('ap-9')], (p) => p.every((x) => x !== null), 'the jobs to park');
    const asked = aiCalls('ap-9').length;
    expect((await cli('cancel', 'ap-7')).code).toBe(0);
    const [{ last }] = await h.waitForLasts(1, 60_000);
    expect(last.metadata.error_code).toBe('JOB_CANCELLED');
    expect(last.task_results.a.status).toBe('completed');
    expect(last.task_results.b.status).toBe('cancelled');
    await eventually(() => parked('ap-7'), (p) => p === null, 'the park removed');
    expect(aiCalls('ap-7')).toHaveLength(2);
    // The sweeps that resumed ap-7 left ap-9 parked from its own message, and one more resumes nothing.
    const kv = await new Kvm(h.nc).open('ALT_RUNS');
    expect(await sweepParks({ kv, jsm: h.jsm, js: jetstream(h.nc), statusBucket: 'ALT_RUNS', objBucket: 'ALT_OUTPUTS', logger: silentLogger(), graceMs: 0 })).toBe(0);
    const still = (await parked('ap-9'))!.park;
    expect([still.seq, still.resumed_seq, aiCalls('ap-9').length]).toEqual([ap9, undefined, asked]);
  }, 60_000);

  it('under PAYLOAD_KEYS a parked job\'s question, results and body are stored sealed, and approve (with the key) resumes it', async () => {
    const key = `k1:${randomBytes(32).toString('base64')}`;
    const marker = `PARK-MARKER-${randomBytes(6).toString('hex')}`;
    h = await Harness.start();
    await h.worker({ PAYLOAD_KEYS: key, RUNNER_CHECKPOINT_BUDGET_MS: '0' });
    await h.publish(reviewJob(`ap-8-${marker}`));
    await eventually(async () => (await bucketEntries(h!.jsm, 'ALT_RUNS', 'park.*')).length, (n) => n === 1, 'the job to park');
    await eventually(() => h!.consumer(), (c) => c.num_ack_pending === 0 && c.num_pending === 0, 'the message acked');
    const raw: string[] = [];
    for (const stream of ['KV_ALT_RUNS', 'KV_ALT_CHECKPOINTS', 'OBJ_ALT_OUTPUTS', 'OBJ_ALT_BODIES']) for (const r of await h.records(stream)) raw.push(Buffer.from(r.data).toString('latin1'));
    expect(raw.join('\n').length).toBeGreaterThan(500);
    expect(raw.join('\n').includes('draft of ap-8')).toBe(false);
    expect(raw.join('\n').includes('good to send')).toBe(false);
    const saved = process.env.PAYLOAD_KEYS;
    process.env.PAYLOAD_KEYS = key;
    try {
      expect((await cli('approve', `ap-8-${marker}`, 'review')).code).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.PAYLOAD_KEYS;
      else process.env.PAYLOAD_KEYS = saved;
    }
    // One .last (sealed), with every AI task asked once.
    await eventually(() => h!.records('LAST'), (r) => r.length === 1, 'the .last', 60_000);
    expect(aiCalls(`ap-8-${marker}`)).toHaveLength(3);
    await eventually(async () => (await bucketEntries(h!.jsm, 'ALT_RUNS', 'park.*')).filter((e) => e.operation === 'PUT').length, (n) => n === 0, 'the park removed');
  }, 60_000);
});
