/**
 * Budgets end to end, against real worker processes and the fake AI's own log: a job's budget set
 * in each place it can be (metadata.budget in each form, altlas publish --budget-*, the
 * configured default), a 2.0 loop stopped by its budget, a tenant's budget per period in both
 * modes, and a job's spend across a crash.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { main } from '../../src/cli/main.ts';
import type { Last } from '../../src/last/index.ts';
import type { StatusEntry } from '../../src/status/status.ts';
import { Harness, eventually, type WorkerProcess } from '../helpers/runner.ts';
import { ROOT } from '../helpers/paths.ts';

const PRICES = join(ROOT, 'deploy', 'ai-prices.yaml');
let h: Harness | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'altlas-budgets-'));
  dirs.push(dir);
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

/** A runner-form job of `n` independent tasks, each answering in at most `maxTokens` tokens. */
function tasksJob(id: string, n: number, extra: Record<string, unknown> = {}, maxTokens = 16): string {
  return JSON.stringify({
    id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `job ${id}`, ...extra,
    tasks: Array.from({ length: n }, (_, i) => ({ id: `t${i + 1}`, description: `step ${i + 1} of ${id}`, parameters: { max_tokens: maxTokens } })),
  });
}

/** The fake AI's answered calls for a job (its prompts name it), with the tokens it reported. */
const answered = (id: string) => h!.fake.log.filter((e) => e.status === 200 && e.prompt.includes(` of ${id}`));
const tokensOf = (entries: ReturnType<typeof answered>) => entries.reduce((n, e) => n + e.usage!.input + e.usage!.output, 0);

/** The refusal's numbers as its message states them: the limit (or this worker's slice of a tenant's), the call's worst case, what was spent. */
function refusal(last: Last): { need: number; spent: number; limit: number } {
  const m = /budget (?:per \w+ )?of ([\d.]+) .*worst case of ([\d.]+)(?:; this worker's slice of it is ([\d.]+), of which ([\d.]+) spent|: ([\d.]+) spent)/.exec(String(last.metadata.error));
  if (!m) throw new Error(`no refusal in ${String(last.metadata.error)}`);
  return { limit: Number(m[3] ?? m[1]), need: Number(m[2]), spent: Number(m[4] ?? m[5]) };
}

/** What a budget-stopped job's .last must show: completed tasks kept, the rest cancelled with BUDGET_EXCEEDED, the refusal justified. */
function expectStoppedByBudget(last: Last, calls: number): void {
  const results = Object.values(last.task_results);
  const completed = results.filter((r) => r.status === 'completed');
  expect(completed).toHaveLength(calls);
  expect(results.filter((r) => r.status !== 'completed').every((r) => r.status === 'cancelled' && r.metadata.error_code === 'BUDGET_EXCEEDED')).toBe(true);
  expect(last.status).toBe(calls === 0 ? 'failure' : 'partialsuccess');
  expect(last.metadata.error_code).toBe('BUDGET_EXCEEDED');
  // Refused only when the call could not fit even if every call in flight gave all back.
  const r = refusal(last);
  expect(r.need).toBeGreaterThan(r.limit - r.spent);
}

describe('job budgets', () => {
  it('stops a job at its metadata.budget: no call past it, completed tasks kept, the rest cancelled, acked', async () => {
    h = await Harness.start(undefined, { record: true });
    const w = await h.worker({ RUNNER_TASK_CONCURRENCY: '1', RUNNER_STATUS_FLUSH_MS: '10' });
    await h.publish(tasksJob('capped', 8, { metadata: { budget: { tokens: 200 }, owner: 'team-a' } }));
    const [{ last }] = await h.waitForLasts(1);
    const calls = answered('capped');
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.length).toBeLessThan(8);
    expect(tokensOf(calls)).toBeLessThanOrEqual(200);
    expectStoppedByBudget(last, calls.length);
    expect(last.metadata).toMatchObject({ budget: { tokens: 200, cost: null }, alt_budget: { tokens: 200 }, alt_owner: 'team-a' });
    expect(last.summary).toMatch(/^- Budget Exceeded: the job's budget of 200 tokens/m);
    // Acked, not dead-lettered; the status entry and the log say why it ended.
    await eventually(async () => (await h!.consumer()).num_ack_pending, (n) => n === 0, 'the ack');
    expect((await h.jsm.streams.info('ALT')).state.messages).toBe(0);
    expect(await h.records('ALT_DLQ')).toEqual([]);
    const kv = await new Kvm(h.nc).open('ALT_RUNS');
    const entry = await eventually(async () => (await kv.get('capped'))?.json<StatusEntry>(), (e) => e?.state === 'completed', 'the final status');
    expect(entry).toMatchObject({ last_status: 'partialsuccess', error: { code: 'BUDGET_EXCEEDED' }, budget: { tokens: 200, cost: null } });
    expect(w.logs('job finished')).toMatchObject([{ alt_id: 'capped', code: 'BUDGET_EXCEEDED', status: 'partialsuccess' }]);
  });

  it('takes a budget from altlas publish --budget-cost, the tighter of it and metadata.budget, and a segmentation file\'s metadata', async () => {
    h = await Harness.start(undefined, { record: true });
    await h.worker({ AI_PRICES: PRICES, RUNNER_TASK_CONCURRENCY: '2' });
    const seg = tempFile('seg.alt.yaml', `id: seg-budget
version: "1.0"
timestamp: "2025-05-01T10:00:00Z"
command: three steps
metadata: {budget: {cost: 0.5}}
segments:
${[1, 2, 3, 4, 5, 6].map((i) => `  - {id: s${i}, task_type: create, content: "step ${i} of seg-budget", parameters: [{name: max_tokens, value: 16}]}`).join('\n')}
`);
    // 0.00004 USD: two or three calls of the default model at its price, far below the file's 0.5.
    const out: string[] = [];
    const code = await main(['publish', '--server', h.server.url, '--budget-cost', '0.00004', '--wait', '--timeout', '60', seg], { out: (l) => out.push(l), err: (l) => out.push(l) });
    expect(code).toBe(1);
    expect(out.join('\n')).toMatch(/^partialsuccess .*seg-budget.*BUDGET_EXCEEDED: the job's budget of 0.00004 \(money\)/m);
    const [{ last }] = await h.waitForLasts(1);
    const calls = answered('seg-budget');
    expectStoppedByBudget(last, calls.length);
    expect(last.metadata.budget).toEqual({ tokens: null, cost: 0.00004 });
    expect((last.metadata.usage as { cost: number }).cost).toBeLessThanOrEqual(0.00004);
    expect(calls.length).toBeGreaterThan(0);
  });

  it('applies the configured default (BUDGET_JOB_TOKENS) when a job sets none: a 2.0 while loop that never ends stops at it, not at LOOP_LIMIT', async () => {
    h = await Harness.start(undefined, { record: true });
    await h.worker({ BUDGET_JOB_TOKENS: '600', BUDGET_MAX_TOKENS: '24', LOOP_MAX_ITERATIONS: '100' });
    await h.publish(readFileSync(join(ROOT, 'test', 'fixtures', 'budget', 'forever.alt.yaml')), { 'Content-Type': 'application/yaml' });
    const [{ last }] = await h.waitForLasts(1);
    const calls = h.fake.log.filter((e) => e.status === 200);
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.length).toBeLessThan(100);
    expect(tokensOf(calls)).toBeLessThanOrEqual(600);
    // The task set no max_tokens: with a budget in force, it was sent as BUDGET_MAX_TOKENS.
    expect(calls.every((e) => e.usage!.output <= 24)).toBe(true);
    expect(last.metadata.error_code).toBe('BUDGET_EXCEEDED');
    expect(Object.values(last.task_results).some((r) => r.metadata.error_code === 'LOOP_LIMIT')).toBe(false);
    expect(Object.values(last.task_results).filter((r) => r.status === 'completed')).toHaveLength(calls.length);
    expect(last.metadata.budget).toEqual({ tokens: 600, cost: null });
  });

  it('refuses a job whose budget header or metadata.budget is not one (ALT_SCHEMA), before any call', async () => {
    h = await Harness.start(undefined, { record: true });
    await h.worker();
    await h.publish(tasksJob('bad-header', 1), { 'Altlas-Budget-Tokens': 'lots' });
    await h.publish(tasksJob('bad-meta', 1, { metadata: { budget: { tokens: -5, currency: 'USD' } } }));
    const lasts = await h.waitForLasts(2);
    const byId = Object.fromEntries(lasts.map(({ last }) => [last.alt_file_id, last]));
    expect(byId['bad-header'].metadata).toMatchObject({ error_code: 'ALT_SCHEMA', error: expect.stringContaining('Altlas-Budget-Tokens must be a whole number >= 0') });
    expect(byId['bad-meta'].metadata.error_problems).toEqual(expect.arrayContaining([{ pointer: '/metadata/budget/tokens', message: 'must be >= 0, got a whole number' }, expect.objectContaining({ pointer: '/metadata/budget' })]));
    expect(h.fake.log).toHaveLength(0);
  });

  it('keeps a job\'s spend across a crash: the redelivered run starts from its checkpointed calls', async () => {
    h = await Harness.start(undefined, { record: true, latencyMs: 150 });
    const env = { RUNNER_TASK_CONCURRENCY: '1', RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_ACK_WAIT_MS: '2000' };
    const first = await h.worker(env);
    await h.publish(tasksJob('crashy', 20, { metadata: { budget: { tokens: 500 } } }));
    await eventually(async () => answered('crashy').length, (n) => n >= 6, 'six calls answered');
    first.kill('SIGKILL');
    const killedAt = (await first.exited).at;
    await h.worker(env);
    const [{ last }] = await h.waitForLasts(1, 60_000);
    // Calls settled before the crash are counted by the second run (it resumed them), so the whole
    // job spent at most its budget plus the calls in flight at the crash (one here).
    const all = answered('crashy');
    const inFlight = all.filter((e) => e.start < killedAt && (e.end ?? Infinity) > killedAt - 50);
    expect(inFlight.length).toBeLessThanOrEqual(1);
    expect(tokensOf(all) - tokensOf(inFlight)).toBeLessThanOrEqual(500);
    expect((last.metadata.resumed_tasks as string[]).length).toBeGreaterThanOrEqual(5);
    const completed = Object.values(last.task_results).filter((r) => r.status === 'completed');
    expectStoppedByBudget(last, completed.length);
    // When the call was refused, the budget counted as spent every completed call, the resumed ones
    // included: to the token (one task at a time).
    expect(refusal(last).spent).toBe(completed.reduce((n, t) => n + t.output!.usage!.input! + t.output!.usage!.output!, 0));
  });
});

describe('tenant budgets per period', () => {
  const tenants = (mode: string, tokens: number) => ({ BUDGET_TENANTS: tempFile('tenants.yaml', `tenants:\n  acme: {day: {tokens: ${tokens}}}\n`), BUDGET_TENANT_EXCEEDED: mode });

  it('fails the jobs of a tenant over its day\'s budget (fail), shared by two workers; other tenants go on', async () => {
    h = await Harness.start(undefined, { record: true, latencyMs: 20 });
    const env = { ...tenants('fail', 700), RUNNER_TASK_CONCURRENCY: '2', BUDGET_SLICE_LEASE_MS: '3000' };
    await h.worker(env);
    await h.worker(env);
    // Ten jobs of three calls: about 1,050 tokens, half again the day's 700.
    for (let i = 1; i <= 10; i++) await h.publish(tasksJob(`acme-${i}`, 3), {}, 'alt.medium.acme');
    await h.publish(tasksJob('other-1', 3), {}, 'alt.medium.beta');
    const lasts = await h.waitForLasts(11, 60_000);
    const acme = lasts.filter(({ last }) => last.alt_file_id.startsWith('acme-')).map(({ last }) => last);
    const spent = tokensOf(h.fake.log.filter((e) => e.status === 200 && e.prompt.includes(' of acme-')));
    expect(spent).toBeLessThanOrEqual(700);
    const stopped = acme.filter((l) => l.metadata.error_code === 'BUDGET_EXCEEDED');
    expect(stopped.length).toBeGreaterThan(0);
    for (const l of stopped) expect(l.metadata.error).toMatch(/tenant acme's budget per day of 700 tokens/);
    expect(lasts.find(({ last }) => last.alt_file_id === 'other-1')!.last.status).toBe('success');
    // Every job has its .last; none was lost or dead-lettered.
    expect(await h.records('ALT_DLQ')).toEqual([]);
  });

  it('gives a dead worker\'s slice back to the fleet but what it could have spent: the tenant goes on after a crash', async () => {
    h = await Harness.start(undefined, { record: true, latencyMs: 100 });
    const env = { ...tenants('fail', 5_000), BUDGET_SLICE_LEASE_MS: '2000', RUNNER_ACK_WAIT_MS: '2000' };
    const first = await h.worker(env);
    await h.publish(tasksJob('before', 6), {}, 'alt.low.acme');
    await eventually(async () => answered('before').length, (n) => n >= 2, 'calls of the first worker');
    first.kill('SIGKILL');
    await first.exited;
    await h.worker(env);
    for (let i = 1; i <= 3; i++) await h.publish(tasksJob(`after-${i}`, 4), {}, 'alt.low.acme');
    const lasts = await h.waitForLasts(4, 60_000);
    // The dead worker held a slice of twice its recent demand, not the day's limit: the others still run.
    for (const { last } of lasts) expect([last.alt_file_id, last.status, last.metadata.error]).toEqual([last.alt_file_id, 'success', undefined]);
  });

  it('parks a tenant\'s jobs until the period turns (wait): no call, no delivery spent, not dead-lettered', async () => {
    h = await Harness.start(undefined, { record: true });
    const w = await h.worker({ ...tenants('wait', 300), RUNNER_TASK_CONCURRENCY: '1' });
    const parkedLines = () => w.logs('job parked: waiting for its tenant\'s budget period to turn');
    await h.publish(tasksJob('first', 10), {}, 'alt.high.acme');
    const back = await eventually(async () => parkedLines(), (l) => l.length >= 1, 'the first job parked', 30_000);
    const turns = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1);
    expect(back[0]).toMatchObject({ alt_id: 'first', code: 'BUDGET_WAIT' });
    expect(Math.abs(Date.parse(back[0].resume_at as string) - turns)).toBeLessThan(120_000);
    const callsBefore = h.fake.log.length;
    expect(tokensOf(h.fake.log.filter((e) => e.status === 200))).toBeLessThanOrEqual(300);
    // A later job of the tenant parks at once, without a call; another tenant's runs.
    await h.publish(tasksJob('second', 2), {}, 'alt.high.acme');
    await h.publish(tasksJob('elsewhere', 1), {}, 'alt.high.beta');
    await eventually(async () => parkedLines().filter((l) => l.alt_id === 'second'), (l) => l.length === 1, 'the second job parked');
    const [{ last }] = await h.waitForLasts(1);
    expect(last.alt_file_id).toBe('elsewhere');
    expect(h.fake.log.filter((e) => e.prompt.includes(' of second'))).toHaveLength(0);
    expect(h.fake.log.length).toBe(callsBefore + 1);
    // The jobs wait parked, their messages acked (no delivery left to spend), not dead-lettered; the first kept what it completed.
    await eventually(async () => (await h!.jsm.streams.info('ALT')).state.messages, (n) => n === 0, 'the messages acked');
    expect(await h.records('ALT_DLQ')).toEqual([]);
    const kv = await new Kvm(h.nc).open('ALT_RUNS');
    const first = await eventually(async () => (await kv.get('first'))?.json<StatusEntry>(), (e) => e?.state === 'waiting', 'the first job\'s status');
    expect(first).toMatchObject({ state: 'waiting', error: { code: 'BUDGET_WAIT' } });
    expect(first!.tasks_done).toBeGreaterThan(0);
    // Its tasks not run yet wait (pending), none is cancelled or failed.
    expect(Object.values(first!.tasks).filter((t) => t.state !== 'completed').map((t) => t.state)).toEqual(Array(10 - first!.tasks_done).fill('pending'));
    // The second never started: the worker knew the tenant's day was spent and asked nothing of the budget.
    const second = await eventually(async () => (await kv.get('second'))?.json<StatusEntry>(), (e) => e?.state === 'waiting', 'the second job\'s status');
    expect(second).toMatchObject({ started_at: null, tasks: {}, error: { code: 'BUDGET_WAIT' } });
  });
});

export type { WorkerProcess };
