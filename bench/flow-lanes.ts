/**
 * `npm run bench:flow-lanes`: priority lanes and tenant fairness (RUNNER_LANES=true), measured
 * from outside with `altlas worker` processes: a job starts when its first AI request reaches the
 * fake AI (its own log), and waited from its publish until then.
 *
 * 1. A `critical` job published behind 10,000 `low` ones while the fleet is saturated: its wait,
 *    p95 over 50 such jobs (target: within one AI latency).
 * 2. `high` saturating the fleet beside a `low` backlog: low's share of the jobs started
 *    (target: at least RUNNER_LANE_MIN_SHARE).
 * 3. Tenant A floods at 100 × tenant B's rate, beyond what the fleet runs: B's p95 wait ÷ its p95
 *    wait alone (target <= 1.2); and the same with 1,000 light tenants beside the flood.
 *
 * Beside each wait, a figure the machine's load does not move: how many jobs of the backlog or the
 * flood started between a job's publish and its own start (target: at most the fleet's slots, the
 * ones that came free first). On a loaded 2-core machine every process shares the CPU, and a wait
 * beside a flood includes the flood's CPU. For B, the workers log at debug level (alone and beside
 * the flood alike) and B's wait is split into parts (wait-parts.ts), printed with the CPU per job
 * and the event-loop delays of this process and the workers. A's producer is its own process
 * (flood-publisher.ts), so that its publishing does not delay this process's stamps.
 *
 * The light tenants' waits (part 4) are split the same way. BENCH_ONLY=3 runs parts 3-4, =4 part 4
 * alone; BENCH_KEEP_LOGS keeps the workers' logs of each split run and a jobs.json (id, publish time,
 * stream sequence, start at the fake AI) beside them, and prints where.
 *
 * Two workers of BENCH_SLOTS slots each; BENCH_LATENCY_MS the AI latency. Ends with one line of
 * JSON of the figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { FakeOrchestrator } from '../src/ai/fake-orchestrator.ts';
import { NatsServer } from '../src/devtools/nats-server.ts';
import { cpuMeter, startScript, startWorkerProcess, type Child } from './processes.ts';
import { readWorkerLines, splitTable, splitWaits, type Split } from './wait-parts.ts';

const LATENCY = Number(process.env.BENCH_LATENCY_MS ?? 100);
const SLOTS = Number(process.env.BENCH_SLOTS ?? 8);
const WORKERS = 2;
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 10_000);
const MIN_SHARE = 0.1;
const fake = new FakeOrchestrator({ record: true, latencyMs: LATENCY });
const aiUrl = await fake.listen();
const figures: Record<string, number> = {};

const job = (id: string) => JSON.stringify({ id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: id, tasks: [{ id: 't', description: `job ${id} says hello` }] });
const line = (label: string, value: string, target?: string, met?: boolean) => console.log(`  ${label.padEnd(64)} ${value}${target ? `  (target ${target}: ${met ? 'met' : 'NOT met'})` : ''}`);
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))] ?? NaN;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** When the fake AI first saw a request of each job (epoch ms), read incrementally from its log (cleared per stack). */
const seen = { map: new Map<string, number>(), read: 0 };
function startedAt(): Map<string, number> {
  if (fake.log.length < seen.read) Object.assign(seen, { map: new Map(), read: 0 });
  for (; seen.read < fake.log.length; seen.read++) {
    const e = fake.log[seen.read];
    const id = /job (\S+) says hello/.exec(e.prompt)?.[1];
    if (id && !seen.map.has(id)) seen.map.set(id, e.start);
  }
  return seen.map;
}

/** Jobs whose id starts with `prefix` that started after `from` and before `to` (epoch ms). */
function startsBetween(from: number, to: number, prefix: string): number {
  let n = 0;
  for (const [id, at] of startedAt()) if (id.startsWith(prefix) && at > from && at < to) n++;
  return n;
}

/** Clears the fake AI's log and what was read of it. */
function resetLog(): void {
  fake.log.length = 0;
  Object.assign(seen, { map: new Map(), read: 0 });
}

/** Two workers on a fresh server; with `logDir`, each writes its debug lines to `<logDir>/worker-<i>.log`. */
async function stack(logDir?: string) {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const workers: (Child & { httpPort: number })[] = [];
  for (let i = 0; i < WORKERS; i++) {
    const env = { NATS_URL: server.url, AI_URL: aiUrl, LOG_LEVEL: logDir ? 'debug' : 'warn', RUNNER_LANES: 'true', RUNNER_CONCURRENCY: String(SLOTS), RUNNER_LANE_MIN_SHARE: String(MIN_SHARE), AI_MAX_CONCURRENCY: String(SLOTS * 2) };
    workers.push(await startWorkerProcess(env, { logFile: logDir ? join(logDir, `worker-${i}.log`) : undefined }));
  }
  return {
    js, jsm,
    /** Tenant A's producer publishing at `rate` per second, in its own process, from now until stopped. */
    flood: (rate: number) => startScript(new URL('./flood-publisher.ts', import.meta.url).pathname, { NATS_URL: server.url, FLOOD_RATE: String(rate) }),
    /** The workers' event-loop delay p99 (ms) since the last call (their metric resets when read). */
    loopDelay: () => Promise.all(workers.map(async (w) => {
      const text = await fetch(`http://127.0.0.1:${w.httpPort}/metrics`).then((r) => r.text(), () => '');
      return Math.round(Number(/^nodejs_eventloop_delay_p99\S*\s+(\S+)/m.exec(text)?.[1] ?? NaN) * 1000);
    })),
    logs: workers.map((_, i) => join(logDir ?? '', `worker-${i}.log`)),
    /** CPU per job of the workers, the server and this process (the publisher and the fake AI), from now on. */
    cpu: () => cpuMeter({ 'worker 1': workers[0].proc.pid, 'worker 2': workers[1].proc.pid, 'nats-server': server.pid, 'bench (publisher, fake AI)': process.pid }),
    /** Publishes without waiting for each PubAck (a flood), then waits for all. */
    async burst(items: { subject: string; id: string }[]): Promise<void> {
      for (let i = 0; i < items.length; i += 500) await Promise.all(items.slice(i, i + 500).map((x) => js.publish(x.subject, job(x.id))));
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      await nc.close();
      await server.dispose();
    },
  };
}

async function waitUntil(ok: () => boolean, limitMs = 120_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(20);
  }
}

async function criticalBehindBacklog(): Promise<void> {
  console.log(`\n1. a critical job published behind ${BACKLOG} low ones, the fleet saturated (${WORKERS} workers × ${SLOTS} slots, AI latency ${LATENCY} ms)`);
  resetLog();
  const s = await stack();
  try {
    await s.burst(Array.from({ length: BACKLOG }, (_, i) => ({ subject: 'alt.low.bulk', id: `low-${i}` })));
    await waitUntil(() => startedAt().size >= WORKERS * SLOTS);
    const waits: number[] = [];
    const ahead: number[] = [];
    for (let i = 0; i < 50; i++) {
      const id = `crit-${i}`;
      const t0 = Date.now();
      await s.js.publish('alt.critical.ops', job(id));
      await waitUntil(() => startedAt().has(id), 60_000);
      const at = startedAt().get(id)!;
      waits.push(at - t0);
      ahead.push(startsBetween(t0, at, 'low-'));
      await sleep(20);
    }
    figures.critical_low_starts_ahead_p95 = p95(ahead);
    line('low jobs started between a critical\'s publish and its start, p95', String(p95(ahead)), `<= ${WORKERS * SLOTS} (the fleet's slots: the next free ones)`, p95(ahead) <= WORKERS * SLOTS);
    const lowLeft = BACKLOG - [...startedAt().keys()].filter((k) => k.startsWith('low-')).length;
    figures.critical_wait_p95_ms = p95(waits);
    if (process.env.BENCH_VERBOSE) console.log(`  waits: ${[...waits].sort((a, b) => a - b).join(" ")}`);
    line('low jobs still waiting when the last critical started', String(lowLeft));
    line('critical job wait p95 (publish to its first AI request)', `${p95(waits)} ms`, `<= ${LATENCY} ms (one AI latency)`, p95(waits) <= LATENCY);
  } finally {
    await s.close();
  }
}

async function minimumShare(): Promise<void> {
  console.log(`\n2. high saturating the fleet beside a low backlog: low's share of the starts (RUNNER_LANE_MIN_SHARE=${MIN_SHARE})`);
  resetLog();
  const s = await stack();
  try {
    const n = Math.round((WORKERS * SLOTS * 1000 / LATENCY) * 8);
    await s.burst([...Array.from({ length: 400 }, (_, i) => ({ subject: 'alt.low.bulk', id: `low-${i}` })), ...Array.from({ length: n }, (_, i) => ({ subject: 'alt.high.bulk', id: `high-${i}` }))]);
    // Count the starts while both lanes still had work: until high's backlog is three quarters done.
    await waitUntil(() => [...startedAt().keys()].filter((k) => k.startsWith('high-')).length >= n * 0.75);
    const started = [...startedAt().keys()];
    const low = started.filter((k) => k.startsWith('low-')).length;
    const share = low / started.length;
    figures.low_share = Number(share.toFixed(3));
    line('starts while high saturated (high, low)', `${started.length - low}, ${low}`);
    line('low lane\'s share of the starts', share.toFixed(3), `>= ${MIN_SHARE}`, share >= MIN_SHARE);
  } finally {
    await s.close();
  }
}

interface LightRun {
  waits: number[];
  ahead: number[];
  /** With `split`: where the waits went, the CPU per job and this process's event loop delay p99 (ms). */
  split?: Split;
  cpu?: string;
  loopP99Ms?: number;
  /** The workers' event-loop delay p99 (ms) over the run. */
  workerLoopP99Ms?: number[];
}

/**
 * Light tenants publish `perTenant` jobs each at random times over `seconds`, beside an optional
 * flood of `floodRate` jobs/s; returns the light jobs' waits (ms). With `split`, the workers log at
 * debug level and the waits are split into parts (see wait-parts.ts).
 */
async function lightWaits(tenants: number, perTenant: number, seconds: number, floodRate: number, split = false): Promise<LightRun> {
  resetLog();
  const logDir = split ? mkdtempSync(join(tmpdir(), 'flow-lanes-')) : undefined;
  const s = await stack(logDir);
  let closed = false;
  try {
    // Warm up: one job per tenant first (the workers' first jobs, each tenant's consumer made), so that the figures are the steady state.
    await s.burst(Array.from({ length: tenants }, (_, i) => ({ subject: `alt.medium.t${i}`, id: `warm-${i}` })));
    await waitUntil(() => startedAt().size >= tenants, 300_000);
    const published = new Map<string, number>();
    const seqOf = new Map<string, number>();
    const run: LightRun = { waits: [], ahead: [] };
    const warm = startedAt().size;
    const cpu = s.cpu();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const plan = Array.from({ length: tenants * perTenant }, (_, i) => ({ at: Math.random() * seconds * 1000, tenant: `t${i % tenants}`, id: `light-${i}` })).sort((a, b) => a.at - b.at);
    await s.loopDelay();
    // The flood keeps to its rate, ahead of the fleet (it grows a backlog in its lane), from its own process.
    const flood = floodRate > 0 ? await s.flood(floodRate) : null;
    const t0 = Date.now();
    let next = 0;
    const pending: Promise<unknown>[] = [];
    while (next < plan.length) {
      const now = Date.now() - t0;
      while (next < plan.length && plan[next].at <= now) {
        const p = plan[next++];
        published.set(p.id, Date.now());
        pending.push(s.js.publish(`alt.medium.${p.tenant}`, job(p.id)).then((a) => void seqOf.set(p.id, a.seq)));
      }
      await sleep(5);
    }
    await Promise.all(pending);
    await waitUntil(() => {
      const started = startedAt();
      return [...published.keys()].every((id) => started.has(id));
    }, 300_000);
    loop.disable();
    run.workerLoopP99Ms = await s.loopDelay();
    await flood?.stop();
    const started = startedAt();
    Object.assign(run, { waits: [...published].map(([id, t]) => started.get(id)! - t), ahead: [...published].map(([id, t]) => startsBetween(t, started.get(id)!, 'flood-')) });
    if (process.env.BENCH_KEEP_LOGS && logDir) (await import('node:fs')).writeFileSync(join(logDir, 'jobs.json'), JSON.stringify([...published].map(([id, t]) => ({ id, t, seq: seqOf.get(id), ai: started.get(id) }))));
    if (!split) return run;
    run.cpu = cpu(started.size - warm).line;
    run.loopP99Ms = Number((loop.percentile(99) / 1e6).toFixed(1));
    // The workers' lines are complete once they have stopped.
    await s.close();
    closed = true;
    const lines = readWorkerLines(s.logs, new Set(seqOf.values()));
    run.split = splitWaits([...published].map(([id, t]) => ({ publishedAt: t, seq: seqOf.get(id)!, aiAt: started.get(id)! })), lines);
    return run;
  } finally {
    if (!closed) await s.close();
    if (logDir && !process.env.BENCH_KEEP_LOGS) rmSync(logDir, { recursive: true, force: true });
    if (logDir && process.env.BENCH_KEEP_LOGS) console.log(`  logs kept in ${logDir}`);
  }
}

async function tenantFlood(): Promise<void> {
  const capacity = (WORKERS * SLOTS * 1000) / LATENCY;
  const bRate = Math.max(1, Math.round(capacity / 80));
  const seconds = Number(process.env.BENCH_FLOOD_S ?? 15);
  if (process.env.BENCH_ONLY !== '4') await oneTenantFlood(bRate, seconds, capacity);
  await lightTenants(bRate, seconds);
}

async function oneTenantFlood(bRate: number, seconds: number, capacity: number): Promise<void> {
  console.log(`\n3. tenant A floods at 100 × tenant B's rate (B ${bRate}/s, A ${bRate * 100}/s; the fleet runs ${capacity.toFixed(0)}/s), ${seconds} s`);
  const a = await lightWaits(1, bRate * seconds, seconds, 0, true);
  const f = await lightWaits(1, bRate * seconds, seconds, bRate * 100, true);
  const { waits: alone } = a;
  const { waits: flooded, ahead } = f;
  const ratio = p95(flooded) / Math.max(1, p95(alone));
  figures.b_wait_p95_alone_ms = p95(alone);
  figures.b_wait_p95_flooded_ms = p95(flooded);
  figures.b_wait_ratio = Number(ratio.toFixed(2));
  line('B\'s wait p95 alone, beside the flood', `${p95(alone)} ms, ${p95(flooded)} ms`);
  line('B\'s p95 wait beside the flood ÷ alone', ratio.toFixed(2), '<= 1.2', ratio <= 1.2);
  figures.b_flood_starts_ahead_p95 = p95(ahead);
  line('flood jobs started between a B job\'s publish and its start, p95', String(p95(ahead)), `<= ${WORKERS * SLOTS} (the fleet's slots)`, p95(ahead) <= WORKERS * SLOTS);
  // Where B's wait went (the workers logged at debug level for these two runs, alike).
  console.log(splitTable(a.split!, f.split!).join('\n'));
  console.log(`  alone: ${a.cpu}; event loop delay p99: this process ${a.loopP99Ms} ms, the workers ${a.workerLoopP99Ms!.join(', ')} ms`);
  console.log(`  beside the flood: ${f.cpu}; event loop delay p99: this process ${f.loopP99Ms} ms, the workers ${f.workerLoopP99Ms!.join(', ')} ms`);
  for (const [k, x] of [['alone', a.split!], ['flooded', f.split!]] as const) x.parts.forEach((p, i) => (figures[`b_${k}_part${i + 1}_p95_ms`] = p.p95));
  figures.bench_loop_delay_p99_flooded_ms = f.loopP99Ms!;
  figures.worker_loop_delay_p99_flooded_ms = Math.max(...f.workerLoopP99Ms!);
}

async function lightTenants(bRate: number, seconds: number): Promise<void> {
  const tenants = Number(process.env.BENCH_TENANTS ?? 1000);
  if (tenants <= 0) return;
  console.log(`\n4. ${tenants} light tenants (one job each over ${seconds} s) beside a tenant flooding at ${bRate * 100}/s`);
  const la = await lightWaits(tenants, 1, seconds, 0, true);
  const lf = await lightWaits(tenants, 1, seconds, bRate * 100, true);
  const { waits: lightAlone } = la;
  const { waits: lightFlooded, ahead: lightAhead } = lf;
  const r2 = p95(lightFlooded) / Math.max(1, p95(lightAlone));
  figures.light_wait_p95_alone_ms = p95(lightAlone);
  figures.light_wait_p95_flooded_ms = p95(lightFlooded);
  figures.light_wait_ratio = Number(r2.toFixed(2));
  line('light tenants\' wait p95 alone, beside the flood', `${p95(lightAlone)} ms, ${p95(lightFlooded)} ms`);
  line('light tenants\' p95 wait beside the flood ÷ alone', r2.toFixed(2), '<= 1.2', r2 <= 1.2);
  figures.light_flood_starts_ahead_p95 = p95(lightAhead);
  line('flood jobs started between a light job\'s publish and its start, p95', String(p95(lightAhead)), `<= ${WORKERS * SLOTS} (the fleet's slots)`, p95(lightAhead) <= WORKERS * SLOTS);
  // Where the light tenants' waits went (the workers logged at debug level in both runs, alike).
  console.log(splitTable(la.split!, lf.split!).join('\n').replace("part of B's wait", "part of a light job's wait"));
  console.log(`  alone: ${la.cpu}; event loop delay p99: this process ${la.loopP99Ms} ms, the workers ${la.workerLoopP99Ms!.join(', ')} ms`);
  console.log(`  beside the flood: ${lf.cpu}; event loop delay p99: this process ${lf.loopP99Ms} ms, the workers ${lf.workerLoopP99Ms!.join(', ')} ms`);
  for (const [k, x] of [['alone', la.split!], ['flooded', lf.split!]] as const) x.parts.forEach((p, i) => (figures[`light_${k}_part${i + 1}_p95_ms`] = p.p95));
  figures.light_consumer_made_flooded = lf.split!.consumerMade;
}

try {
  console.log(`load average (1, 5, 15 min) at the start: ${loadavg().map((x) => x.toFixed(1)).join(', ')}`);
  const only = process.env.BENCH_ONLY;
  if (!only || only === '1') await criticalBehindBacklog();
  if (!only || only === '2') await minimumShare();
  if (!only || only === '3' || only === '4') await tenantFlood();
  const load = loadavg().map((x) => Number(x.toFixed(1)));
  console.log(`\nload average (1, 5, 15 min) at the end: ${load.join(', ')} on ${navigator.hardwareConcurrency} cores`);
  console.log(JSON.stringify({ bench: 'flow-lanes', latency_ms: LATENCY, workers: WORKERS, slots: SLOTS, tenant_reserve: Number(process.env.RUNNER_TENANT_RESERVE ?? 1), load_average: load, ...figures }));
} finally {
  await fake.close();
}
