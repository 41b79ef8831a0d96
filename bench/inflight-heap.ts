/**
 * `scripts/node24 bench/inflight-heap.ts`: what one job in flight holds in an `altlas worker`. One
 * worker (RUNNER_CONCURRENCY and AI_MAX_CONCURRENCY 1,000) is measured idle, then with 1,000 jobs
 * of three chained AI tasks (bench:worker's jobs) each waiting on its first AI call (the fake AI
 * in its own process answers after 20 s): the heap used after a full collection (./gc-probe.ts)
 * and the anonymous memory, their difference divided by 1,000, and the RSS. BENCH_BIN=<checkout>/bin/altlas
 * measures another checkout's worker (the code before, for alternating runs).
 */
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { NatsServer } from '../src/devtools/nats-server.ts';
import { BIN, rssOf, startFakeAiProcess, startWorkerProcess } from './processes.ts';

const IN_FLIGHT = 1_000;
const payload = (i: number) => JSON.stringify({
  id: `bench-${i}`, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `Benchmark job ${i}: summarise the quarterly sales report`,
  description: 'A three-step job of about one kilobyte, as a segmentation service would send it.', mode: 'normal', persona: 'technical_expert',
  tasks: [1, 2, 3].map((t) => ({
    id: `task_00${t}`, description: `Step ${t}: read the previous output and write a short paragraph about region ${t} of the report.`,
    dependencies: t > 1 ? [`task_00${t - 1}`] : [], parameters: { temperature: 0.2, max_tokens: 256, format: 'text' }, timeout_seconds: 60, retry_count: 1,
  })),
  metadata: { source: 'bench', tags: ['bench', 'sales'], priority: 'medium' },
});

interface Probe { heapUsed: number; heapTotal: number; rss: number; anon: number }

const server = await NatsServer.start();
const ai = await startFakeAiProcess();
const nc = await connect({ servers: server.url });
try {
  await (await jetstreamManager(nc)).streams.add({ name: 'ALT', subjects: ['alt.>'] });
  await fetch(`${ai.url}/_faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs: 20_000 }) });
  const worker = await startWorkerProcess({
    NATS_URL: server.url, AI_URL: ai.url, LOG_LEVEL: 'info', RUNNER_CONCURRENCY: String(IN_FLIGHT), AI_MAX_CONCURRENCY: String(IN_FLIGHT),
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${join(import.meta.dirname, 'gc-probe.ts')}`.trim(),
  });
  const probe = async (): Promise<Probe> => {
    worker.output.length = 0;
    worker.proc.kill('SIGUSR2');
    for (;;) {
      const m = /gc-probe (\{.*\})/.exec(worker.output.join(''));
      if (m) return JSON.parse(m[1]) as Probe;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await new Promise((r) => setTimeout(r, 1_500));
  const idle = await probe();
  const js = jetstream(nc);
  for (let i = 0; i < IN_FLIGHT; i += 200) await Promise.all(Array.from({ length: Math.min(200, IN_FLIGHT - i) }, (_, k) => js.publish('alt.submit', payload(i + k))));
  for (;;) {
    const stats = (await (await fetch(`${ai.url}/_stats`)).json()) as { inFlight: number };
    if (stats.inFlight >= IN_FLIGHT) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 500));
  const rss = rssOf(worker.proc.pid!).rss;
  const busy = await probe();
  const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
  const perJob = (b: number) => (b / IN_FLIGHT / 1024).toFixed(1);
  console.log(`inflight-heap: ${BIN}`);
  console.log(`  heap used after a full collection: idle ${mb(idle.heapUsed)} MB, ${IN_FLIGHT} jobs in flight ${mb(busy.heapUsed)} MB: ${perJob(busy.heapUsed - idle.heapUsed)} KB per job`);
  console.log(`  anonymous memory: idle ${mb(idle.anon)} MB, in flight ${mb(busy.anon)} MB: ${perJob(busy.anon - idle.anon)} KB per job`);
  console.log(`  RSS: idle ${mb(idle.rss)} MB, in flight ${mb(rss)} MB (before the collection)`);
  await worker.stop();
} finally {
  await nc.close();
  await ai.stop();
  await server.dispose();
}
