/**
 * `npm run chaos`: the promise "each job runs once, nothing is lost, nothing is paid twice"
 * measured against real failures of real processes. Each scenario publishes CHAOS_JOBS jobs of
 * three chained tasks (fake AI latency 20–50 ms), runs worker processes (`bin/altlas worker`),
 * injects its failures, waits until every job has a `.last` (or the scenario's deadline), and
 * measures from the records only:
 *
 *   lost / doubled   jobs with no `.last` / with more than one (the LAST stream's duplicate window is
 *                    1 s here, so a second run's result would be stored, not silently de-duplicated)
 *   overlapping runs jobs whose chained calls were ever in flight at the AI at the same time
 *   re-paid calls    answers the AI gave twice for one prompt, split into: in flight at a failure,
 *                    within the checkpoint budget (completed, not yet worth a checkpoint), beyond both
 *   duplicates       `.last` publishes JetStream reported as duplicates (from the workers' logs)
 *   failed by AI     jobs that ended without success, or dead-lettered, while the AI side was down
 *   recovery         seconds until the result rate is back to half its rate before each failure
 *
 * It writes `report.json` and `throughput.svg` (results per second, failures marked) to CHAOS_OUT
 * (default .chaos/) and prints the table the README shows. Every process it starts is stopped.
 * CHAOS_ONLY=name[,name] runs some scenarios; CHAOS_JOBS changes the size (default 3000).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { FakeOrchestrator, type RequestRecord } from '../src/ai/fake-orchestrator.ts';
import { NatsCluster, NatsServer } from '../src/devtools/nats-server.ts';
import { spawnWorker, type WorkerChild } from '../src/devtools/worker-process.ts';

const JOBS = Number(process.env.CHAOS_JOBS ?? 3_000);
const OUT = process.env.CHAOS_OUT ?? join(import.meta.dirname, '..', '.chaos');
const BUDGET_MS = 2_000; // RUNNER_CHECKPOINT_BUDGET_MS, the default
const ACK_WAIT_MS = 5_000;
const ONLY = process.env.CHAOS_ONLY?.split(',').map((s) => s.trim());

interface FailureEvent {
  t: number;
  what: string;
  /** A failure whose in-flight AI calls may be paid again (crashes, freezes); an AI outage pays nothing twice. */
  interrupts: boolean;
}

interface Report {
  scenario: string;
  description: string;
  jobs: number;
  lasts: number;
  lost: number;
  doubled: number;
  overlapping_runs: number;
  ai_calls_paid: number;
  repaid_in_flight: number;
  repaid_within_budget: number;
  repaid_beyond: number;
  duplicates_logged: number;
  failed_by_ai: number;
  dead_letters: number;
  dlq_codes: Record<string, number>;
  /** Messages still in ALT at the end (a settled message must leave the work-queue stream). */
  alt_left: number;
  /** The doubled jobs, each with the deliveries and times of its results. */
  doubled_detail: { id: string; results: { deliveries: unknown; end_time: unknown; stored: string }[] }[];
  recovery_s: (number | null)[];
  duration_s: number;
  events: { at_s: number; what: string }[];
  rate: number[];
}

const payload = (id: string) => JSON.stringify({
  id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `chaos ${id}`,
  tasks: [1, 2, 3].map((k) => ({ id: `t${k}`, description: `step ${k} of ${id}`, dependencies: k > 1 ? [`t${k - 1}`] : [] })),
});

const jobOf = (prompt: string) => /step \d of (\S+)$/.exec(prompt)?.[1] ?? null;

let lastStage: Stage | null = null;

class Stage {
  readonly name: string;
  readonly fake = new FakeOrchestrator({ latencyMs: 20, latencyJitterMs: 30, record: true });
  aiUrl = '';
  readonly workers: WorkerChild[] = [];
  readonly events: FailureEvent[] = [];
  readonly t0 = Date.now();
  nc!: NatsConnection;
  jsm!: JetStreamManager;
  url = '';

  constructor(name: string) {
    this.name = name;
    lastStage = this;
  }

  async start(url: string): Promise<void> {
    this.url = url;
    this.aiUrl = await this.fake.listen();
    this.nc = await connect({ servers: url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    // A new cluster elects its JetStream meta leader first: wait for it.
    for (let i = 0; ; i++) {
      try {
        this.jsm = await jetstreamManager(this.nc, { timeout: 2_000 });
        break;
      } catch (e) {
        if (i > 30) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env, NATS_URL: this.url, AI_URL: this.aiUrl, HTTP_PORT: '0', LOG_LEVEL: 'info', RUNNER_CONCURRENCY: '16',
      RUNNER_ACK_WAIT_MS: String(ACK_WAIT_MS), LAST_DUPLICATE_WINDOW_MS: '1000', AI_BREAKER_HALF_OPEN_MS: '2000',
      RUNNER_NAK_DELAY_MS: '500', RUNNER_NAK_MAX_DELAY_MS: '5000', RUNNER_JANITOR_INTERVAL_MS: '10000', ...extra,
    };
  }

  async worker(extra: Record<string, string> = {}): Promise<WorkerChild> {
    const w = spawnWorker(this.env(extra));
    this.workers.push(w);
    await w.started(120_000);
    return w;
  }

  mark(what: string, interrupts = true): void {
    this.events.push({ t: Date.now(), what, interrupts });
    process.stdout.write(`  ${this.name}: ${((Date.now() - this.t0) / 1000).toFixed(1)} s ${what}\n`);
  }

  async publishAll(): Promise<void> {
    const js = jetstream(this.nc);
    const window: Promise<unknown>[] = [];
    for (let i = 0; i < JOBS; i++) {
      window.push(js.publish('alt.submit', payload(`${this.name}-${i}`), { msgID: `${this.name}-${i}` }));
      if (window.length >= 256) await Promise.all(window.splice(0));
    }
    await Promise.all(window);
  }

  async stored(): Promise<number> {
    return (await this.jsm.streams.info('LAST').catch(() => null))?.state.messages ?? 0;
  }

  /** Resolves once `n` results are stored, or at the deadline; prints progress. */
  async waitFor(n: number, deadline: number): Promise<void> {
    let shown = 0;
    while (Date.now() < deadline) {
      const s = await this.stored().catch(() => 0);
      if (s >= n) return;
      if (s - shown >= Math.ceil(JOBS / 5)) {
        shown = s;
        process.stdout.write(`  ${this.name}: ${s}/${n} results\n`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async stop(): Promise<void> {
    if (process.env.CHAOS_DEBUG) return; // keep the workers' output for the report; they are stopped at exit
    await Promise.all(this.workers.map((w) => w.stop(5_000).catch(() => {})));
    await this.nc?.close().catch(() => {});
    await this.fake.close();
  }
}

/** What the records say about one scenario. */
async function measure(stage: Stage, description: string, started: number): Promise<Report> {
  const jsm = stage.jsm;
  const counts = new Map<string, number>();
  const detail = new Map<string, { deliveries: unknown; end_time: unknown; stored: string }[]>();
  const times: number[] = [];
  let failedByAi = 0;
  const info = await jsm.streams.info('LAST');
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage('LAST', { seq }).catch(() => null);
    if (!m) continue;
    const id = m.header.get('Alt-Id');
    counts.set(id, (counts.get(id) ?? 0) + 1);
    times.push(m.time.getTime());
    try {
      const doc = JSON.parse(new TextDecoder().decode(m.data)) as { end_time?: string; metadata?: { deliveries?: number } };
      (detail.get(id) ?? detail.set(id, []).get(id)!).push({ deliveries: doc.metadata?.deliveries, end_time: doc.end_time, stored: m.time.toISOString() });
    } catch {
      // not a .last
    }
    if (m.header.get('Last-Status') !== 'success') failedByAi++;
  }
  const dlqInfo = await jsm.streams.info('ALT_DLQ').catch(() => null);
  const deadLetters = dlqInfo?.state.messages ?? 0;
  const dlqCodes: Record<string, number> = {};
  for (let seq = dlqInfo?.state.first_seq ?? 1; dlqInfo && deadLetters > 0 && seq <= dlqInfo.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage('ALT_DLQ', { seq }).catch(() => null);
    const code = m?.header.get('Dlq-Code') ?? '?';
    dlqCodes[code] = (dlqCodes[code] ?? 0) + 1;
  }
  // The janitor (every 10 s here) settles what nats-server may have left below the ack floor.
  let altLeft = 0;
  for (let i = 0; i < 40; i++) {
    altLeft = (await jsm.streams.info('ALT').catch(() => null))?.state.messages ?? 0;
    if (altLeft === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  let lost = 0;
  let doubled = 0;
  for (let i = 0; i < JOBS; i++) {
    const c = counts.get(`${stage.name}-${i}`) ?? 0;
    if (c === 0) lost++;
    if (c > 1) doubled++;
  }
  // Calls per job at the AI: overlapping runs and re-paid answers.
  const byJob = new Map<string, RequestRecord[]>();
  for (const r of stage.fake.log) {
    const id = jobOf(r.prompt);
    if (id) (byJob.get(id) ?? byJob.set(id, []).get(id)!).push(r);
  }
  const failures = stage.events.filter((e) => e.interrupts).map((e) => e.t);
  let overlapping = 0;
  let paid = 0;
  let inFlight = 0;
  let withinBudget = 0;
  let beyond = 0;
  for (const calls of byJob.values()) {
    calls.sort((a, b) => a.start - b.start);
    let end = 0;
    let overlap = false;
    for (const c of calls) {
      if (c.start < end - 1) overlap = true;
      end = Math.max(end, c.end ?? Number.POSITIVE_INFINITY);
    }
    if (overlap) overlapping++;
    const answered = calls.filter((c) => c.status === 200);
    paid += answered.length;
    const first = new Map<string, RequestRecord>();
    for (const c of answered) {
      const earlier = first.get(c.prompt);
      if (!earlier) {
        first.set(c.prompt, c);
        continue;
      }
      // A failure between the first answer's start and this call's start caused it.
      const cause = failures.filter((t) => t >= earlier.start && t <= c.start);
      if (cause.some((t) => t <= (earlier.end ?? t))) inFlight++;
      else {
        const t = cause[0] ?? c.start;
        const aiBefore = answered.filter((x) => first.get(x.prompt) === x && (x.end ?? 0) <= t).reduce((a, x) => a + ((x.end ?? x.start) - x.start), 0);
        if (aiBefore <= BUDGET_MS) withinBudget++;
        else beyond++;
      }
    }
  }
  // Results per second, and the recovery after each failure.
  const origin = started;
  const secs = Math.max(1, Math.ceil(((times.length ? Math.max(...times) : Date.now()) - origin) / 1000) + 1);
  const rate = new Array<number>(secs).fill(0);
  for (const t of times) if (t >= origin) rate[Math.floor((t - origin) / 1000)]++;
  const recovery = stage.events.map((e, i) => {
    const s = Math.floor((e.t - origin) / 1000);
    // After an outage, "recovered" means back to the rate before it began.
    const ref = i > 0 && rate.slice(Math.max(0, s - 10), s).every((x) => x === 0) ? Math.floor((stage.events[i - 1].t - origin) / 1000) : s;
    const before = rate.slice(Math.max(0, ref - 10), ref).filter((x) => x > 0).sort((a, b) => a - b);
    if (before.length === 0) return null;
    const target = before[Math.floor(before.length / 2)] / 2;
    // Recovered when the rate is back for two seconds in a row (after the failure has ended).
    for (let k = s + 1; k + 1 < rate.length; k++) if (rate[k] >= target && rate[k + 1] >= target) return k - s;
    return null;
  });
  const duplicates = stage.workers.reduce((a, w) => a + w.output.join('').split('DUPLICATE_LAST').length - 1, 0);
  return {
    scenario: stage.name, description, jobs: JOBS, lasts: times.length, lost, doubled, overlapping_runs: overlapping,
    ai_calls_paid: paid, repaid_in_flight: inFlight, repaid_within_budget: withinBudget, repaid_beyond: beyond,
    duplicates_logged: duplicates, failed_by_ai: failedByAi, dead_letters: deadLetters, dlq_codes: dlqCodes, alt_left: altLeft,
    doubled_detail: [...counts].filter(([, c]) => c > 1).map(([id]) => ({ id, results: detail.get(id) ?? [] })), recovery_s: recovery,
    duration_s: Math.round((Date.now() - started) / 100) / 10, events: stage.events.map((e) => ({ at_s: Math.round((e.t - origin) / 100) / 10, what: e.what })), rate,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `during` while the scenario drains, and stops it when every job has its result or at the deadline. */
async function drain(stage: Stage, deadlineMs: number, during: (stop: () => boolean) => Promise<void>): Promise<void> {
  let done = false;
  const work = during(() => done);
  await stage.waitFor(JOBS, Date.now() + deadlineMs);
  done = true;
  await work;
}

/** Waits until `fraction` of the jobs have their result. */
async function atProgress(stage: Stage, fraction: number, stop: () => boolean): Promise<boolean> {
  while (!stop()) {
    if ((await stage.stored().catch(() => 0)) >= JOBS * fraction) return true;
    await sleep(100);
  }
  return false;
}

interface Scenario {
  name: string;
  description: string;
  run(): Promise<Report>;
}

/** A scenario on one nats-server with two workers: every job published, `inject` run while they drain. */
function onOneServer(name: string, description: string, deadlineMs: number, inject: (at: { stage: Stage; server: NatsServer; workers: WorkerChild[]; stop: () => boolean }) => Promise<void>): Scenario {
  return {
    name, description,
    async run() {
      const server = await NatsServer.start();
      const stage = new Stage(name);
      try {
        await stage.start(server.url);
        const workers = [await stage.worker(), await stage.worker()];
        await stage.publishAll();
        const started = Date.now();
        await drain(stage, deadlineMs, (stop) => inject({ stage, server, workers, stop }));
        return await measure(stage, description, started);
      } finally {
        await stage.stop();
        await server.dispose();
      }
    },
  };
}

const scenarios: Scenario[] = [
  onOneServer('kill-loop', 'two workers; one SIGKILLed and restarted every 2–4 s for the whole run', 300_000, async ({ stage, workers, stop }) => {
    let victim = workers[1];
    let seed = 11;
    while (!stop()) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      await sleep(2_000 + (seed % 2_000));
      if (stop()) break;
      victim.proc.kill('SIGKILL');
      stage.mark('worker SIGKILL');
      victim = await stage.worker();
    }
  }),
  onOneServer('server-kill', 'two workers; the nats-server SIGKILLed and restarted on its store, twice', 300_000, async ({ stage, server, stop }) => {
    for (const at of [0.25, 0.6]) {
      if (!(await atProgress(stage, at, stop))) return;
      await server.kill('SIGKILL');
      stage.mark('nats-server SIGKILL');
      await sleep(1_000);
      await server.restart();
      stage.mark('nats-server restarted', false);
    }
  }),
  onOneServer('lease-loss', 'two workers; one SIGSTOPped for longer than the ack wait, then continued', 300_000, async ({ stage, workers, stop }) => {
    if (!(await atProgress(stage, 0.3, stop))) return;
    const frozen = workers[0];
    frozen.proc.kill('SIGSTOP');
    stage.mark(`worker SIGSTOP (${(ACK_WAIT_MS + 2_000) / 1000} s)`);
    await sleep(ACK_WAIT_MS + 2_000);
    frozen.proc.kill('SIGCONT');
    stage.mark('worker SIGCONT', false);
  }),
  {
    name: 'cluster-leader', description: '3-node cluster, 3-replica streams; the ALT stream leader SIGKILLed, brought back later',
    async run() {
      const cluster = await NatsCluster.start(3);
      const stage = new Stage(this.name);
      try {
        await stage.start(cluster.url);
        // JetStream needs its meta leader before the first stream is created.
        for (let i = 0; i < 100; i++) {
          if (await stage.jsm.getAccountInfo().then(() => true, () => false)) break;
          await sleep(200);
        }
        await stage.worker({ RUNNER_STREAM_REPLICAS: '3' });
        await stage.worker({ RUNNER_STREAM_REPLICAS: '3' });
        await stage.publishAll();
        const started = Date.now();
        await drain(stage, 300_000, async (stop) => {
          if (!(await atProgress(stage, 0.3, stop))) return;
          const leader = (await stage.jsm.streams.info('ALT')).cluster?.leader;
          const victim = cluster.servers.find((s, i) => `n${i + 1}` === leader) ?? cluster.servers[0];
          await victim.kill('SIGKILL');
          stage.mark(`ALT leader ${leader} SIGKILL`);
          if (!(await atProgress(stage, 0.7, stop))) await sleep(0);
          await victim.restart();
          stage.mark('old leader restarted', false);
        });
        return await measure(stage, this.description, started);
      } finally {
        await stage.stop();
        await cluster.dispose();
      }
    },
  },
  onOneServer('ai-down', 'two workers; the AI side refuses connections for 60 s', 400_000, async ({ stage, stop }) => {
    if (!(await atProgress(stage, 0.2, stop))) return;
    const port = Number(new URL(stage.aiUrl).port);
    await stage.fake.close();
    stage.mark('AI side down (connection refused)');
    await sleep(60_000);
    await stage.fake.listen(port);
    stage.mark('AI side back', false);
  }),
  onOneServer('ai-503', 'two workers; the AI side answers 503 for 60 s', 400_000, async ({ stage, stop }) => {
    if (!(await atProgress(stage, 0.2, stop))) return;
    stage.fake.setFaults({ latencyMs: 20, latencyJitterMs: 30, errorRate: 1, errorStatus: 503 });
    stage.mark('AI side answers 503', false);
    await sleep(60_000);
    stage.fake.setFaults({ latencyMs: 20, latencyJitterMs: 30 });
    stage.mark('AI side answers again', false);
  }),
];

/** Results per second of each scenario, failures marked. */
function svg(reports: Report[]): string {
  const W = 760;
  const H = 130;
  const pad = 40;
  const panels = reports.map((r, i) => {
    const top = i * (H + 30) + 20;
    const max = Math.max(1, ...r.rate);
    const x = (s: number) => pad + (s / Math.max(1, r.rate.length - 1)) * (W - pad - 10);
    const y = (v: number) => top + H - (v / max) * H;
    const line = r.rate.map((v, s) => `${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    const marks = r.events.map((e) => `<line x1="${x(e.at_s).toFixed(1)}" y1="${top}" x2="${x(e.at_s).toFixed(1)}" y2="${top + H}" stroke="#c0392b" stroke-dasharray="3,3"/><text x="${(x(e.at_s) + 3).toFixed(1)}" y="${top + 10}" font-size="9" fill="#c0392b">${e.what.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`).join('');
    return `<text x="${pad}" y="${top - 5}" font-size="12" font-weight="bold">${r.scenario}: ${r.lasts}/${r.jobs} results, lost ${r.lost}, doubled ${r.doubled}</text>`
      + `<rect x="${pad}" y="${top}" width="${W - pad - 10}" height="${H}" fill="none" stroke="#ccc"/>`
      + `<text x="2" y="${top + 10}" font-size="9">${max}/s</text><text x="2" y="${top + H}" font-size="9">0</text>`
      + `<text x="${W - 60}" y="${top + H + 12}" font-size="9">${r.rate.length} s</text>`
      + `<polyline fill="none" stroke="#2c3e50" stroke-width="1.5" points="${line}"/>${marks}`;
  }).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${reports.length * (H + 30) + 20}" font-family="sans-serif">${panels}</svg>\n`;
}

function table(reports: Report[]): string {
  const head = '| scenario | jobs | lost | doubled | overlapping runs | AI calls paid | re-paid: in flight / within budget / beyond | duplicate PubAcks | failed by the AI outage | recovery (s) |';
  const rule = '|---|---|---|---|---|---|---|---|---|---|';
  const rows = reports.map((r) => `| ${r.scenario}: ${r.description} | ${r.jobs} | ${r.lost} | ${r.doubled} | ${r.overlapping_runs} | ${r.ai_calls_paid} | ${r.repaid_in_flight} / ${r.repaid_within_budget} / ${r.repaid_beyond} | ${r.duplicates_logged} | ${r.failed_by_ai + r.dead_letters} | ${r.recovery_s.map((x) => (x === null ? '–' : String(x))).join(', ') || '–'} |`);
  return [head, rule, ...rows].join('\n');
}

const selected = scenarios.filter((s) => !ONLY || ONLY.includes(s.name));
console.log(`chaos: ${selected.map((s) => s.name).join(', ')}; ${JOBS} jobs each of three chained tasks (fake AI 20–50 ms), ack wait ${ACK_WAIT_MS / 1000} s, on ${cpus().length} cores`);
const reports: Report[] = [];
for (const s of selected) {
  console.log(`\n${s.name}: ${s.description}`);
  const r = await s.run();
  reports.push(r);
  console.log(`  ${r.lasts}/${r.jobs} results in ${r.duration_s} s; lost ${r.lost}, doubled ${r.doubled}, overlapping runs ${r.overlapping_runs}, re-paid ${r.repaid_in_flight}/${r.repaid_within_budget}/${r.repaid_beyond}, duplicates ${r.duplicates_logged}, failed by AI ${r.failed_by_ai + r.dead_letters} ${JSON.stringify(r.dlq_codes)}, left in ALT ${r.alt_left}`);
  for (const d of r.doubled_detail) console.log(`  doubled ${d.id}: ${JSON.stringify(d.results)}`);
  if (process.env.CHAOS_DEBUG && r.dead_letters) {
    const seqs = new Set<string>();
    for (const w of lastStage!.workers) for (const l of w.output.join('').split('\n')) if (l.includes('MAX_DELIVER_EXCEEDED')) seqs.add(/"alt_stream_seq":(\d+)/.exec(l)?.[1] ?? '');
    const first = [...seqs].filter(Boolean).slice(0, 2);
    console.log(`  dead-lettered seqs (first): ${first.join(', ')}`);
    for (const [i, w] of lastStage!.workers.entries()) for (const l of w.output.join('').split('\n').filter((x) => first.some((q) => x.includes(`"alt_stream_seq":${q},`)))) console.log(`    w${i} ${l.slice(0, 330)}`);
  }
  if (process.env.CHAOS_DEBUG) for (const d of r.doubled_detail) for (const [i, w] of lastStage!.workers.entries()) for (const l of w.output.join('').split('\n').filter((x) => x.includes(`"${d.id}"`) || x.includes('lease lost') || x.includes('abandon'))) console.log(`    w${i} ${l.slice(0, 300)}`);
}
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'report.json'), `${JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, jobs: JOBS, reports }, null, 2)}\n`);
writeFileSync(join(OUT, 'throughput.svg'), svg(reports));
console.log(`\n${table(reports)}\n\nreport: ${join(OUT, 'report.json')}, plot: ${join(OUT, 'throughput.svg')}`);
const broken = reports.filter((r) => r.lost || r.doubled || r.overlapping_runs || r.repaid_beyond || r.failed_by_ai || r.dead_letters);
process.exitCode = broken.length ? 1 : 0;
