/**
 * Usage and cost end to end: a real worker process with a price table, the fake AI's own log as
 * the reference, the usage stream, `altlas usage`, the `.last`, the status entry and /metrics.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { freePort } from '../../src/devtools/nats-server.ts';
import { main } from '../../src/cli/main.ts';
import { loadPrices, costNanos, priceOf } from '../../src/usage/prices.ts';
import type { UsageRecord } from '../../src/usage/record.ts';
import type { UsageSummary } from '../../src/usage/window.ts';
import type { StatusEntry } from '../../src/status/status.ts';
import { Harness, WorkerProcess, eventually, job } from '../helpers/runner.ts';
import { ROOT } from '../helpers/paths.ts';

const PRICES = join(ROOT, 'deploy', 'ai-prices.yaml');
const table = loadPrices(PRICES);
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function usage(args: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await main(['usage', '--server', h!.server.url, ...args], { out: (l) => out.push(l), err: (l) => out.push(l) });
  return { code, out };
}

const records = async () => (await h!.records('ALT_USAGE')).map((r) => JSON.parse(new TextDecoder().decode(r.data)) as UsageRecord);

/** The fake AI's own log, added up: the answers it gave and the tokens it reported. */
function fakeTotals(models?: readonly string[]) {
  const answered = h!.fake.log.filter((e) => e.status === 200 && e.usage && (!models || models.includes(e.model!)));
  const sum = (k: 'input' | 'output' | 'cached_input' | 'reasoning') => answered.reduce((n, e) => n + e.usage![k], 0);
  const nanos = answered.reduce((n, e) => n + costNanos(priceOf(table, e.model!), e.usage!)!, 0);
  return { calls: answered.length, tokens: { input: sum('input'), output: sum('output'), cached_input: sum('cached_input'), reasoning: sum('reasoning') }, nanos };
}

describe('usage and cost', () => {
  it('records every call: altlas usage equals the fake AI\'s own log to the token, as do the .last, the status entry and /metrics', async () => {
    h = await Harness.start(undefined, { record: true, cachedTokens: 3, reasoningTokens: 2, errorRules: [{ match: 'refuse me', status: 400 }] });
    const port = await freePort();
    await h.worker({ AI_PRICES: PRICES, HTTP_PORT: String(port), RUNNER_STATUS_FLUSH_MS: '10' });
    await h.publish(job('u1', 3));
    await h.publish(JSON.stringify({ id: 'u2', version: '1.0', created_at: '2025-05-01T00:00:00Z', title: 'two models', tasks: [
      { id: 'a', description: 'small one', parameters: { model: 'fake-small' } },
      { id: 'b', description: 'default one', dependencies: ['a'] },
      { id: 'c', description: 'refuse me', dependencies: ['a'] },
    ] }));
    const lasts = await h.waitForLasts(2);
    const fake = fakeTotals();
    expect(fake.calls).toBe(5);
    const stored = await eventually(records, (r) => r.length === 6, 'six usage records (five answered, one refused)');
    expect(stored.filter((r) => r.outcome === 'failed')).toMatchObject([{ job: 'u2', task: 'c', model: 'default', tokens: null, cost: null }]);

    const { code, out } = await usage(['--json', '--by', 'model']);
    expect(code).toBe(0);
    const summary = JSON.parse(out[0]) as UsageSummary;
    expect(summary).toMatchObject({ tokens: fake.tokens, calls: 5, calls_failed: 1, jobs: 2, currency: 'USD', by: 'model' });
    expect(Math.round(summary.cost! * 1e9)).toBe(fake.nanos);
    expect(Object.keys(summary.groups)).toEqual(['default', 'fake-small']);
    expect(summary.groups['fake-small']).toMatchObject({ calls: 1, jobs: 1, tokens: fakeTotals(['fake-small']).tokens });

    // The .last: each output's cost, the job's usage by model.
    const u2 = lasts.find((l) => l.last.alt_file_id === 'u2')!.last;
    const small = u2.task_results.a.output!;
    expect(small.cost).toBe(costNanos(table.models['fake-small'], small.usage as never)! / 1e9);
    expect(u2.metadata.usage).toMatchObject({ calls: 2, currency: 'USD', by_model: { 'fake-small': { calls: 1 }, default: { calls: 1 } } });
    const jobsTokens = lasts.reduce((n, l) => n + (l.last.metadata.usage as { tokens: { input: number } }).tokens.input, 0);
    expect(jobsTokens).toBe(fake.tokens.input);

    // The status entry says what the .last says.
    const kv = await new Kvm(h.nc).open('ALT_RUNS');
    const entry = await eventually(async () => (await kv.get('u2'))?.json<StatusEntry>(), (e) => e?.state === 'completed', 'u2 completed');
    expect(entry!.usage).toEqual(u2.metadata.usage);
    // Both name the job's tenant: `_` for a job outside the lanes, the subject's token inside them.
    expect(u2.metadata.tenant).toBe('_');
    expect(entry!.tenant).toBe('_');
    // The final entry keeps the job's usage; the tasks' own is in the .last (the entry stays small).
    expect(entry!.tasks.a).not.toHaveProperty('usage');

    // /metrics counts the same tokens and cost.
    const text = await eventually(async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), (t) => /altlas_ai_calls_total\{[^}]*outcome="failed"/.test(t), 'the usage counters');
    const metric = (re: RegExp) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
    expect(metric(/^altlas_ai_tokens_total\{[^}]*kind="input"[^}]*\} (\d+)$/gm)).toBe(fake.tokens.input);
    expect(metric(/^altlas_ai_tokens_total\{[^}]*kind="reasoning"[^}]*\} (\d+)$/gm)).toBe(fake.tokens.reasoning);
    expect(Math.round(metric(/^altlas_ai_cost_total\{[^}]*currency="USD"[^}]*\} ([\d.e-]+)$/gm) * 1e9)).toBe(fake.nanos);
    // A job in a lane names the subject's tenant (slow enough to write a status entry).
    h.fake.setFaults({ latencyMs: 200 });
    await h.publish(job('u3', 1), {}, 'alt.high.acme');
    const u3 = (await h.waitForLasts(3)).find((l) => l.last.alt_file_id === 'u3')!.last;
    expect(u3.metadata.tenant).toBe('acme');
    expect((await eventually(async () => (await kv.get('u3'))?.json<StatusEntry>(), (e) => e?.state === 'completed', 'u3 completed'))!.tenant).toBe('acme');
  });

  it('keeps an unpriced model\'s cost unknown, and a report without usage unknown: never 0', async () => {
    h = await Harness.start(undefined, { record: true });
    await h.worker({ AI_PRICES: PRICES });
    await h.publish(JSON.stringify({ id: 'p1', version: '1.0', created_at: '2025-05-01T00:00:00Z', title: 'unpriced', tasks: [
      { id: 'a', description: 'priced' }, { id: 'b', description: 'not priced', parameters: { model: 'mystery-model' } },
    ] }));
    await h.waitForLasts(1);
    h.fake.setFaults({ noUsage: true });
    await h.publish(job('p2', 1));
    const lasts = await h.waitForLasts(2);
    const p1 = lasts.find((l) => l.last.alt_file_id === 'p1')!.last;
    expect(p1.task_results.b.output!.cost).toBeNull();
    expect(typeof p1.task_results.a.output!.cost).toBe('number');
    expect(p1.metadata.usage).toMatchObject({ cost: null, by_model: { 'mystery-model': { cost: null }, default: { cost: p1.task_results.a.output!.cost } } });
    const p2 = lasts.find((l) => l.last.alt_file_id === 'p2')!.last;
    expect(p2.metadata.usage).toMatchObject({ tokens: { input: null, output: null }, cost: null, calls: 1 });
    await eventually(records, (r) => r.length === 3, 'three usage records');
    const { out } = await usage(['--json', '--by', 'tenant']);
    const summary = JSON.parse(out[0]) as UsageSummary;
    expect(summary).toMatchObject({ cost: null, tokens: { input: null, output: null }, calls: 3, jobs: 2 });
    const table = await usage(['--by', 'model']);
    expect(table.out.join('\n')).toMatch(/^mystery-model +1 +1 +0 +\d+ +\d+ +0 +0 +unknown$/m);
  });

  it('counts the calls of a run that crashed, and refuses an invalid price table at start', async () => {
    h = await Harness.start(undefined, { record: true, latencyMs: 200 });
    const first = await h.worker({ AI_PRICES: PRICES, RUNNER_ACK_WAIT_MS: '2000' });
    await h.publish(job('crash', 8));
    await eventually(async () => h!.fake.log.filter((e) => e.status === 200).length, (n) => n >= 3, 'three calls answered');
    first.kill('SIGKILL');
    const killedAt = (await first.exited).at;
    const beforeCrash = h.fake.log.filter((e) => e.status === 200 && e.end! < killedAt - 500).map((e) => e.prompt);
    await h.worker({ AI_PRICES: PRICES, RUNNER_ACK_WAIT_MS: '2000' });
    await h.waitForLasts(1, 60_000);
    const all = await eventually(records, (r) => r.filter((x) => x.outcome === 'ok').length >= 8 + beforeCrash.length - 1, 'the records of both runs');
    // Each call answered before the crash is in the stream, recorded by the first worker, whether or not it was checkpointed.
    const firstWorker = all[0].worker;
    expect(all.at(-1)!.worker).not.toBe(firstWorker);
    for (const prompt of beforeCrash) {
      const task = `t${/step (\d+) of crash/.exec(prompt)![1]}`;
      expect({ task, recorded: all.some((r) => r.task === task && r.outcome === 'ok' && r.worker === firstWorker) }).toEqual({ task, recorded: true });
    }
    const { out } = await usage(['--json']);
    expect((JSON.parse(out[0]) as UsageSummary).calls).toBe(all.filter((r) => r.outcome === 'ok').length);

    const dir = mkdtempSync(join(tmpdir(), 'altlas-bad-prices-'));
    try {
      writeFileSync(join(dir, 'p.yaml'), 'currency: USD\nmodels: {m: {input: -1, output: 1}}\n');
      const bad = new WorkerProcess(h.env({ AI_PRICES: join(dir, 'p.yaml') }));
      const exit = await bad.exited;
      expect(exit.code).toBe(2);
      expect(bad.lines.join('\n')).toMatch(/AI_PRICES=.*p\.yaml: does not match what it must hold\n +\/models\/m\/input: must be >= 0/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
