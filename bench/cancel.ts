/**
 * `npm run bench:cancel`: how fast `altlas cancel` stops a running job. An `altlas worker`
 * process runs jobs whose AI call would take 60 s (the fake AI, over HTTP, records when each
 * request's socket closes); for each of BENCH_CANCELS jobs (default 20) the `altlas cancel`
 * command is run as a user would, and the time from starting the command to the fake AI seeing
 * the request's socket close is measured. Prints p50, p95 and max.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { FakeOrchestrator } from '../src/ai/fake-orchestrator.ts';
import { NatsServer } from '../src/devtools/nats-server.ts';
import { BIN, startWorkerProcess } from './processes.ts';

const CANCELS = Number(process.env.BENCH_CANCELS ?? 20);
const server = await NatsServer.start();
const fake = new FakeOrchestrator({ latencyMs: 60_000, record: true });
const aiUrl = await fake.listen();
const worker = await startWorkerProcess({ NATS_URL: server.url, AI_URL: aiUrl, LOG_LEVEL: 'warn' });
const nc = await connect({ servers: server.url });
const js = jetstream(nc);
const times: number[] = [];
try {
  console.log(`bench:cancel: ${CANCELS} jobs, each cancelled by \`altlas cancel\` while its AI call runs`);
  for (let i = 0; i < CANCELS; i++) {
    const id = `cancel-bench-${i}`;
    const before = fake.log.length;
    await js.publish('alt.submit', JSON.stringify({ id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: id, tasks: [{ id: 't1', description: `slow step of ${id}` }] }));
    while (fake.log.length === before) await new Promise((r) => setTimeout(r, 5));
    const entry = fake.log[fake.log.length - 1];
    const started = Date.now();
    await promisify(execFile)(BIN, ['cancel', id, '--server', server.url]);
    while (entry.end === null) await new Promise((r) => setTimeout(r, 1));
    times.push(entry.end - started);
    process.stdout.write(`  ${i + 1}/${CANCELS}: ${entry.end - started} ms\n`);
  }
  times.sort((a, b) => a - b);
  const pct = (p: number) => times[Math.min(times.length - 1, Math.ceil(times.length * p) - 1)];
  console.log(`\ncommand start → AI request aborted: p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, max ${times[times.length - 1]} ms (target: within 1,000 ms)`);
  console.log('(the command itself starts Node and connects to NATS; that is part of the figure)');
} finally {
  await nc.close();
  await worker.stop();
  await fake.close();
  await server.dispose();
}
