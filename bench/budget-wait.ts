/**
 * `npm run bench:budget-wait`: what waiting for a tenant's budget costs. BENCH_JOBS jobs (three AI
 * calls each) of tenant acme, whose `hour` (BUDGET_HOUR_MS = BENCH_PERIOD_MS) stays spent through
 * BENCH_TURNS turns (a slice entry in ALT_BUDGETS holds the whole limit, as a gone worker's spend
 * would), 2 `altlas worker` processes, RUNNER_MAX_DELIVER=2. Beside them, BENCH_OTHER jobs of
 * another tenant are published once the waiting ones are parked: they must run at once.
 *
 * Figures: jobs completed, dead-lettered, ended by the budget; the `.last`s' deliveries; AI calls
 * before the spend freed (target 0); deliveries by the consumer and messages published to ALT
 * per waiting job and per turn (the bound: one pull when it arrives, one per turn after);
 * the other tenant's jobs' time to finish; the workers' CPU per waiting job and turn. Ends with
 * one line of JSON of the figures.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { FakeOrchestrator } from '../src/ai/fake-orchestrator.ts';
import { NatsServer } from '../src/devtools/nats-server.ts';
import type { SliceEntry } from '../src/flow/slices.ts';
import type { Last } from '../src/last/index.ts';
import { cpuSecondsOf, since, startWorkerProcess, type Child } from './processes.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 100);
const OTHER = Number(process.env.BENCH_OTHER ?? 20);
const PERIOD_MS = Number(process.env.BENCH_PERIOD_MS ?? 6_000);
const TURNS = Number(process.env.BENCH_TURNS ?? 3);
const WORKERS = 2;
const LIMIT = 10_000_000;

const dir = mkdtempSync(join(tmpdir(), 'altlas-bench-bwait-'));
const fake = new FakeOrchestrator({ record: true, latencyMs: Number(process.env.BENCH_LATENCY_MS ?? 20) });
const aiUrl = await fake.listen();
const dec = new TextDecoder();

const job = (id: string) => JSON.stringify({
  id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `bench ${id}`,
  tasks: [1, 2, 3].map((t) => ({ id: `t${t}`, description: `Step ${t} of ${id}: one line on region ${t}.`, parameters: { max_tokens: 32 } })),
});

const line = (label: string, value: string, target?: string, met?: boolean) => console.log(`  ${label.padEnd(62)} ${value}${target ? `  (target ${target}: ${met ? 'met' : 'NOT met'})` : ''}`);

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, label: string, limitMs = 600_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const server = await NatsServer.start();
const workers: Child[] = [];
const nc = await connect({ servers: server.url });
try {
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const tenants = join(dir, 'tenants.yaml');
  writeFileSync(tenants, `tenants:\n  acme: {hour: {tokens: ${LIMIT}}}\n`);
  const env = {
    NATS_URL: server.url, AI_URL: aiUrl, LOG_LEVEL: 'warn', BUDGET_TENANTS: tenants, BUDGET_TENANT_EXCEEDED: 'wait', BUDGET_HOUR_MS: String(PERIOD_MS),
    BUDGET_SLICE_LEASE_MS: '1500', RUNNER_APPROVAL_SWEEP_MS: '200', RUNNER_MAX_DELIVER: '2', RUNNER_CONCURRENCY: '8',
  };
  for (let i = 0; i < WORKERS; i++) workers.push(await startWorkerProcess(env));
  console.log(`bench:budget-wait: ${JOBS} jobs of a spent tenant through ${TURNS} turns of a ${PERIOD_MS} ms period, ${OTHER} jobs of another tenant beside them, ${WORKERS} workers, RUNNER_MAX_DELIVER=2`);
  // Start a little after a turn, so that the first turn is not at once.
  const wait = PERIOD_MS - (Date.now() % PERIOD_MS) + 200;
  await new Promise((r) => setTimeout(r, wait));
  const until_ = (Math.floor(Date.now() / PERIOD_MS) + TURNS) * PERIOD_MS;
  const entry: SliceEntry = { v: 1, unit: 'tokens', window_ms: PERIOD_MS, learned: null, learned_at: null, slices: {}, tails: [{ amount: LIMIT, free_at: until_, of: 'gone' }] };
  await (await new Kvm(nc).open('ALT_BUDGETS')).put('budget.acme.hour.tokens', JSON.stringify(entry));
  const cpu = () => workers.reduce((n, w) => n + cpuSecondsOf(w.proc.pid!), 0);
  const cpu0 = cpu();
  const t0 = performance.now();
  const wall0 = Date.now();
  await Promise.all(Array.from({ length: JOBS }, (_, i) => js.publish('alt.medium.acme', job(`wait-${i}`))));
  const kv = await new Kvm(nc).open('ALT_RUNS');
  const parked = async () => {
    let n = 0;
    for await (const k of await kv.keys('park.*')) if ((await kv.get(k))?.operation === 'PUT') n++;
    return n;
  };
  await until(parked, (n) => n >= JOBS, 'every waiting job parked');
  const parkedIn = since(t0);
  // The other tenant's jobs, while every waiting job is parked: nothing holds the workers.
  const o0 = performance.now();
  await Promise.all(Array.from({ length: OTHER }, (_, i) => js.publish('alt.medium.beta', job(`other-${i}`))));
  const lasts = async () => {
    const info = await jsm.streams.info('LAST');
    const out: Last[] = [];
    for (let seq = info.state.first_seq; info.state.messages && seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage('LAST', { seq }).catch(() => null);
      if (m) out.push(JSON.parse(dec.decode(m.data)) as Last);
    }
    return out;
  };
  await until(async () => (await lasts()).filter((l) => l.alt_file_id.startsWith('other-')).length, (n) => n >= OTHER, 'the other tenant\'s jobs');
  const otherS = since(o0);
  const all = await until(lasts, (l) => l.length >= JOBS + OTHER, 'every job\'s .last');
  const seconds = since(t0);
  const cpuS = cpu() - cpu0;
  const waiting = all.filter((l) => l.alt_file_id.startsWith('wait-'));
  const consumer = await jsm.consumers.info('ALT', 'runner');
  const alt = await jsm.streams.info('ALT');
  const dlq = (await jsm.streams.info('ALT_DLQ')).state.messages;
  const early = fake.log.filter((e) => e.prompt.includes(' of wait-') && e.start < until_).length;
  const ok = waiting.filter((l) => l.status === 'success').length;
  const byBudget = waiting.filter((l) => l.metadata.error_code === 'BUDGET_EXCEEDED').length;
  const deliveries = new Set(waiting.map((l) => l.metadata.deliveries));
  // Each waiting job's messages: its original and one resume per turn; the other tenant's one each.
  const published = alt.state.last_seq - OTHER;
  const delivered = consumer.delivered.stream_seq ? consumer.delivered.consumer_seq - OTHER : 0;
  const perJobTurn = (n: number) => (n / JOBS - 1) / TURNS;
  line('waiting jobs completed / ended by the budget / dead-lettered', `${ok} / ${byBudget} / ${dlq}`, `${JOBS} / 0 / 0`, ok === JOBS && byBudget === 0 && dlq === 0);
  line('the .lasts\' metadata.deliveries', [...deliveries].join(', '), '1', deliveries.size === 1 && deliveries.has(1));
  line('AI calls of the waiting jobs before the spend freed', String(early), '0', early === 0);
  line('messages published to ALT per waiting job (original + resumes)', (published / JOBS).toFixed(2));
  line('deliveries per waiting job', (delivered / JOBS).toFixed(2));
  line('deliveries per waiting job and turn, beyond its first', perJobTurn(delivered).toFixed(2), '<= 1', perJobTurn(delivered) <= 1.0001);
  line('every waiting job parked after', `${parkedIn.toFixed(1)} s`);
  line(`the other tenant's ${OTHER} jobs, published with every waiting job parked, done in`, `${otherS.toFixed(1)} s`);
  line('every job done in', `${seconds.toFixed(1)} s (the spend freed ${((until_ - wall0) / 1000).toFixed(1)} s after the publish)`);
  line('workers\' CPU per waiting job and turn', `${((cpuS / JOBS / (TURNS + 1)) * 1e3).toFixed(2)} ms`);
  console.log(JSON.stringify({
    bench: 'budget-wait', jobs: JOBS, turns: TURNS, period_ms: PERIOD_MS, completed: ok, budget_exceeded: byBudget, dlq, last_deliveries: [...deliveries],
    early_calls: early, published_per_job: published / JOBS, deliveries_per_job: delivered / JOBS, deliveries_per_job_turn: perJobTurn(delivered),
    parked_s: parkedIn, other_s: otherS, total_s: seconds, cpu_ms_per_job_turn: (cpuS / JOBS / (TURNS + 1)) * 1e3,
  }));
} finally {
  await Promise.all(workers.map((w) => w.stop()));
  await nc.close();
  await server.dispose();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
}
