/**
 * `npm run bench:scale`: 1, 2 and 4 `altlas worker` processes on one durable consumer, each with
 * concurrency 64, the fake AI answering after BENCH_LATENCY_MS (default 200 ms) in its own
 * process. Jobs of three chained AI tasks. Prints jobs/s for each and the ratio to one process,
 * and for one process its efficiency: jobs/s ÷ (concurrency ÷ (latency × tasks per job)), the
 * rate a worker that adds nothing to the AI's latency would reach. Each run prints the CPU that
 * the workers, nats-server and the fake AI used: on a machine of two cores, four workers and the
 * servers can use them all, and then the rate follows the CPU per job instead of the AI's latency.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { NatsServer } from '../src/devtools/nats-server.ts';
import { chainedJob, cpuSecondsOf, since, startFakeAiProcess, startWorkerProcess, type Child } from './processes.ts';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 12);
const TASKS = 3;
const ideal = CONCURRENCY / ((LATENCY_MS / 1000) * TASKS);

async function run(processes: number, aiUrl: string): Promise<number> {
  const server = await NatsServer.start();
  const workers: Child[] = [];
  const nc = await connect({ servers: server.url });
  try {
    const env = { NATS_URL: server.url, AI_URL: aiUrl, RUNNER_CONCURRENCY: String(CONCURRENCY), AI_MAX_CONCURRENCY: String(CONCURRENCY), LOG_LEVEL: 'warn' };
    for (let i = 0; i < processes; i++) workers.push(await startWorkerProcess(env));
    // Enough jobs for SECONDS at the ideal rate of every process, all waiting before the clock starts.
    const jobs = Math.ceil(ideal * processes * SECONDS);
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < jobs; i += 256) await Promise.all(Array.from({ length: Math.min(256, jobs - i) }, (_, k) => js.publish('alt.submit', chainedJob(i + k).alt)));
    const cpu0 = workers.map((w) => cpuSecondsOf(w.proc.pid!));
    const others0 = [cpuSecondsOf(server.pid!), cpuSecondsOf(aiPid)];
    const t0 = performance.now();
    let last = 0;
    for (;;) {
      const stored = (await jsm.streams.info('LAST')).state.messages;
      if (stored >= jobs) break;
      if (performance.now() - last > 3_000) {
        process.stdout.write(`  ${processes} process${processes > 1 ? 'es' : ''}: ${stored}/${jobs} .last stored\n`);
        last = performance.now();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = since(t0);
    const cpu = workers.reduce((sum, w, i) => sum + cpuSecondsOf(w.proc.pid!) - cpu0[i], 0);
    const [serverCpu, aiCpu] = [cpuSecondsOf(server.pid!) - others0[0], cpuSecondsOf(aiPid) - others0[1]];
    const share = (s: number) => `${(s / seconds * 100).toFixed(0)} %`;
    console.log(`  ${processes} process${processes > 1 ? 'es' : ''}: ${(jobs / seconds).toFixed(0)} jobs/s (${jobs} jobs in ${seconds.toFixed(1)} s; of a core, workers used ${share(cpu)}, nats-server ${share(serverCpu)}, the fake AI ${share(aiCpu)})`);
    return jobs / seconds;
  } finally {
    await nc.close();
    await Promise.all(workers.map((w) => w.stop()));
    await server.dispose();
  }
}

const ai = await startFakeAiProcess(LATENCY_MS);
const aiPid = ai.proc.pid!;
try {
  console.log(`bench:scale: AI latency ${LATENCY_MS} ms, concurrency ${CONCURRENCY} per process, ${TASKS} chained AI tasks per job; ideal per process ${ideal.toFixed(1)} jobs/s`);
  const rates: Record<number, number> = {};
  for (const n of [1, 2, 4]) rates[n] = await run(n, ai.url);
  console.log('\nresults');
  console.log(`  efficiency of one process: ${(rates[1] / ideal).toFixed(2)} (target >= 0.9: ${rates[1] / ideal >= 0.9 ? 'met' : 'NOT met'})`);
  console.log(`  2 processes / 1: ${(rates[2] / rates[1]).toFixed(2)} (target >= 1.9: ${rates[2] / rates[1] >= 1.9 ? 'met' : 'NOT met'})`);
  console.log(`  4 processes / 1: ${(rates[4] / rates[1]).toFixed(2)} (target >= 3.5: ${rates[4] / rates[1] >= 3.5 ? 'met' : 'NOT met'})`);
} finally {
  await ai.stop();
}
