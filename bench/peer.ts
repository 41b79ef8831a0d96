/**
 * `npm run bench:peer`: altlas-runner against BullMQ on the same work. BENCH_JOBS jobs (default
 * 2,000) of three chained AI tasks with prompts of ~300 bytes, the same fake AI over HTTP in its
 * own process, concurrency 64, each worker in its own process, results stored (the LAST stream
 * for altlas, the job's return value for BullMQ). Each rate runs from the first job enqueued to
 * the last result stored. altlas runs `altlas worker` in its default configuration (job status,
 * checkpoints, metrics and info logs on); BullMQ uses Redis at REDIS_URL (default
 * redis://127.0.0.1:6379) and `fetch` for its AI calls.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Queue } from 'bullmq';
import { NatsServer } from '../src/devtools/nats-server.ts';
import { chainedJob, cpuSecondsOf, progress, since, startFakeAiProcess, startScript, startWorkerProcess } from './processes.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 2_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const jobs = Array.from({ length: JOBS }, (_, i) => chainedJob(i));

async function aiRequests(url: string): Promise<number> {
  return ((await (await fetch(`${url}/_stats`)).json()) as { requests: number }).requests;
}

async function altlas(aiUrl: string): Promise<number> {
  const server = await NatsServer.start();
  const worker = await startWorkerProcess({ NATS_URL: server.url, AI_URL: aiUrl, RUNNER_CONCURRENCY: String(CONCURRENCY), AI_MAX_CONCURRENCY: String(CONCURRENCY * 3), LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS ?? '' });
  const nc = await connect({ servers: server.url });
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const before = await aiRequests(aiUrl);
    const show = progress('altlas: .last stored', JOBS);
    const cpu0 = cpuSecondsOf(worker.proc.pid!);
    const t0 = performance.now();
    const window: Promise<unknown>[] = [];
    for (const j of jobs) {
      window.push(js.publish('alt.submit', j.alt));
      if (window.length >= 256) await Promise.all(window.splice(0));
    }
    await Promise.all(window);
    for (;;) {
      const stored = (await jsm.streams.info('LAST')).state.messages;
      show(stored);
      if (process.env.BENCH_DEBUG) console.log(JSON.stringify({ stored, ai: await fetch(`${aiUrl}/_stats`).then((r) => r.json()).then((x: any) => ({ inFlight: x.inFlight, max: x.maxInFlight, requests: x.requests })), consumer: await jsm.consumers.info('ALT', 'runner').then((c) => ({ ack_pending: c.num_ack_pending, pending: c.num_pending, waiting: c.num_waiting })) }));
      if (stored >= JOBS) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = since(t0);
    console.log(`  altlas worker process: ${((cpuSecondsOf(worker.proc.pid!) - cpu0) / JOBS * 1e6).toFixed(0)} µs CPU per job`);
    if (process.env.BENCH_DEBUG) console.log((await (await fetch(`http://127.0.0.1:${worker.httpPort}/metrics`)).text()).split('\n').filter((l) => /_(sum|count)\b/.test(l)).join('\n'));
    const calls = (await aiRequests(aiUrl)) - before;
    const dlq = (await jsm.streams.info('ALT_DLQ')).state.messages;
    if (calls !== JOBS * 3 || dlq !== 0) throw new Error(`altlas: ${calls} AI calls for ${JOBS * 3} tasks, ${dlq} dead letters`);
    return JOBS / seconds;
  } finally {
    await nc.close();
    await worker.stop();
    await server.dispose();
  }
}

async function bullmq(aiUrl: string, http: 'got' | 'fetch'): Promise<number> {
  const name = `altlas-peer-${process.pid}-${Date.now()}`;
  const redis = new URL(REDIS_URL);
  const connection = { host: redis.hostname, port: Number(redis.port || 6379) };
  const queue = new Queue(name, { connection });
  const worker = await startScript(new URL('./peer-bullmq-worker.ts', import.meta.url).pathname, { QUEUE: name, REDIS_URL, AI_URL: aiUrl, CONCURRENCY: String(CONCURRENCY), PEER_HTTP: http });
  try {
    const before = await aiRequests(aiUrl);
    const show = progress('BullMQ: jobs completed', JOBS);
    const cpu0 = cpuSecondsOf(worker.proc.pid!);
    const t0 = performance.now();
    for (let i = 0; i < JOBS; i += 256) await queue.addBulk(jobs.slice(i, i + 256).map((j) => ({ name: 'chained', data: { id: j.id, prompts: j.prompts } })));
    for (;;) {
      const done = await queue.getCompletedCount();
      show(done);
      if (done >= JOBS) break;
      if ((await queue.getFailedCount()) > 0) throw new Error('BullMQ: a job failed');
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = since(t0);
    console.log(`  BullMQ worker process: ${((cpuSecondsOf(worker.proc.pid!) - cpu0) / JOBS * 1e6).toFixed(0)} µs CPU per job`);
    const calls = (await aiRequests(aiUrl)) - before;
    if (calls !== JOBS * 3) throw new Error(`BullMQ: ${calls} AI calls for ${JOBS * 3} tasks`);
    return JOBS / seconds;
  } finally {
    await worker.stop();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
}

const ai = await startFakeAiProcess();
try {
  console.log(`bench:peer: ${JOBS} jobs of 3 chained AI calls (prompts ~300 bytes), concurrency ${CONCURRENCY}, fake AI over HTTP in its own process`);
  const ours = process.env.BENCH_ONLY === 'bullmq' ? 1 : await altlas(ai.url);
  console.log(`altlas-runner (default configuration): ${ours.toFixed(0)} jobs/s`);
  const theirs = process.env.BENCH_ONLY === 'altlas' ? 1 : await bullmq(ai.url, 'got');
  console.log(`BullMQ (Redis ${REDIS_URL}):            ${theirs.toFixed(0)} jobs/s`);
  console.log(`\nratio altlas / BullMQ: ${(ours / theirs).toFixed(2)} (target >= 1.5: ${ours / theirs >= 1.5 ? 'met' : 'NOT met'})`);
} finally {
  await ai.stop();
}
