/**
 * A tenant over its period's budget (BUDGET_TENANT_EXCEEDED=wait): its jobs park until the period
 * turns, spending no delivery and holding no worker, are resumed by the sweep after each turn, park
 * again while the tenant is still over, and run once when it is not. Periods are made short with
 * BUDGET_HOUR_MS; the tenant is kept spent by a slice entry in ALT_BUDGETS whose tail (spending of
 * a worker that is gone) frees only several periods ahead, as a dead worker's spend would.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { main } from '../../src/cli/main.ts';
import { bucketEntries } from '../../src/status/store-access.ts';
import { readPark, type ParkRecord } from '../../src/approval/park.ts';
import type { StatusEntry } from '../../src/status/status.ts';
import type { SliceEntry } from '../../src/flow/slices.ts';
import { Harness, eventually } from '../helpers/runner.ts';
import { ROOT } from '../helpers/paths.ts';

const PERIOD_MS = 4_000;
const LIMIT = 100_000;
let h: Harness | undefined;
const dirs: string[] = [];
const dashboards: ChildProcess[] = [];
afterEach(async () => {
  for (const d of dashboards.splice(0)) {
    d.kill('SIGTERM');
    if (d.exitCode === null) await new Promise((r) => d.once('exit', r));
  }
  await h?.close();
  h = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function env(periodMs = PERIOD_MS): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'altlas-bwait-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'tenants.yaml'), `tenants:\n  acme: {hour: {tokens: ${LIMIT}}}\n`);
  return {
    BUDGET_TENANTS: join(dir, 'tenants.yaml'), BUDGET_TENANT_EXCEEDED: 'wait', BUDGET_HOUR_MS: String(periodMs),
    BUDGET_SLICE_LEASE_MS: '1500', RUNNER_APPROVAL_SWEEP_MS: '200', RUNNER_MAX_DELIVER: '2', RUNNER_STATUS_FLUSH_MS: '50',
  };
}

/** A runner-form job of `n` independent tasks. */
function tasksJob(id: string, n: number): string {
  return JSON.stringify({
    id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `job ${id}`,
    tasks: Array.from({ length: n }, (_, i) => ({ id: `t${i + 1}`, description: `step ${i + 1} of ${id}`, parameters: { max_tokens: 16 } })),
  });
}

/** Keeps tenant acme's hour spent until `until`: the fleet's entry holds a tail of the whole limit, spent by a worker that is gone. */
async function spendUntil(until: number, periodMs = PERIOD_MS): Promise<void> {
  const kv = await new Kvm(h!.nc).open('ALT_BUDGETS');
  const entry: SliceEntry = { v: 1, unit: 'tokens', window_ms: periodMs, learned: null, learned_at: null, slices: {}, tails: [{ amount: LIMIT, free_at: until, of: 'gone' }] };
  await kv.put('budget.acme.hour.tokens', JSON.stringify(entry));
}

const parks = async () => (await bucketEntries(h!.jsm, 'ALT_RUNS', 'park.*')).filter((e) => e.operation === 'PUT');
const callsOf = (id: string) => h!.fake.log.filter((e) => e.prompt.includes(` of ${id}`));

/** Starts `altlas dashboard` (read-only) on a free port; resolves with its address. */
function dashboard(): Promise<string> {
  const p = spawn(join(ROOT, 'bin', 'altlas'), ['dashboard', '--port', '0', '--server', h!.server.url], { env: { ...process.env, DASHBOARD_TOKEN: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  dashboards.push(p);
  return new Promise<string>((resolve, reject) => {
    let out = '';
    p.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /dashboard on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    p.once('exit', (code) => reject(new Error(`dashboard exited ${code}: ${out}`)));
  });
}

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const code = await main([...args, '--server', h!.server.url], { out: (l) => out.push(l), err: (l) => out.push(l) });
  return { code, out: out.join('\n') };
}

describe('a tenant over its period\'s budget (wait)', () => {
  it('parks its job through several turns of the period without spending a delivery, then runs it once on either of two workers (deliveries 1, no DLQ, no call before the turn)', async () => {
    h = await Harness.start(undefined, { record: true });
    const e = env();
    const ws = [await h.worker(e), await h.worker(e)];
    const logs = (message: string) => ws.flatMap((w) => w.logs(message));
    // Spent until the fifth turn from now: the job waits through at least four.
    const until = (Math.floor(Date.now() / PERIOD_MS) + 5) * PERIOD_MS;
    await spendUntil(until);
    await h.publish(tasksJob('patient', 2), {}, 'alt.high.acme');
    const [{ last }] = await h.waitForLasts(1, 90_000);
    // It ran once, on a resume delivered once (not as BUDGET_EXCEEDED on a second delivery); no call before the tenant's spend freed.
    expect(last.alt_file_id).toBe('patient');
    expect([last.status, last.metadata.error_code, last.metadata.deliveries]).toEqual(['success', undefined, 1]);
    expect(callsOf('patient').length).toBe(2);
    for (const c of callsOf('patient')) expect(c.start).toBeGreaterThanOrEqual(until);
    expect((await h.lasts()).filter(({ last: l }) => l.alt_file_id === 'patient')).toHaveLength(1);
    expect(await h.records('ALT_DLQ')).toEqual([]);
    const parked = logs('job parked: waiting for its tenant\'s budget period to turn').filter((l) => l.alt_id === 'patient');
    expect(parked[0]).toMatchObject({ code: 'BUDGET_WAIT' });
    // It waited through at least three turns, parked again after each, and never past the turn it resumes at.
    const turns = new Set(parked.map((l) => l.resume_at as string));
    expect(turns.size).toBeGreaterThanOrEqual(3);
    for (const t of turns) expect(Date.parse(t) % PERIOD_MS).toBe(0);
    // Each turn resumed it once, by one of the two workers' sweeps (the compare-and-set on its park).
    const resumes = logs('a job waiting for its tenant\'s budget resumes: the period turned').map((l) => l.resume_at as string);
    expect(resumes.sort()).toEqual([...turns].sort());
    await eventually(async () => (await h!.jsm.streams.info('ALT')).state.messages, (n) => n === 0, 'every message acked');
    await eventually(parks, (p) => p.length === 0, 'the park removed');
  }, 150_000);

  it('ends a waiting job on altlas cancel: a cancelled .last, no AI call; status, jobs and the dashboard show it waiting before, approve refuses it', async () => {
    h = await Harness.start(undefined, { record: true });
    // A real hour: the job stays parked until it ends.
    const hour = 3_600_000;
    await h.worker(env(hour));
    await spendUntil((Math.floor(Date.now() / hour) + 2) * hour, hour);
    await h.publish(tasksJob('stuck', 2), {}, 'alt.high.acme');
    const kv = await new Kvm(h.nc).open('ALT_RUNS');
    await eventually(async () => (await kv.get('stuck'))?.json<StatusEntry>(), (e) => e?.state === 'waiting', 'the waiting status');
    expect((await parks()).map((e) => e.key)).toEqual(['park.stuck']);
    // Nothing of it is left in the stream: the wait holds no message and no worker.
    expect((await h.jsm.streams.info('ALT')).state.messages).toBe(0);
    // (Should the hour turn meanwhile, the job parks again: the status is waiting again shortly.)
    const status = await eventually(() => cli('status', 'stuck'), (r) => r.out.includes('waiting'), 'altlas status to show it waiting');
    expect(status.out).toMatch(/job stuck: waiting, BUDGET_WAIT: tenant acme is over a period's budget: the job waits, parked, until /);
    expect((await cli('jobs', '--state', 'waiting')).out).toMatch(/stuck/);
    const url = await dashboard();
    const shown = await eventually(async () => (await fetch(`${url}/api/jobs/stuck`)).json() as Promise<{ job?: { state: string; error: { code: string; message: string } | null } }>, (r) => r.job?.state === 'waiting', 'the dashboard to show the job waiting');
    expect(shown.job!.error).toEqual({ code: 'BUDGET_WAIT', message: expect.stringMatching(/^tenant acme is over a period's budget: the job waits, parked, until \d{4}-/) });
    // No person decides a budget wait: altlas approve refuses it, whichever task it names.
    const { park } = (await readPark(kv, 'stuck'))!;
    expect(park).toMatchObject({ reason: 'budget', alt_id: 'stuck' });
    const approve = await cli('approve', 'stuck', park.task || 't1');
    expect([approve.code, approve.out]).toEqual([1, expect.stringContaining('APPROVAL_NOT_WAITING')]);
    expect((await cli('cancel', 'stuck')).code).toBe(0);
    const [{ last }] = await h.waitForLasts(1, 60_000);
    expect(last.alt_file_id).toBe('stuck');
    expect(last.metadata.error_code).toBe('JOB_CANCELLED');
    expect(Object.values(last.task_results).every((r) => r.status === 'cancelled')).toBe(true);
    expect(callsOf('stuck')).toHaveLength(0);
    await eventually(async () => (await kv.get('stuck'))?.json<StatusEntry>(), (e) => e?.state === 'cancelled', 'the cancelled status');
    await eventually(parks, (p) => p.length === 0, 'the park removed');
    expect(await h.records('ALT_DLQ')).toEqual([]);
  }, 120_000);

  it('acks a redelivery of a message whose park was stored (its ack lost) without running it: the park, or its resume, holds the job', async () => {
    h = await Harness.start(undefined, { record: true });
    expect((await cli('init')).code).toBe(0);
    const kv = await new Kvm(h.nc).open('ALT_RUNS');
    const checkpoints = await new Kvm(h.nc).open('ALT_CHECKPOINTS');
    const consumer = await h.js.consumers.get('ALT', 'runner');
    const resumeAt = new Date(Date.now() + 3_600_000).toISOString();
    // Each first delivery, as a worker that stored the park and stopped before its ack reached the
    // server; the second job's park was resumed since (a resume message holds it); the third is a
    // resume's message that parked the job again (its tenant still over).
    const firsts = [];
    const parksOf: Record<string, ParkRecord> = {};
    for (const [id, resumed, headers] of [['lost-ack', undefined, {}], ['held', 999, {}], ['reparked', undefined, { 'Altlas-Resume': 'ALT:1' }]] as const) {
      const seq = await h.publish(tasksJob(id, 2), headers, 'alt.high.acme');
      const first = await consumer.next({ expires: 5_000 });
      expect(first?.seq).toBe(seq);
      firsts.push(first!);
      parksOf[id] = {
        alt_id: id, reason: 'budget', task: '', question: `tenant acme is over a period's budget: the job waits, parked, until ${resumeAt}`,
        stream: 'ALT', seq, subject: 'alt.high.acme', headers: [], body: `park/ALT.${seq}`, parked_at: new Date().toISOString(), timeout_at: null, on_timeout: 'fail', resume_at: resumeAt,
        ...(resumed === undefined ? {} : { resumed_seq: resumed }),
      };
      await kv.put(`park.${id}`, JSON.stringify(parksOf[id]));
      // The park's completed results (a checkpoint of the parked message).
      await checkpoints.put(`ALT.${seq}.c.t1`, JSON.stringify({ task_id: 't1' }));
    }
    for (const m of firsts) m.nak();
    const w = await h.worker(env(3_600_000));
    await eventually(async () => (await h!.jsm.streams.info('ALT')).state.messages, (n) => n === 0, 'the messages acked');
    expect(callsOf('lost-ack')).toHaveLength(0);
    expect(callsOf('held')).toHaveLength(0);
    expect(callsOf('reparked')).toHaveLength(0);
    expect(await h.lasts()).toEqual([]);
    expect(w.logs('an earlier delivery of this message parked the job (its ack was lost): acked without running; the park resumes it').map((l) => l.alt_id).sort()).toEqual(['lost-ack', 'reparked']);
    expect(w.logs('an earlier delivery of this message parked the job and its resume holds it now (the earlier ack was lost): acked without running').map((l) => l.alt_id)).toEqual(['held']);
    // The parks and their checkpoints stay as they were.
    for (const id of ['lost-ack', 'held', 'reparked']) {
      expect((await readPark(kv, id))?.park).toEqual(parksOf[id]);
      expect((await checkpoints.get(`ALT.${parksOf[id].seq}.c.t1`))?.operation).toBe('PUT');
    }
    const entry = await eventually(async () => (await kv.get('lost-ack'))?.json<StatusEntry>(), (e) => e?.state === 'waiting', 'the waiting status');
    expect(entry!.error).toEqual({ code: 'BUDGET_WAIT', message: parksOf['lost-ack'].question });
  }, 90_000);
});
