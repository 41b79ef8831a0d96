/**
 * `npm run chaos`: the promises "each job runs once, nothing is lost, nothing is paid twice beyond
 * the stated bound" measured against real failures of real processes. Every worker process
 * (`bin/altlas worker`, concurrency 16, ack wait 5 s, `LAST_DUPLICATE_WINDOW_MS=1000` so that a
 * second `.last` is stored, not de-duplicated) gets a fake AI of its own on its own port (answers in
 * 100–300 ms, every request logged with its time), so each AI call is attributed to the process
 * that made it. Jobs are three chained AI tasks; half of them are published before the failures
 * start (a backlog), the rest fed evenly while they go on.
 *
 *   pauses        one worker, 600 jobs; SIGSTOP 5 s then 6 s running, six times
 *   kills         two workers, 1,500 jobs; a SIGKILL storm (one worker every 2–4 s, both at once every
 *                 fourth time), each restarted at once, for 60 s
 *   server-kills  two workers, 1,500 jobs; the nats-server SIGKILLed five times (3 s down, restarted on
 *                 its store and port), every 12 s
 *   mixed         two workers, 1,500 jobs; one worker SIGKILLed every 2–4 s for 60 s while the other is
 *                 SIGSTOPped for 12 s (past the ack wait, even counted from the server's restart) and
 *                 the nats-server killed for 3 s in that pause, twice
 *   cluster-leader, ai-down, ai-503 (run by name or `--scenario all`): a 3-node cluster's stream
 *                 leader killed, the AI side refusing connections / answering 503 for 60 s
 *
 * Counted from raw records, never from the runner's counters (src/devtools/chaos-count.ts): `.last`
 * records in LAST by Alt-Id (lost: none, doubled: more than one); runs from the workers' `run started`
 * / `run ended` lines, overlapping when two runs of one message ran at once (a run held across a
 * pause of its worker that then stopped without doing anything ends at the pause); AI requests that reached a fake after the job's `.last` was stored; DLQ
 * entries by code; deliveries per message; answers paid again, each explained by a failure of the
 * worker that was first paid for it (in flight at it, or completed within the checkpoint budget), or
 * beyond the README's bound. Targets: 0 lost, 0 doubled, 0 overlapping runs, 0 AI calls after the
 * `.last`, 0 DLQ entries, 0 re-paid beyond the bound, max deliveries within the scenario's bound,
 * 0 worker processes that exited unasked (each worker's exit code or signal and its time are in the
 * report; one the harness did not kill or stop is printed at once). Workers run in sessions of their
 * own: a stopped worker in this process's group would get the kernel's SIGHUP when the group is
 * orphaned (the shell that started the harness exiting), as 2 of 9 `pauses` runs once did.
 *
 * `--scenario name[,name]` (or `all`), `--quick` (about a third of the jobs and failures, for a
 * trial). It prints a table per scenario and a summary, writes `report.json`, `throughput.svg`
 * (results per second, failures marked) and the workers' logs under CHAOS_OUT (default .chaos/),
 * and exits 1 when a target is missed. Every process it starts is stopped.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { FakeOrchestrator } from '../src/ai/fake-orchestrator.ts';
import { callsAfterLast, deliveriesPerMessage, overlappingRuns, repaidCalls, runsFromLines, unexplainedRedeliveries, type Call, type Failure, type Run, type Span, type StoredLast } from '../src/devtools/chaos-count.ts';
import { NatsCluster, NatsServer } from '../src/devtools/nats-server.ts';
import { spawnWorker, type WorkerChild, type WorkerExit } from '../src/devtools/worker-process.ts';

const { values: args } = parseArgs({ options: { scenario: { type: 'string' }, quick: { type: 'boolean', default: false } } });
const QUICK = args.quick === true;
const OUT = process.env.CHAOS_OUT ?? join(import.meta.dirname, '..', '.chaos');
const BUDGET_MS = 2_000; // RUNNER_CHECKPOINT_BUDGET_MS, the default
const ACK_WAIT_MS = 5_000;
const MAX_DELIVER = 5; // RUNNER_MAX_DELIVER, the default
const AI_LATENCY = { latencyMs: 100, latencyJitterMs: 200 };
/** Minutes to wait after the failures for the last results. */
const DRAIN_MS = 180_000;
const scale = (n: number) => (QUICK ? Math.max(1, Math.round(n / 3)) : n);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

const payload = (id: string) => JSON.stringify({
  id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `chaos ${id}`,
  tasks: [1, 2, 3].map((k) => ({ id: `t${k}`, description: `step ${k} of ${id}`, dependencies: k > 1 ? [`t${k - 1}`] : [] })),
});

const jobOf = (prompt: string) => /step \d of (\S+)$/.exec(prompt)?.[1] ?? null;

/** One worker process with its own fake AI. */
class Proc {
  readonly label: string;
  readonly fake = new FakeOrchestrator({ ...AI_LATENCY, record: true });
  child!: WorkerChild;
  /** Resolves once the process logged that it started (or gave up starting). */
  ready: Promise<void> = Promise.resolve();
  /** When it logged that it started. */
  readyAt = 0;
  diedAt: number | null = null;
  /** When it was spawned. */
  spawnedAt = 0;
  /** Set when the harness itself ends the process (SIGKILL, or the stop at the end): any other exit is unasked. */
  endAsked: string | null = null;
  readonly frozen: Span[] = [];
  #stoppedAt: number | null = null;

  constructor(label: string) {
    this.label = label;
  }

  get alive(): boolean {
    return this.diedAt === null && this.child.proc.exitCode === null && this.child.proc.signalCode === null;
  }

  get stopped(): boolean {
    return this.#stoppedAt !== null;
  }

  signal(sig: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): void {
    const now = Date.now();
    if (sig === 'SIGSTOP') this.#stoppedAt = now;
    if ((sig === 'SIGCONT' || sig === 'SIGKILL') && this.#stoppedAt !== null) {
      this.frozen.push({ from: this.#stoppedAt, to: now });
      this.#stoppedAt = null;
    }
    if (sig === 'SIGKILL') {
      this.diedAt = now;
      this.endAsked = 'SIGKILL';
    }
    this.child.proc.kill(sig);
  }

  lines(): string[] {
    return (this.child?.output ?? []).join('').split('\n');
  }
}

interface Report {
  scenario: string;
  description: string;
  jobs: number;
  workers_started: number;
  lasts: number;
  lost: number;
  doubled: number;
  runs: number;
  overlapping_runs: number;
  /** Runs held across a pause of their worker that ended after it without doing anything more: how many, and the longest time from SIGCONT to their end line. */
  held_across_pause: number;
  held_tail_max_ms: number;
  ai_calls: number;
  ai_calls_paid: number;
  ai_calls_after_last: number;
  repaid_in_flight: number;
  repaid_within_budget: number;
  repaid_beyond: number;
  dead_letters: number;
  dlq_codes: Record<string, number>;
  max_deliveries: number;
  /** Redeliveries no failure explains (src/devtools/chaos-count.ts). */
  unexplained_redeliveries: number;
  max_deliveries_bound: number;
  deliveries: Record<string, number>;
  duplicates_logged: number;
  not_success: number;
  /** Messages still in ALT at the end (a settled message must leave the work-queue stream). */
  alt_left: number;
  /** How each worker process ended: exit code or signal, seconds since the scenario began and since its spawn, and whether the harness asked for it. */
  worker_exits: ExitRecord[];
  /** Worker processes that ended without the harness asking (a crash, an exit of its own, a signal from outside). */
  unasked_exits: number;
  failures: number;
  duration_s: number;
  passed: boolean;
  missed: string[];
  /** What broke a target, with the runs and calls that show it. */
  evidence: Record<string, unknown[]>;
  recovery_s: (number | null)[];
  events: { at_s: number; what: string }[];
  rate: number[];
}

/** How one worker process ended. */
interface ExitRecord {
  worker: string;
  pid: number | null;
  code: number | null;
  signal: string | null;
  /** Seconds since the scenario began (the times its notes print). */
  at_s: number;
  /** Seconds since the process was spawned. */
  after_spawn_s: number;
  /** What the harness asked (`SIGKILL`, `stop`), or null: the process ended unasked. */
  asked: string | null;
  /** Its last output line, for an unasked exit. */
  last_line?: string;
}

class Stage {
  readonly name: string;
  readonly procs: Proc[] = [];
  readonly failures: Failure[] = [];
  readonly exits: ExitRecord[] = [];
  readonly t0 = Date.now();
  nc!: NatsConnection;
  jsm!: JetStreamManager;
  url = '';
  #count = 0;
  extraEnv: Record<string, string> = {};

  constructor(name: string) {
    this.name = name;
    live.add(this);
  }

  async start(url: string): Promise<void> {
    this.url = url;
    this.nc = await connect({ servers: url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    // A new cluster elects its JetStream meta leader first: wait for it.
    for (let i = 0; ; i++) {
      try {
        this.jsm = await jetstreamManager(this.nc, { timeout: 2_000 });
        await this.jsm.getAccountInfo();
        break;
      } catch (e) {
        if (i > 60) throw e;
        await sleep(500);
      }
    }
  }

  /** Starts a worker process with a fake AI of its own; resolves once it logged that it started. */
  async worker(): Promise<Proc> {
    const p = this.spawn();
    await p.ready;
    return p;
  }

  /** A worker process with a fake AI of its own, starting (`ready` resolves once it logged that it started). */
  spawn(): Proc {
    const p = new Proc(`w${this.#count++}`);
    this.procs.push(p);
    p.ready = p.fake.listen().then((aiUrl) => {
      p.spawnedAt = Date.now();
      // A session of its own: while it is SIGSTOPped, the kernel's SIGHUP to an orphaned process
      // group (this harness's parent shell exiting) must not reach it (README: What it promises).
      p.child = spawnWorker({
        ...process.env, NATS_URL: this.url, AI_URL: aiUrl, HTTP_PORT: '0', LOG_LEVEL: 'info', RUNNER_CONCURRENCY: '16',
        RUNNER_ACK_WAIT_MS: String(ACK_WAIT_MS), LAST_DUPLICATE_WINDOW_MS: '1000', AI_BREAKER_HALF_OPEN_MS: '2000',
        RUNNER_NAK_DELAY_MS: '500', RUNNER_NAK_MAX_DELAY_MS: '5000', RUNNER_JANITOR_INTERVAL_MS: '10000', ...this.extraEnv,
      }, { ownSession: true });
      void p.child.exited.then((e) => this.exited(p, e));
      return p.child.started(120_000);
    }).then(() => {
      p.readyAt = Date.now();
    }).catch((e) => {
      process.stdout.write(`  ${this.name}: ${p.label}: ${(e as Error).message.split('\n')[0]}\n`);
    });
    return p;
  }

  /**
   * Records how a worker process ended. One the harness did not end (no SIGKILL of its own, not the
   * stop at the end) is printed at once and counted as a failure from then on: its runs end there.
   */
  exited(p: Proc, e: WorkerExit): void {
    const s = (ms: number) => Math.round(ms / 100) / 10;
    const r: ExitRecord = { worker: p.label, pid: p.child.pid ?? null, code: e.code, signal: e.signal, at_s: s(e.at - this.t0), after_spawn_s: s(e.at - p.spawnedAt), asked: p.endAsked };
    if (r.asked === null) {
      r.last_line = p.lines().filter((l) => l.trim() !== '').at(-1)?.slice(0, 500);
      // The processes of the machine at that moment, for whoever looks for what else ran (or killed).
      try {
        mkdirSync(join(OUT, 'logs', this.name), { recursive: true });
        writeFileSync(join(OUT, 'logs', this.name, `ps-at-exit-${p.label}.txt`), execFileSync('ps', ['-eo', 'pid,ppid,pgid,sid,stat,etimes,args', '--sort=start_time'], { encoding: 'utf8', timeout: 5_000 }));
      } catch {
        // no ps: the exit record is enough
      }
      p.diedAt ??= e.at;
      const f = this.fail(`worker ${p.label} exited unexpectedly: code ${e.code} signal ${e.signal} at +${r.at_s.toFixed(1)} s (${r.after_spawn_s.toFixed(1)} s after its spawn, pid ${r.pid}); its last line: ${r.last_line ?? '(none)'}`, p);
      f.until = Number.POSITIVE_INFINITY;
    }
    this.exits.push(r);
  }

  /** Notes a failure; one that lasts (a pause, the server down) gets its `until` when it ends. */
  fail(what: string, worker: Proc | null): Failure {
    const f: Failure = { at: Date.now(), worker: worker?.label ?? null, what };
    this.failures.push(f);
    this.note(what);
    return f;
  }

  note(what: string): void {
    process.stdout.write(`  ${this.name}: ${((Date.now() - this.t0) / 1000).toFixed(1)} s ${what}\n`);
  }

  /** Publishes jobs `from`..`to`-1, each until the server took it (a restarting server refuses some for a while). */
  async publish(from: number, to: number): Promise<void> {
    const js = jetstream(this.nc);
    const one = async (i: number) => {
      for (;;) {
        try {
          await js.publish('alt.submit', payload(`${this.name}-${i}`), { msgID: `${this.name}-${i}`, timeout: 5_000 });
          return;
        } catch {
          await sleep(250);
        }
      }
    };
    for (let i = from; i < to; i += 128) await Promise.all(Array.from({ length: Math.min(128, to - i) }, (_, k) => one(i + k)));
  }

  /** Half the jobs now, the rest evenly over `overMs`; resolves when all are published. */
  async feed(jobs: number, overMs: number, stop: () => boolean): Promise<void> {
    const backlog = Math.ceil(jobs / 2);
    await this.publish(0, backlog);
    const began = Date.now();
    let sent = backlog;
    while (sent < jobs) {
      const due = stop() ? jobs : Math.min(jobs, backlog + Math.floor(((Date.now() - began) / overMs) * (jobs - backlog)));
      if (due > sent) {
        await this.publish(sent, due);
        sent = due;
      }
      await sleep(200);
    }
  }

  async stored(): Promise<number> {
    return (await this.jsm.streams.info('LAST').catch(() => null))?.state.messages ?? 0;
  }

  async stop(): Promise<void> {
    for (const p of this.procs) p.endAsked ??= 'stop';
    for (const p of this.procs) if (p.stopped) p.signal('SIGCONT');
    await Promise.all(this.procs.map((p) => p.child?.stop(5_000).catch(() => {})));
    for (const p of this.procs) p.diedAt ??= Date.now();
    await this.nc?.close().catch(() => {});
    await Promise.all(this.procs.map((p) => p.fake.close().catch(() => {})));
    live.delete(this);
  }
}

const live = new Set<Stage>();
const servers = new Set<{ dispose(): Promise<void> }>();
// The workers run in sessions of their own, out of reach of signals sent to this process's group:
// whatever way this process ends (but SIGKILL), none of them outlives it.
process.on('exit', () => {
  for (const s of live) for (const p of s.procs) if (p.child && p.child.exit === null) p.child.proc.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    process.stdout.write(`\n${sig}: stopping every process started\n`);
    void Promise.all([...live].map((s) => s.stop().catch(() => {})))
      .then(() => Promise.all([...servers].map((s) => s.dispose().catch(() => {}))))
      .finally(() => process.exit(130));
  });
}

/** Targets of every scenario: (name, measured, target, met). */
function targets(r: Omit<Report, 'passed' | 'missed'>): [string, number, string, boolean][] {
  return [
    ['lost', r.lost, '0', r.lost === 0],
    ['doubled', r.doubled, '0', r.doubled === 0],
    ['overlapping runs', r.overlapping_runs, '0', r.overlapping_runs === 0],
    ['AI calls after the .last', r.ai_calls_after_last, '0', r.ai_calls_after_last === 0],
    ['DLQ entries', r.dead_letters, '0', r.dead_letters === 0],
    ['re-paid beyond the bound', r.repaid_beyond, '0', r.repaid_beyond === 0],
    ['redeliveries no failure explains', r.unexplained_redeliveries, '0', r.unexplained_redeliveries === 0],
    ['max deliveries of a job', r.max_deliveries, `≤ ${r.max_deliveries_bound}`, r.max_deliveries <= r.max_deliveries_bound],
    ['worker processes that exited unasked', r.unasked_exits, '0', r.unasked_exits === 0],
  ];
}

/** What the records say about one scenario. */
async function measure(stage: Stage, description: string, jobs: number, started: number, maxDeliveries: number): Promise<Report> {
  const jsm = stage.jsm;
  // The janitor (every 10 s here) settles what nats-server may have left below the ack floor: three passes at most.
  let altLeft = 0;
  for (let i = 0; i < 70; i++) {
    altLeft = (await jsm.streams.info('ALT').catch(() => null))?.state.messages ?? 0;
    if (altLeft === 0) break;
    await sleep(500);
  }
  const altState = altLeft > 0 ? await (async () => {
    const info = await jsm.streams.info('ALT').catch(() => null);
    const c = await jsm.consumers.info('ALT', 'runner').catch(() => null);
    const seqs: number[] = [];
    for (let seq = info?.state.first_seq ?? 1; info && seq <= info.state.last_seq && seqs.length < 20; seq++) if (await jsm.streams.getMessage('ALT', { seq }).then(() => true, () => false)) seqs.push(seq);
    return [{ stream: info?.state, ack_floor: c?.ack_floor, delivered: c?.delivered, num_ack_pending: c?.num_ack_pending, num_pending: c?.num_pending, num_redelivered: c?.num_redelivered, seqs }];
  })() : [];
  const counts = new Map<string, number>();
  const lastsStored: StoredLast[] = [];
  const firstStored = new Map<string, number>();
  const times: number[] = [];
  let notSuccess = 0;
  const info = await jsm.streams.info('LAST');
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage('LAST', { seq }).catch(() => null);
    if (!m) continue;
    const id = m.header.get('Alt-Id');
    counts.set(id, (counts.get(id) ?? 0) + 1);
    const t = m.time.getTime();
    if (!firstStored.has(id) || firstStored.get(id)! > t) firstStored.set(id, t);
    times.push(t);
    if (m.header.get('Last-Status') !== 'success') notSuccess++;
    try {
      const doc = JSON.parse(new TextDecoder().decode(m.data)) as { metadata?: { deliveries?: number } };
      lastsStored.push({ job: id, deliveries: Number(doc.metadata?.deliveries), at: t });
    } catch {
      // not a .last
    }
  }
  const dlqInfo = await jsm.streams.info('ALT_DLQ').catch(() => null);
  const deadLetters = dlqInfo?.state.messages ?? 0;
  const dlqCodes: Record<string, number> = {};
  const dlqSeqs: unknown[] = [];
  for (let seq = dlqInfo?.state.first_seq ?? 1; dlqInfo && deadLetters > 0 && seq <= dlqInfo.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage('ALT_DLQ', { seq }).catch(() => null);
    const code = m?.header.get('Dlq-Code') ?? '?';
    dlqCodes[code] = (dlqCodes[code] ?? 0) + 1;
    if (dlqSeqs.length < 20) dlqSeqs.push({ code, headers: m ? Object.fromEntries([...m.header.keys()].map((k) => [k, m.header.get(k)])) : null });
  }
  let lost = 0;
  let doubled = 0;
  const lostIds: string[] = [];
  for (let i = 0; i < jobs; i++) {
    const c = counts.get(`${stage.name}-${i}`) ?? 0;
    if (c === 0) {
      lost++;
      lostIds.push(`${stage.name}-${i}`);
    }
    if (c > 1) doubled++;
  }
  const end = Date.now();
  mkdirSync(join(OUT, 'logs', stage.name), { recursive: true });
  for (const p of stage.procs) writeFileSync(join(OUT, 'logs', stage.name, `${p.label}.log`), (p.child?.output ?? []).join(''));
  const runs: Run[] = stage.procs.flatMap((p) => runsFromLines(p.label, p.lines(), p.diedAt ?? end));
  const frozen = new Map(stage.procs.map((p) => [p.label, p.frozen]));
  const calls: Call[] = stage.procs.flatMap((p) => p.fake.log.flatMap((r) => {
    const job = jobOf(r.prompt);
    return job ? [{ worker: p.label, job, prompt: r.prompt, start: r.start, end: r.end, status: r.status }] : [];
  }));
  writeFileSync(join(OUT, 'logs', stage.name, 'ai-calls.json'), JSON.stringify(calls));
  writeFileSync(join(OUT, 'logs', stage.name, 'frozen.json'), JSON.stringify(Object.fromEntries(frozen)));
  const { overlaps, tails } = overlappingRuns(runs, frozen, calls, lastsStored);
  const after = callsAfterLast(calls, firstStored);
  const repaid = repaidCalls(calls, stage.failures, BUDGET_MS);
  const perMessage = deliveriesPerMessage(runs);
  const unexplained = unexplainedRedeliveries(runs, stage.failures, 3 * ACK_WAIT_MS);
  const deliveries: Record<string, number> = {};
  for (const n of perMessage.values()) deliveries[n] = (deliveries[n] ?? 0) + 1;
  const maxSeen = Math.max(0, ...perMessage.values());
  const duplicates = stage.procs.reduce((a, p) => a + p.lines().filter((l) => l.includes('DUPLICATE_LAST')).length, 0);
  // Results per second, and the recovery after each failure.
  const secs = Math.max(1, Math.ceil(((times.length ? Math.max(...times) : end) - started) / 1000) + 1);
  const rate = new Array<number>(secs).fill(0);
  for (const t of times) if (t >= started) rate[Math.floor((t - started) / 1000)]++;
  const recovery = stage.failures.map((e) => {
    const s = Math.floor((e.at - started) / 1000);
    const before = rate.slice(Math.max(0, s - 10), s).filter((x) => x > 0).sort((a, b) => a - b);
    if (before.length === 0) return null;
    const target = before[Math.floor(before.length / 2)] / 2;
    for (let k = s + 1; k + 1 < rate.length; k++) if (rate[k] >= target && rate[k + 1] >= target) return k - s;
    return null;
  });
  const rel = (t: number) => Math.round((t - started) / 10) / 100;
  const runOf = (r: Run) => ({ worker: r.worker, deliveries: r.deliveries, start_s: rel(r.start), end_s: rel(r.end), outcome: r.outcome });
  const evidence: Record<string, unknown[]> = {
    lost: lostIds.slice(0, 20),
    doubled: [...counts].filter(([, c]) => c > 1).slice(0, 20).map(([id, c]) => ({ id, lasts: c })),
    overlapping_runs: overlaps.slice(0, 20).map((o) => ({ seq: o.seq, ms: o.ms, a: runOf(o.a), b: runOf(o.b) })),
    ai_calls_after_last: after.slice(0, 20).map((c) => ({ job: c.job, worker: c.worker, after_ms: c.afterMs, start_s: rel(c.start), status: c.status, prompt: c.prompt })),
    dlq: dlqSeqs,
    alt_left: altState,
    repaid_beyond: repaid.beyond.slice(0, 20).map((c) => ({ job: c.job, prompt: c.prompt, first: { worker: c.first.worker, start_s: rel(c.first.start), end_s: c.first.end === null ? null : rel(c.first.end) }, again: { worker: c.worker, start_s: rel(c.start) } })),
    unexplained_redeliveries: unexplained.slice(0, 20).map((u) => ({ seq: u.run.seq, run: runOf(u.run), previous: u.previous && runOf(u.previous) })),
    max_deliveries: [...perMessage].filter(([, n]) => n > maxDeliveries).slice(0, 20).map(([seq, n]) => ({ seq, deliveries: n, runs: runs.filter((r) => r.seq === seq).map(runOf) })),
  };
  for (const k of Object.keys(evidence)) if (evidence[k].length === 0) delete evidence[k];
  const base = {
    scenario: stage.name, description, jobs, workers_started: stage.procs.length, lasts: times.length, lost, doubled,
    runs: runs.length, overlapping_runs: overlaps.length, held_across_pause: tails.length, held_tail_max_ms: Math.max(0, ...tails.map((t) => t.ms)), ai_calls: calls.length, ai_calls_paid: repaid.paid, ai_calls_after_last: after.length,
    repaid_in_flight: repaid.inFlight, repaid_within_budget: repaid.withinBudget, repaid_beyond: repaid.beyond.length,
    dead_letters: deadLetters, dlq_codes: dlqCodes, max_deliveries: maxSeen, max_deliveries_bound: maxDeliveries, unexplained_redeliveries: unexplained.length, deliveries,
    duplicates_logged: duplicates, not_success: notSuccess, alt_left: altLeft, worker_exits: [...stage.exits], unasked_exits: stage.exits.filter((x) => x.asked === null).length, failures: stage.failures.length,
    duration_s: Math.round((end - started) / 100) / 10, evidence, recovery_s: recovery,
    events: stage.failures.map((e) => ({ at_s: Math.round((e.at - started) / 100) / 10, what: e.what })), rate,
  };
  const missed = targets(base).filter(([, , , ok]) => !ok).map(([name]) => name);
  if (altLeft > 0) missed.push('messages left in ALT');
  return { ...base, passed: missed.length === 0, missed };
}

/** Puts the exits of the stage's processes, once it stopped them all, in its report (an unasked one found late is a target missed too). */
function withExits(r: Report, stage: Stage): Report {
  r.worker_exits = [...stage.exits];
  r.unasked_exits = stage.exits.filter((x) => x.asked === null).length;
  if (r.unasked_exits > 0 && !r.missed.includes('worker processes that exited unasked')) r.missed.push('worker processes that exited unasked');
  r.passed = r.missed.length === 0;
  return r;
}

/** Waits until `n` results are stored (or the deadline), printing progress. */
async function waitFor(stage: Stage, n: number, deadline: number): Promise<void> {
  let shown = 0;
  while (Date.now() < deadline) {
    const s = await stage.stored().catch(() => 0);
    if (s >= n) return;
    if (s - shown >= Math.ceil(n / 5)) {
      shown = s;
      stage.note(`${s}/${n} results`);
    }
    await sleep(500);
  }
}

interface Scenario {
  name: string;
  description: string;
  /** Run by default (the others by name, or with `--scenario all`). */
  main: boolean;
  run(): Promise<Report>;
}

interface Ctx {
  stage: Stage;
  server: NatsServer;
  procs: Proc[];
  /** True once every job has its result and the failures may stop. */
  done: () => boolean;
}

/**
 * A scenario on one nats-server: `workers` worker processes, `jobs` jobs fed as the failures go on
 * (`inject`, which runs for at least `minMs`), then every result awaited and measured.
 */
function onOneServer(o: { name: string; description: string; main: boolean; workers: number; jobs: number; minMs: number; maxDeliveries: number }, inject: (c: Ctx) => Promise<void>): Scenario {
  return {
    name: o.name, description: o.description, main: o.main,
    async run() {
      const server = await NatsServer.start();
      servers.add(server);
      const stage = new Stage(o.name);
      let report: Report;
      try {
        await stage.start(server.url);
        const procs: Proc[] = [];
        for (let i = 0; i < o.workers; i++) procs.push(await stage.worker());
        const started = Date.now();
        let stopped = false;
        const feeding = stage.feed(o.jobs, o.minMs * 0.7, () => stopped);
        await sleep(1_000);
        await inject({ stage, server, procs, done: () => stopped });
        await feeding;
        stage.note('failures over; waiting for every result');
        await waitFor(stage, o.jobs, Date.now() + DRAIN_MS);
        stopped = true;
        report = await measure(stage, o.description, o.jobs, started, o.maxDeliveries);
      } finally {
        await stage.stop();
        await server.dispose();
        servers.delete(server);
      }
      return withExits(report, stage);
    },
  };
}

/** A seeded sequence in [0, 1). */
function seeded(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

/**
 * SIGKILLs a worker every 2–4 s (counted from the last kill, not from its replacement's start, so that
 * the kills do not fall into step with the ack wait), both at once every fourth time unless `only`
 * is set, and starts a new process in each one's place, until `until`. A victim has worked for
 * 1.5 s at least since it started (else the kill waits): a worker killed again and again as soon as
 * it starts burns a delivery of the messages it was just handed each time, a crash loop rather than
 * a storm.
 */
async function killStorm(stage: Stage, procs: Proc[], until: number, only?: number): Promise<void> {
  const random = seeded(11);
  const starting: Promise<void>[] = [];
  let next = Date.now();
  for (let k = 1; ; k++) {
    next += 2_000 + Math.floor(random() * 2_000);
    await sleep(Math.max(0, next - Date.now()));
    if (Date.now() >= until) break;
    const slots = only !== undefined ? [only] : k % 4 === 0 ? [0, 1] : [Math.floor(random() * procs.length)];
    for (const i of slots) {
      if (procs[i].stopped) continue;
      await procs[i].ready;
      await sleep(procs[i].readyAt + 1_500 - Date.now());
      procs[i].signal('SIGKILL');
      // Dead for ever: a request it wrote just before may reach its fake only after the kill.
      stage.fail(`${procs[i].label} SIGKILL`, procs[i]).until = Number.POSITIVE_INFINITY;
      const p = stage.spawn();
      procs[i] = p;
      starting.push(p.ready);
    }
  }
  await Promise.all(starting);
}

async function killServer(stage: Stage, server: NatsServer, downMs: number): Promise<void> {
  await server.kill('SIGKILL');
  const f = stage.fail('nats-server SIGKILL', null);
  await sleep(downMs);
  await server.restart();
  f.until = Date.now();
  stage.note('nats-server restarted');
}

const JOBS = scale(1_500);

const scenarios: Scenario[] = [
  onOneServer({ name: 'pauses', description: `one worker, ${scale(600)} jobs; SIGSTOP 5 s then 6 s running, ${scale(6)} times`, main: true, workers: 1, jobs: scale(600), minMs: scale(6) * 11_000, maxDeliveries: 2 }, async ({ stage, procs }) => {
    for (let i = 0; i < scale(6); i++) {
      procs[0].signal('SIGSTOP');
      const f = stage.fail(`${procs[0].label} SIGSTOP`, procs[0]);
      await sleep(5_000);
      procs[0].signal('SIGCONT');
      f.until = Date.now();
      stage.note(`${procs[0].label} SIGCONT`);
      await sleep(6_000);
    }
  }),
  onOneServer({ name: 'kills', description: `two workers, ${JOBS} jobs; SIGKILL storm (one worker every 2–4 s, both every fourth time) for ${scale(60)} s`, main: true, workers: 2, jobs: JOBS, minMs: scale(60) * 1_000, maxDeliveries: MAX_DELIVER }, async ({ stage, procs }) => {
    await killStorm(stage, procs, Date.now() + scale(60) * 1_000);
  }),
  onOneServer({ name: 'server-kills', description: `two workers, ${JOBS} jobs; nats-server SIGKILLed ${scale(5)} times (3 s down, restarted on its store), every 12 s`, main: true, workers: 2, jobs: JOBS, minMs: scale(5) * 12_000, maxDeliveries: MAX_DELIVER }, async ({ stage, server }) => {
    for (let i = 0; i < scale(5); i++) {
      await sleep(9_000);
      await killServer(stage, server, 3_000);
    }
    await sleep(3_000);
  }),
  onOneServer({ name: 'mixed', description: `two workers, ${JOBS} jobs; one SIGKILLed every 2–4 s for ${scale(60)} s while the other is SIGSTOPped 12 s with the nats-server killed 3 s in that pause, ${scale(2)} times`, main: true, workers: 2, jobs: JOBS, minMs: scale(60) * 1_000, maxDeliveries: MAX_DELIVER }, async ({ stage, server, procs }) => {
    const until = Date.now() + scale(60) * 1_000;
    const storm = killStorm(stage, procs, until, 1);
    for (let i = 0; i < scale(2); i++) {
      await sleep(i === 0 ? 10_000 : 15_000);
      const paused = procs[0];
      paused.signal('SIGSTOP');
      const f = stage.fail(`${paused.label} SIGSTOP`, paused);
      await sleep(1_500);
      await killServer(stage, server, 3_000);
      await sleep(12_000 - 1_500 - 3_000);
      paused.signal('SIGCONT');
      f.until = Date.now();
      stage.note(`${paused.label} SIGCONT`);
    }
    await storm;
  }),
  {
    name: 'cluster-leader', description: `3-node cluster, 3-replica streams, two workers, ${JOBS} jobs; the ALT stream leader SIGKILLed, back 20 s later`, main: false,
    async run() {
      const cluster = await NatsCluster.start(3);
      servers.add(cluster);
      const stage = new Stage(this.name);
      stage.extraEnv = { RUNNER_STREAM_REPLICAS: '3' };
      let report: Report;
      try {
        await stage.start(cluster.url);
        await stage.worker();
        await stage.worker();
        const started = Date.now();
        const feeding = stage.feed(JOBS, 20_000, () => false);
        await sleep(8_000);
        const leader = (await stage.jsm.streams.info('ALT')).cluster?.leader;
        const victim = cluster.servers.find((_, i) => `n${i + 1}` === leader) ?? cluster.servers[0];
        await victim.kill('SIGKILL');
        stage.fail(`ALT leader ${leader} SIGKILL`, null);
        await sleep(20_000);
        await victim.restart();
        stage.note('old leader restarted');
        await feeding;
        await waitFor(stage, JOBS, Date.now() + DRAIN_MS);
        report = await measure(stage, this.description, JOBS, started, MAX_DELIVER - 1);
      } finally {
        await stage.stop();
        await cluster.dispose();
        servers.delete(cluster);
      }
      return withExits(report, stage);
    },
  },
  onOneServer({ name: 'ai-down', description: `two workers, ${JOBS} jobs; every AI side refuses connections for 60 s`, main: false, workers: 2, jobs: JOBS, minMs: 70_000, maxDeliveries: MAX_DELIVER }, async ({ stage, procs }) => {
    await sleep(5_000);
    const ports = procs.map((p) => Number(new URL(p.fake.url).port));
    await Promise.all(procs.map((p) => p.fake.close()));
    // The answers being sent are cut with their connections: paid, and paid again after the outage.
    const f = stage.fail('AI side down (connection refused)', null);
    await sleep(60_000);
    await Promise.all(procs.map((p, i) => p.fake.listen(ports[i])));
    f.until = Date.now();
    stage.note('AI side back');
  }),
  onOneServer({ name: 'ai-503', description: `two workers, ${JOBS} jobs; every AI side answers 503 for 60 s`, main: false, workers: 2, jobs: JOBS, minMs: 70_000, maxDeliveries: MAX_DELIVER }, async ({ stage, procs }) => {
    await sleep(5_000);
    for (const p of procs) p.fake.setFaults({ ...AI_LATENCY, errorRate: 1, errorStatus: 503 });
    stage.note('AI side answers 503');
    await sleep(60_000);
    for (const p of procs) p.fake.setFaults(AI_LATENCY);
    stage.note('AI side answers again');
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
    const marks = r.events.map((e) => `<line x1="${x(e.at_s).toFixed(1)}" y1="${top}" x2="${x(e.at_s).toFixed(1)}" y2="${top + H}" stroke="#c0392b" stroke-opacity="0.5" stroke-dasharray="3,3"/>`).join('');
    return `<text x="${pad}" y="${top - 5}" font-size="12" font-weight="bold">${r.scenario}: ${r.lasts}/${r.jobs} results, ${r.failures} failures (red), ${r.passed ? 'every target met' : `missed: ${r.missed.join(', ')}`}</text>`
      + `<rect x="${pad}" y="${top}" width="${W - pad - 10}" height="${H}" fill="none" stroke="#ccc"/>`
      + `<text x="2" y="${top + 10}" font-size="9">${max}/s</text><text x="2" y="${top + H}" font-size="9">0</text>`
      + `<text x="${W - 60}" y="${top + H + 12}" font-size="9">${r.rate.length} s</text>`
      + `<polyline fill="none" stroke="#2c3e50" stroke-width="1.5" points="${line}"/>${marks}`;
  }).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${reports.length * (H + 30) + 20}" font-family="sans-serif">${panels}</svg>\n`;
}

function scenarioTable(r: Report): string {
  const rows = targets(r).map(([name, got, target, ok]) => `| ${name} | ${target} | ${got} | ${ok ? 'pass' : 'FAIL'} |`);
  return ['| target | wanted | measured | |', '|---|---|---|---|', ...rows].join('\n');
}

function summary(reports: Report[]): string {
  const head = '| scenario | s | jobs | lost | doubled | overlapping runs | AI calls after the `.last` | DLQ | re-paid: in flight / within budget / beyond | max deliveries | AI calls paid | |';
  const rule = '|---|---|---|---|---|---|---|---|---|---|---|---|';
  const rows = reports.map((r) => `| ${r.scenario}: ${r.description} | ${Math.round(r.duration_s)} | ${r.jobs} | ${r.lost} | ${r.doubled} | ${r.overlapping_runs} | ${r.ai_calls_after_last} | ${r.dead_letters} | ${r.repaid_in_flight} / ${r.repaid_within_budget} / ${r.repaid_beyond} | ${r.max_deliveries} (≤ ${r.max_deliveries_bound}) | ${r.ai_calls_paid} | ${r.passed ? 'pass' : 'FAIL'} |`);
  return [head, rule, ...rows].join('\n');
}

const wanted = args.scenario?.split(',').map((s) => s.trim());
const unknown = wanted?.filter((n) => n !== 'all' && !scenarios.some((s) => s.name === n)) ?? [];
if (unknown.length) {
  console.error(`chaos: no scenario ${unknown.join(', ')}; there are ${scenarios.map((s) => s.name).join(', ')} (or all)`);
  process.exit(2);
}
const selected = scenarios.filter((s) => (wanted ? wanted.includes('all') || wanted.includes(s.name) : s.main));
console.log(`chaos: ${selected.map((s) => s.name).join(', ')}${QUICK ? ' (quick)' : ''}; jobs of three chained tasks, a fake AI per worker (100–300 ms), ack wait ${ACK_WAIT_MS / 1000} s, concurrency 16; ${cpus().length} cores, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const reports: Report[] = [];
const logs = join(OUT, 'logs');
for (const s of selected) {
  console.log(`\n${s.name}: ${s.description}`);
  const r = await s.run();
  reports.push(r);
  console.log(`  ${r.lasts}/${r.jobs} results in ${r.duration_s} s, ${r.failures} failures, ${r.runs} runs, ${r.ai_calls} AI calls; deliveries ${JSON.stringify(r.deliveries)}; DLQ ${JSON.stringify(r.dlq_codes)}; not success ${r.not_success}; DUPLICATE_LAST lines ${r.duplicates_logged}; left in ALT ${r.alt_left}; runs held across a pause ${r.held_across_pause} (the longest ended ${r.held_tail_max_ms} ms after SIGCONT)`);
  console.log(`  worker exits: ${r.worker_exits.map((x) => `${x.worker} ${x.signal ?? `code ${x.code}`} at +${x.at_s} s${x.asked ? ` (${x.asked})` : ' UNASKED'}`).join(', ')}`);
  console.log(`\n${scenarioTable(r)}\n\n  ${s.name}: ${r.passed ? 'PASS' : `FAIL (${r.missed.join(', ')})`}`);
  for (const [k, v] of Object.entries(r.evidence)) console.log(`  ${k}: ${JSON.stringify(v.slice(0, 3))}`);
}
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'report.json'), `${JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, load: loadavg(), quick: QUICK, reports }, null, 2)}\n`);
writeFileSync(join(OUT, 'throughput.svg'), svg(reports));
console.log(`\n${summary(reports)}\n\nreport: ${join(OUT, 'report.json')}, plot: ${join(OUT, 'throughput.svg')}, worker logs: ${logs}`);
process.exitCode = reports.every((r) => r.passed) ? 0 : 1;
