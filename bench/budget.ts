/**
 * `npm run bench:budget`: budgets enforced before the spend, measured against the fake AI's own
 * log of what it reported (tokens by kind per request), with `altlas worker` processes:
 *
 * 1. 200 jobs of one tenant at once against a tenant budget per day (tokens and money) covering
 *    about half of them, 3 workers: the spend past the budget (target 0), the jobs ended by it
 *    (BUDGET_EXCEEDED with BUDGET_TENANT_EXCEEDED=fail; parked with =wait), none lost; and
 *    `altlas usage` against the fake AI's log (target: equal to the token);
 * 2. a 2.0 `while` loop that never ends under a job budget smaller than LOOP_LIMIT's: where it stops;
 * 3. throughput with budgets configured but not binding ÷ the same run without (target >= 0.95),
 *    runs alternated (BENCH_ROUNDS pairs), the median ratio; and the workers' CPU per job, the
 *    steadier figure on a shared machine.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { FakeOrchestrator, type RequestRecord } from '../src/ai/fake-orchestrator.ts';
import { main } from '../src/cli/main.ts';
import { NatsServer } from '../src/devtools/nats-server.ts';
import type { Last } from '../src/last/index.ts';
import type { StatusEntry } from '../src/status/status.ts';
import { costNanos, fromNanos, loadPrices, priceOf } from '../src/usage/prices.ts';
import type { UsageSummary } from '../src/usage/window.ts';
import { cpuSecondsOf, since, startWorkerProcess, type Child } from './processes.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 200);
const WORKERS = 3;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const THROUGHPUT_JOBS = Number(process.env.BENCH_THROUGHPUT_JOBS ?? 2000);
const PRICES_FILE = join(import.meta.dirname, '..', 'deploy', 'ai-prices.yaml');
const prices = loadPrices(PRICES_FILE);
const dir = mkdtempSync(join(tmpdir(), 'altlas-bench-budget-'));
const fake = new FakeOrchestrator({ record: true, latencyMs: Number(process.env.BENCH_LATENCY_MS ?? 20), cachedTokens: 4, reasoningTokens: 2 });
const aiUrl = await fake.listen();
const dec = new TextDecoder();

/** A job of three independent AI tasks, each answering in at most 32 tokens. */
const job = (id: string) => JSON.stringify({
  id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `bench ${id}`,
  tasks: [1, 2, 3].map((t) => ({ id: `t${t}`, description: `Step ${t} of ${id}: one line on the quarterly figures of region ${t}.`, parameters: { max_tokens: 32 } })),
});

/** The fake AI's answered requests (optionally only prompts containing `mark`), added up as it reported them. */
function reported(mark?: string) {
  const rows = fake.log.filter((e: RequestRecord) => e.status === 200 && e.usage && (!mark || e.prompt.includes(mark)));
  const sum = (k: 'input' | 'output' | 'cached_input' | 'reasoning') => rows.reduce((n, e) => n + e.usage![k], 0);
  const nanos = rows.reduce((n, e) => n + costNanos(priceOf(prices, e.model!), e.usage!)!, 0);
  return { calls: rows.length, tokens: { input: sum('input'), output: sum('output'), cached_input: sum('cached_input'), reasoning: sum('reasoning') }, nanos };
}

interface Stack {
  server: NatsServer;
  workers: Child[];
  jsm: JetStreamManager;
  nc: Awaited<ReturnType<typeof connect>>;
  publish(subject: string, data: string, headers?: Record<string, string>): Promise<void>;
  lasts(): Promise<Last[]>;
  close(): Promise<void>;
}

async function stack(env: NodeJS.ProcessEnv, workers = WORKERS): Promise<Stack> {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const procs: Child[] = [];
  for (let i = 0; i < workers; i++) procs.push(await startWorkerProcess({ NATS_URL: server.url, AI_URL: aiUrl, LOG_LEVEL: 'warn', ...env }));
  return {
    server, workers: procs, jsm, nc,
    async publish(subject, data, headers = {}) {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(headers)) h.set(k, v);
      await js.publish(subject, data, { headers: h });
    },
    async lasts() {
      const info = await jsm.streams.info('LAST');
      const out: Last[] = [];
      for (let seq = info.state.first_seq; info.state.messages && seq <= info.state.last_seq; seq += 128) {
        const batch = await Promise.all(Array.from({ length: Math.min(128, info.state.last_seq - seq + 1) }, (_, i) => jsm.streams.getMessage('LAST', { seq: seq + i }).catch(() => null)));
        for (const m of batch) if (m) out.push(JSON.parse(dec.decode(m.data)) as Last);
      }
      return out;
    },
    async close() {
      await Promise.all(procs.map((w) => w.stop()));
      await nc.close();
      await server.dispose();
    },
  };
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, label: string, show: (v: T) => string, limitMs = 600_000): Promise<T> {
  const end = Date.now() + limitMs;
  let last = 0;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}: ${show(v)}`);
    if (Date.now() - last > 3_000) {
      process.stdout.write(`  ${label}: ${show(v)}\n`);
      last = Date.now();
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

const line = (label: string, value: string, target?: string, met?: boolean) => console.log(`  ${label.padEnd(58)} ${value}${target ? `  (target ${target}: ${met ? 'met' : 'NOT met'})` : ''}`);

/** What 10 jobs of a tenant without a budget spend, per job: the size of "about half of 200". */
async function calibrate(): Promise<{ tokens: number; nanos: number }> {
  fake.resetStats();
  const s = await stack({ AI_PRICES: PRICES_FILE }, 1);
  try {
    for (let i = 0; i < 10; i++) await s.publish('alt.medium.calib', job(`calib-${i}`));
    await until(() => s.lasts(), (l) => l.length === 10, 'calibration', (l) => `${l.length}/10`);
    const r = reported();
    return { tokens: (r.tokens.input + r.tokens.output) / 10, nanos: r.nanos / 10 };
  } finally {
    await s.close();
  }
}

async function tenantPhase(mode: 'fail' | 'wait', per: { tokens: number; nanos: number }): Promise<void> {
  fake.resetStats();
  const tokens = Math.round((per.tokens * JOBS) / 2);
  const cost = fromNanos(Math.round((per.nanos * JOBS) / 2));
  const file = join(dir, `tenants-${mode}.yaml`);
  writeFileSync(file, `tenants:\n  acme: {day: {tokens: ${tokens}, cost: ${cost}}}\n`);
  console.log(`\n1${mode === 'fail' ? 'a' : 'b'}. ${JOBS} jobs of tenant acme at once, ${WORKERS} workers, BUDGET_TENANT_EXCEEDED=${mode}; the day's budget: ${tokens} tokens and ${cost} USD (about ${JOBS / 2} jobs' worth)`);
  const s = await stack({ AI_PRICES: PRICES_FILE, BUDGET_TENANTS: file, BUDGET_TENANT_EXCEEDED: mode, RUNNER_CONCURRENCY: '16' });
  try {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: JOBS }, (_, i) => s.publish('alt.medium.acme', job(`acme-${i}`))));
    const kv = await new Kvm(s.nc).open('ALT_RUNS');
    const waiting = async () => {
      let n = 0;
      for await (const k of await kv.keys()) {
        const e = await kv.get(k);
        if (e?.operation === 'PUT' && e.value.length && e.json<StatusEntry>().error?.code === 'BUDGET_WAIT') n++;
      }
      return n;
    };
    const state = async () => ({ lasts: await s.lasts(), waiting: mode === 'wait' ? await waiting() : 0 });
    const { lasts, waiting: held } = await until(state, (v) => v.lasts.length + v.waiting >= JOBS, 'jobs settled', (v) => `${v.lasts.length} .last, ${v.waiting} waiting`);
    const seconds = since(t0);
    const spent = reported(' of acme-');
    const spentTokens = spent.tokens.input + spent.tokens.output;
    const ended = lasts.filter((l) => l.metadata.error_code === 'BUDGET_EXCEEDED');
    const dlq = (await s.jsm.streams.info('ALT_DLQ')).state.messages;
    line('jobs: completed whole', String(lasts.filter((l) => l.status === 'success').length));
    if (mode === 'fail') line('jobs ended by the budget (BUDGET_EXCEEDED)', `${ended.length} (${ended.filter((l) => l.status === 'partialsuccess').length} partialsuccess, ${ended.filter((l) => l.status === 'failure').length} failure)`);
    else line('jobs parked until the next day (BUDGET_WAIT)', String(held));
    line('jobs lost (no .last, not waiting) / dead-lettered', `${JOBS - lasts.length - held} / ${dlq}`, '0', JOBS - lasts.length - held === 0 && dlq === 0);
    line('tokens spent (the fake AI\'s log) / budget', `${spentTokens} / ${tokens}`);
    line('money spent (the fake AI\'s log at AI_PRICES) / budget', `${fromNanos(spent.nanos)} / ${cost} USD`);
    const past = Math.max(0, spentTokens - tokens) + Math.max(0, spent.nanos - Math.round(cost * 1e9));
    line('spend past the budget (tokens + nano-USD)', String(past), '0', past === 0);
    line('share of the budget used (tokens, money)', `${(spentTokens / tokens).toFixed(3)}, ${(spent.nanos / (cost * 1e9)).toFixed(3)}`);
    line('time to settle every job', `${seconds.toFixed(1)} s`);
    if (mode === 'fail') {
      // altlas usage, over the whole run, against the fake AI's own log.
      const out: string[] = [];
      await main(['usage', '--json', '--server', s.server.url, '--since', '1h'], { out: (l) => out.push(l), err: (l) => console.error(l) });
      const usage = JSON.parse(out[0]) as UsageSummary;
      const all = reported();
      const same = JSON.stringify(usage.tokens) === JSON.stringify(all.tokens) && usage.calls === all.calls && Math.round(usage.cost! * 1e9) === all.nanos;
      line('altlas usage tokens (input/output/cached/reasoning)', Object.values(usage.tokens).join('/'));
      line('the fake AI\'s log (input/output/cached/reasoning)', Object.values(all.tokens).join('/'));
      line('altlas usage calls and cost / the fake AI\'s', `${usage.calls}, ${usage.cost} / ${all.calls}, ${fromNanos(all.nanos)}`, 'equal', same);
    }
  } finally {
    await s.close();
  }
}

async function loopPhase(): Promise<void> {
  fake.resetStats();
  console.log('\n2. a 2.0 while loop whose condition never turns false, LOOP_MAX_ITERATIONS=100, the job\'s budget 2,000 tokens');
  const s = await stack({ BUDGET_JOB_TOKENS: '2000', BUDGET_MAX_TOKENS: '32', LOOP_MAX_ITERATIONS: '100' }, 1);
  try {
    await s.publish('alt.submit', readFileSync(join(import.meta.dirname, '..', 'test', 'fixtures', 'budget', 'forever.alt.yaml'), 'utf8'), { 'Content-Type': 'application/yaml' });
    const [last] = await until(() => s.lasts(), (l) => l.length === 1, 'the loop\'s .last', (l) => String(l.length));
    const r = reported();
    const iterations = Object.values(last.task_results).filter((t) => t.task_id.endsWith('/ask') && t.status === 'completed').length;
    const loopLimit = Object.values(last.task_results).some((t) => t.metadata.error_code === 'LOOP_LIMIT');
    line('iterations run (AI calls)', `${iterations} (${r.calls})`);
    line('tokens spent / budget', `${r.tokens.input + r.tokens.output} / 2000`, '<= budget', r.tokens.input + r.tokens.output <= 2000);
    line('ended by', `${String(last.metadata.error_code)}${loopLimit ? ' and LOOP_LIMIT' : ''}`, 'BUDGET_EXCEEDED, not LOOP_LIMIT', last.metadata.error_code === 'BUDGET_EXCEEDED' && !loopLimit && iterations < 100);
  } finally {
    await s.close();
  }
}

/**
 * Jobs/s of a run, measured between 10 % and 90 % of its .last results (the start and the tail
 * left out: publishing overlaps the first, the last jobs run fewer at once).
 */
async function throughput(budgets: boolean): Promise<{ rate: number; cpuUs: number }> {
  const file = join(dir, 'loose.yaml');
  writeFileSync(file, 'default: {day: {tokens: 1000000000000, cost: 1000000}}\n');
  const env = { AI_PRICES: PRICES_FILE, RUNNER_CONCURRENCY: '16', ...(budgets ? { BUDGET_TENANTS: file, BUDGET_JOB_TOKENS: '1000000000' } : {}) };
  const s = await stack(env);
  try {
    for (let i = 0; i < THROUGHPUT_JOBS; i += 200) await Promise.all(Array.from({ length: Math.min(200, THROUGHPUT_JOBS - i) }, (_, k) => s.publish('alt.medium.acme', job(`tp-${i + k}`))));
    const marks: [number, number][] = [];
    const cpu = () => s.workers.reduce((n, w) => n + cpuSecondsOf(w.proc.pid!), 0);
    const cpu0 = cpu();
    await until(async () => {
      const n = (await s.jsm.streams.info('LAST')).state.messages;
      marks.push([performance.now(), n]);
      return n;
    }, (n) => n >= THROUGHPUT_JOBS, budgets ? 'with budgets' : 'without budgets', (n) => `${n}/${THROUGHPUT_JOBS}`);
    const at = (share: number) => marks.find(([, n]) => n >= share * THROUGHPUT_JOBS)!;
    const [t10, n10] = at(0.1);
    const [t90, n90] = at(0.9);
    const cpuUs = ((cpu() - cpu0) / THROUGHPUT_JOBS) * 1e6;
    const lasts = await s.lasts();
    if (lasts.some((l) => l.status !== 'success')) throw new Error('a job did not succeed: the budgets bound');
    return { rate: (n90 - n10) / ((t90 - t10) / 1000), cpuUs };
  } finally {
    await s.close();
  }
}

try {
  console.log(`bench:budget: fake AI in this process (latency ${process.env.BENCH_LATENCY_MS ?? 20} ms, usage with cached and reasoning tokens), prices ${PRICES_FILE}`);
  const per = await calibrate();
  console.log(`calibration: a job of three calls spends ${per.tokens.toFixed(1)} tokens and ${fromNanos(Math.round(per.nanos))} USD`);
  await tenantPhase('fail', per);
  await tenantPhase('wait', per);
  await loopPhase();
  console.log(`\n3. throughput, ${THROUGHPUT_JOBS} jobs of three calls, ${WORKERS} workers: budgets configured but not binding (a tenant's day, a job default) ÷ none, ${ROUNDS} alternated pairs`);
  fake.setFaults({ latencyMs: 0, cachedTokens: 4, reasoningTokens: 2 });
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let without: { rate: number; cpuUs: number };
    let withBudgets: { rate: number; cpuUs: number };
    // Alternated, so that a drift of this shared machine's speed weighs on both.
    if (r % 2 === 0) {
      without = await throughput(false);
      withBudgets = await throughput(true);
    } else {
      withBudgets = await throughput(true);
      without = await throughput(false);
    }
    fake.resetStats();
    ratios.push(withBudgets.rate / without.rate);
    cpuRatios.push(without.cpuUs / withBudgets.cpuUs);
    line(`pair ${r + 1}: jobs/s without, with budgets`, `${without.rate.toFixed(0)}, ${withBudgets.rate.toFixed(0)} (${(withBudgets.rate / without.rate).toFixed(3)})`);
    line(`pair ${r + 1}: workers' CPU µs per job without, with`, `${without.cpuUs.toFixed(0)}, ${withBudgets.cpuUs.toFixed(0)} (${(without.cpuUs / withBudgets.cpuUs).toFixed(3)})`);
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  line('throughput with budgets ÷ without (median of the pairs)', `${median(ratios).toFixed(3)} (pairs ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`, '>= 0.95', median(ratios) >= 0.95);
  line('workers\' CPU per job without ÷ with (median)', `${median(cpuRatios).toFixed(3)} (pairs ${Math.min(...cpuRatios).toFixed(2)}–${Math.max(...cpuRatios).toFixed(2)})`, '>= 0.95', median(cpuRatios) >= 0.95);
} finally {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
}
