/**
 * `npm run bench:ai-cap`: what a barrage of oversized AI answers does to a worker (AI_MAX_RESPONSE_BYTES).
 * One `altlas worker` process (default configuration) on its own nats-server, the fake AI in its
 * own process answering prompts marked OVERSIZED with BENCH_CAP_ANSWER_CHARS characters (default
 * 40,000,000) and every other prompt normally. After a warm-up of 200 normal jobs the worker's idle
 * RSS is taken; then BENCH_CAP_JOBS oversized jobs (default 40) are published at once while normal
 * jobs run one after another beside them; then the RSS is sampled for BENCH_CAP_AFTER_S seconds
 * (default 60). It prints idle, peak and after RSS, after ÷ idle (target ≤ 1.2), a normal job's
 * latency alone and beside the barrage, and how the oversized jobs ended. BENCH_CAP_BEFORE=1 runs
 * the same again with the cap above the answers (64 MiB), as the worker was without it.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { NatsServer } from '../src/devtools/nats-server.ts';
import type { Last } from '../src/last/index.ts';
import { mb, rssOf, startFakeAiProcess, startWorkerProcess } from './processes.ts';

const JOBS = Number(process.env.BENCH_CAP_JOBS ?? 40);
const CHARS = Number(process.env.BENCH_CAP_ANSWER_CHARS ?? 40_000_000);
const AFTER_S = Number(process.env.BENCH_CAP_AFTER_S ?? 60);
const NORMAL = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const altJob = (id: string, text: string) => JSON.stringify({
  id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: id, tasks: [{ id: 't1', description: text, retry_count: 0, timeout_seconds: 120 }],
});

async function phase(label: string, cap: number | null): Promise<void> {
  const server = await NatsServer.start();
  const ai = await startFakeAiProcess();
  await fetch(`${ai.url}/_faults`, { method: 'POST', body: JSON.stringify({ outputRules: [{ match: 'OVERSIZED', chars: CHARS }] }) });
  const worker = await startWorkerProcess({ NATS_URL: server.url, AI_URL: ai.url, LOG_LEVEL: 'warn', ...(cap ? { AI_MAX_RESPONSE_BYTES: String(cap) } : {}) });
  const pid = worker.proc.pid!;
  const nc = await connect({ servers: server.url });
  const js = jetstream(nc);
  const arrived = new Map<string, { at: number; last: Last }>();
  const waiters = new Map<string, () => void>();
  nc.subscribe('last.>', { callback: (_e, m) => {
    const last = JSON.parse(new TextDecoder().decode(m.data)) as Last;
    arrived.set(last.alt_file_id, { at: performance.now(), last });
    waiters.get(last.alt_file_id)?.();
  } });
  const done = (id: string) => new Promise<void>((resolve) => (arrived.has(id) ? resolve() : waiters.set(id, resolve)));
  const normalJob = async (id: string) => {
    const t0 = performance.now();
    await js.publish('alt.submit', altJob(id, `Summarise item ${id} in one line.`));
    await done(id);
    return arrived.get(id)!.at - t0;
  };
  try {
    console.log(`\n${label}: cap ${cap ? `${cap} bytes` : 'the default'}, ${JOBS} answers of ${CHARS.toLocaleString('en')} characters`);
    const warm = Array.from({ length: 200 }, (_, i) => `warm-${i}`);
    await Promise.all(warm.map((id) => js.publish('alt.submit', altJob(id, `Warm up ${id}.`))));
    await Promise.all(warm.map(done));
    await sleep(10_000);
    const idle = rssOf(pid).rss;
    const alone: number[] = [];
    for (let i = 0; i < NORMAL; i++) alone.push(await normalJob(`alone-${i}`));
    console.log(`  idle RSS ${mb(idle)}; a normal job alone: p50 ${median(alone).toFixed(0)} ms`);

    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid).rss)), 100);
    const big = Array.from({ length: JOBS }, (_, i) => `oversized-${i}`);
    const t0 = performance.now();
    await Promise.all(big.map((id) => js.publish('alt.submit', altJob(id, `OVERSIZED answer number ${id}`))));
    const beside: number[] = [];
    const barrage = Promise.all(big.map(done));
    let n = 0;
    let finished = false;
    void barrage.then(() => (finished = true));
    while (!finished || n < NORMAL) beside.push(await normalJob(`beside-${n++}`));
    await barrage;
    clearInterval(sampler);
    const ends = new Map<string, number>();
    for (const id of big) {
      const r = arrived.get(id)!.last.task_results.t1;
      const end = `${r.status}${r.metadata.error_code ? ` ${String(r.metadata.error_code)}` : ''}`;
      ends.set(end, (ends.get(end) ?? 0) + 1);
    }
    console.log(`  barrage done in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${[...ends].map(([k, v]) => `${v} ${k}`).join(', ')}; peak RSS ${mb(peak)}`);
    console.log(`  a normal job beside the barrage: p50 ${median(beside).toFixed(0)} ms, max ${Math.max(...beside).toFixed(0)} ms over ${beside.length} jobs (alone: p50 ${median(alone).toFixed(0)} ms)`);
    let after = 0;
    for (let s = 10; s <= AFTER_S; s += 10) {
      await sleep(10_000);
      after = rssOf(pid).rss;
      console.log(`  ${s} s after: RSS ${mb(after)} (${(after / idle).toFixed(2)} × idle)`);
    }
    const ratio = after / idle;
    console.log(`  RSS ${AFTER_S} s after ÷ idle: ${ratio.toFixed(2)} (target ≤ 1.20: ${ratio <= 1.2 ? 'met' : 'NOT met'}); peak ÷ idle ${(peak / idle).toFixed(2)}`);
  } finally {
    await nc.close();
    await worker.stop();
    await ai.stop();
    await server.dispose();
  }
}

await phase('with the cap', null);
if (process.env.BENCH_CAP_BEFORE === '1') await phase('cap above the answers (as before the cap)', 64 * 1024 * 1024);
