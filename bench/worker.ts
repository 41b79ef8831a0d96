/**
 * `npm run bench:worker`: publishes ~1 KB runner-form jobs (three chained tasks) to a nats-server
 * started for the run, runs the worker in this process with an instant in-process AI provider,
 * and prints jobs/s end to end, p50/p99 job latency and peak RSS; then a baseline (a bare loop
 * with the same client that consumes each message, publishes a small result and acks) and the
 * ratio worker ÷ baseline; RSS with 1,000 jobs in flight (measured first); and the worker again
 * with tracing and metrics on, exporting to an OTLP/HTTP sink in this process: the ratio on ÷ off.
 *
 * BENCH_JOBS (default 20000) and BENCH_CONCURRENCY (default 64) change the size; BENCH_ONLY=worker
 * runs the worker phase alone (for profiling).
 */
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, AckPolicy } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { loadConfig, decodeLimits } from '../src/config/load.ts';
import { connectionOptions } from '../src/messaging/connect.ts';
import { NatsServer } from '../src/devtools/nats-server.ts';
import { assembleWorker } from '../src/runner.ts';
import { silentLogger } from '../src/telemetry/logger.ts';
import type { TaskBody } from '../src/engine/types.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTelemetry } from '../src/telemetry/sdk.ts';
import { RunnerMetrics } from '../src/telemetry/metrics.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const IN_FLIGHT = 1_000;

const payload = (i: number) => JSON.stringify({
  id: `bench-${i}`, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `Benchmark job ${i}: summarise the quarterly sales report`,
  description: 'A three-step job of about one kilobyte, as a segmentation service would send it.',
  mode: 'normal', persona: 'technical_expert',
  tasks: [1, 2, 3].map((t) => ({
    id: `task_00${t}`, description: `Step ${t}: read the previous output and write a short paragraph about region ${t} of the report.`,
    dependencies: t > 1 ? [`task_00${t - 1}`] : [], parameters: { temperature: 0.2, max_tokens: 256, format: 'text' }, timeout_seconds: 60, retry_count: 1,
  })),
  metadata: { source: 'bench', tags: ['bench', 'sales'], priority: 'medium' },
});

const instant: TaskBody = async (task) => ({ text: `answer to ${task.id}`, model_used: 'instant', tokens_used: 8, processing_time_ms: 0 });

let peakRss = 0;
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function publishAll(nc: NatsConnection, n: number, label: string): Promise<void> {
  const js = jetstream(nc);
  const window: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    window.push(js.publish('alt.submit', payload(i)));
    if (window.length >= 512) await Promise.all(window.splice(0));
    if ((i + 1) % 5000 === 0) process.stdout.write(`  ${label}: published ${i + 1}/${n}\n`);
  }
  await Promise.all(window);
}

/** Deletes the streams of the previous phase and creates an empty ALT stream to publish into. */
async function freshStreams(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const s of ['ALT', 'LAST', 'ALT_DLQ']) await jsm.streams.delete(s).catch(() => {});
  await jsm.streams.add({ name: 'ALT', subjects: ['alt.>'] });
}

let metrics: RunnerMetrics | null = null;

/** An OTLP/HTTP endpoint that accepts and drops everything, counting requests. */
async function otlpSink(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests, close: () => new Promise((r) => server.close(() => r())) };
}

async function runWorker(nc: NatsConnection, url: string, n: number, concurrency: number, body: TaskBody, untilInFlight?: number, withStatus = false) {
  const config = loadConfig({ NATS_URL: url, RUNNER_CONCURRENCY: String(concurrency), RUNNER_TASK_CONCURRENCY: '4', RUNNER_JANITOR_INTERVAL_MS: '0' });
  const latencies: number[] = [];
  let done = 0;
  let resolveDone!: () => void;
  const finished = new Promise<void>((r) => (resolveDone = r));
  const stack = await assembleWorker({
    conn: { nc, connected: () => true, onReconnect: () => {} }, config, logger: silentLogger(), body, stores: withStatus, pullExpiresMs: 2_000,
    metrics: () => metrics,
    onOutcome: (o) => {
      latencies.push(o.durationMs);
      if (++done % 5000 === 0) process.stdout.write(`  worker: ${done}/${n} jobs done\n`);
      if (done >= n) resolveDone();
    },
  });
  const started = performance.now();
  if (untilInFlight) {
    while (stack.worker.state.inFlight < untilInFlight) await new Promise((r) => setTimeout(r, 20));
    const rss = process.memoryUsage().rss;
    await stack.close();
    return { rss };
  }
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await stack.close();
  return { seconds, latencies: latencies.sort((a, b) => a - b) };
}

/**
 * The bare loop: consume, publish a result, ack. `protocol` publishes a result as large as a
 * `.last` and double-acks, as the worker must: the floor the protocol itself sets.
 */
async function runBaseline(nc: NatsConnection, n: number, concurrency: number, protocol = false): Promise<number> {
  const result = protocol ? JSON.stringify({ status: 'success', padding: 'x'.repeat(3_800) }) : '{"status":"success"}';
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await freshStreams(nc);
  await jsm.streams.add({ name: 'LAST', subjects: ['last.>'] });
  await jsm.consumers.add('ALT', { durable_name: 'baseline', ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_ack_pending: 10_000 });
  await publishAll(nc, n, 'baseline');
  const consumer = await js.consumers.get('ALT', 'baseline');
  let done = 0;
  let inFlight = 0;
  let wake: (() => void) | null = null;
  const started = performance.now();
  const messages = await consumer.consume({ max_messages: concurrency });
  for await (const m of messages) {
    inFlight++;
    void js.publish(`last.${m.seq}`, result, { msgID: `b:${m.seq}` }).then(async () => {
      if (protocol) await m.ackAck();
      else m.ack();
      inFlight--;
      done++;
      wake?.();
    });
    while (inFlight >= concurrency) await new Promise<void>((r) => (wake = r));
    if (done + inFlight >= n) break;
  }
  while (done < n) await new Promise<void>((r) => (wake = r));
  await messages.close();
  return (performance.now() - started) / 1000;
}

const server = await NatsServer.start();
try {
  const nc = await connect({ ...connectionOptions(loadConfig({ NATS_URL: server.url }), 'bench'), waitOnFirstConnect: false });
  console.log(`bench:worker: ${JOBS} jobs of ${payload(0).length} bytes, 3 chained tasks, worker concurrency ${CONCURRENCY}, nats-server ${nc.info?.version}`);

  await freshStreams(nc);
  if (process.env.BENCH_ONLY === 'worker') {
    await publishAll(nc, JOBS, 'worker');
    const only = await runWorker(nc, server.url, JOBS, CONCURRENCY, instant);
    console.log(`worker: ${(JOBS / only.seconds!).toFixed(0)} jobs/s, p50 ${pct(only.latencies!, 0.5).toFixed(1)} ms, p99 ${pct(only.latencies!, 0.99).toFixed(1)} ms`);
    await nc.close();
    await server.dispose();
    process.exit(0);
  }
  console.log('1,000 jobs in flight (AI answers held back), measured first in a fresh process:');
  await publishAll(nc, IN_FLIGHT, 'in-flight');
  const hold: TaskBody = (_t, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  const beforeRss = process.memoryUsage().rss;
  const inflight = await runWorker(nc, server.url, IN_FLIGHT, IN_FLIGHT, hold, IN_FLIGHT);

  await freshStreams(nc);

  console.log('baseline: bare consume -> publish small result -> ack');
  const baseSeconds = await runBaseline(nc, JOBS, CONCURRENCY);
  await freshStreams(nc);
  console.log('protocol floor: the same loop with a 3.8 KB result and a double ack');
  const floorSeconds = await runBaseline(nc, JOBS, CONCURRENCY, true);
  await freshStreams(nc);

  console.log('worker: decode -> run graph (instant AI) -> .last -> publish -> ack');
  await publishAll(nc, JOBS, 'worker');
  peakRss = process.memoryUsage().rss;
  const w = await runWorker(nc, server.url, JOBS, CONCURRENCY, instant);
  const workerPeak = peakRss;
  await freshStreams(nc);

  console.log('worker with job status (KV) and task checkpoints on, as `altlas worker` runs by default');
  await publishAll(nc, JOBS, 'status');
  const withStatus = await runWorker(nc, server.url, JOBS, CONCURRENCY, instant, undefined, true);
  await freshStreams(nc);

  console.log('worker with tracing and metrics on, exporting OTLP/HTTP to an in-process sink');
  const sink = await otlpSink();
  Object.assign(process.env, { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_EXPORTER_OTLP_PROTOCOL: process.env.BENCH_OTLP_PROTOCOL ?? 'http/protobuf', OTEL_METRIC_EXPORT_INTERVAL: '1000', OTEL_TRACES_SAMPLER: 'always_on' });
  const telemetry = startTelemetry();
  metrics = new RunnerMetrics({ inFlight: () => 0, breakerState: () => 'closed', consumer: () => null });
  await publishAll(nc, JOBS, 'traced');
  const traced = await runWorker(nc, server.url, JOBS, CONCURRENCY, instant);
  await telemetry.shutdown();
  metrics.close();
  await sink.close();
  await freshStreams(nc);

  const workerRate = JOBS / w.seconds!;
  const tracedRate = JOBS / traced.seconds!;
  const baseRate = JOBS / baseSeconds;
  console.log('\nresults');
  console.log(`  baseline: ${baseRate.toFixed(0)} jobs/s (${baseSeconds.toFixed(2)} s)`);
  console.log(`  worker:   ${workerRate.toFixed(0)} jobs/s (${w.seconds!.toFixed(2)} s), job latency p50 ${pct(w.latencies!, 0.5).toFixed(1)} ms, p99 ${pct(w.latencies!, 0.99).toFixed(1)} ms, peak RSS ${mb(workerPeak)}`);
  console.log(`  protocol floor: ${(JOBS / floorSeconds).toFixed(0)} jobs/s (ratio to the baseline: ${(baseSeconds / floorSeconds).toFixed(3)})`);
  console.log(`  ratio worker / baseline: ${(workerRate / baseRate).toFixed(3)} (target >= 0.6: ${workerRate / baseRate >= 0.6 ? 'met' : 'NOT met'})`);
  console.log(`  worker with status and checkpoints: ${(JOBS / withStatus.seconds!).toFixed(0)} jobs/s, p50 ${pct(withStatus.latencies!, 0.5).toFixed(1)} ms, p99 ${pct(withStatus.latencies!, 0.99).toFixed(1)} ms (ratio to the worker without: ${(JOBS / withStatus.seconds! / workerRate).toFixed(3)})`);
  console.log(`  worker with telemetry: ${tracedRate.toFixed(0)} jobs/s, p50 ${pct(traced.latencies!, 0.5).toFixed(1)} ms, p99 ${pct(traced.latencies!, 0.99).toFixed(1)} ms; ${sink.requests()} OTLP requests received`);
  console.log(`  ratio telemetry on / off: ${(tracedRate / workerRate).toFixed(3)} (target >= 0.8: ${tracedRate / workerRate >= 0.8 ? 'met' : 'NOT met'})`);
  console.log(`  RSS with ${IN_FLIGHT} jobs in flight: ${mb(inflight.rss!)} (before: ${mb(beforeRss)}; target < 250 MB: ${inflight.rss! < 250 * 1024 * 1024 ? 'met' : 'NOT met'})`);
  await nc.close();
} finally {
  clearInterval(rssTimer);
  await server.dispose();
}
