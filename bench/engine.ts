/**
 * `npm run bench:engine`: a 1,000-task random graph with an instant in-process provider. Prints
 * the engine's overhead per task and its ratio against the same calls run as a bare Promise
 * chain (each task awaits its dependencies with Promise.all) in the same run.
 */
import { runJob } from '../src/engine/run-job.ts';
import type { Job, JobTask } from '../src/alt/job.ts';
import type { TaskOutput } from '../src/engine/types.ts';

const N = 1000;
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

const tasks: JobTask[] = Array.from({ length: N }, (_, i) => ({
  id: `t${i}`, text: `task ${i}`, kind: null,
  dependencies: i === 0 ? [] : [...new Set(Array.from({ length: Math.floor(rand() * 3) }, () => `t${Math.floor(rand() * i)}`))],
  parameters: {}, timeout_seconds: null, retry_count: null, priority: null, tags: [], status: null, metadata: {}, control: null,
}));
const job: Job = {
  id: 'bench', source: { form: 'runner', version: '1.0' }, created_at: '2025-01-01T00:00:00.000Z', title: 'bench', description: null,
  mode: 'normal', persona: null, priority: 'medium', tags: [], expected_completion_time: null, chaos_level: null, language: null,
  command: null, metadata: {}, tasks, global_variables: [], functions: [],
};
const call = async (id: string): Promise<TaskOutput> => ({ text: id, model_used: 'instant', tokens_used: 1, processing_time_ms: 0 });

async function bare(): Promise<void> {
  const done = new Map<string, Promise<TaskOutput>>();
  for (const t of tasks) done.set(t.id, Promise.all(t.dependencies.map((d) => done.get(d)!)).then(() => call(t.id)));
  await Promise.all(done.values());
}
async function engine(): Promise<void> {
  const run = await runJob(job, (t) => call(t.id), { concurrency: 4, defaultTimeoutS: 60, retry: { baseMs: 100, maxMs: 1000 } });
  if (run.results.some((r) => r.status !== 'completed')) throw new Error('a task did not complete');
}

async function time(fn: () => Promise<void>, rounds: number): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) await fn();
  return Number(process.hrtime.bigint() - start) / 1e6 / rounds;
}

const rounds = 30;
const bareMs = await time(bare, rounds);
const engineMs = await time(engine, rounds);
console.log(`graph: ${N} tasks, ${tasks.reduce((a, t) => a + t.dependencies.length, 0)} edges, task concurrency 4, ${rounds} rounds`);
console.log(`bare Promise.all chain: ${bareMs.toFixed(2)} ms per graph (${((bareMs * 1000) / N).toFixed(2)} µs per task)`);
console.log(`engine (runJob):        ${engineMs.toFixed(2)} ms per graph (${((engineMs * 1000) / N).toFixed(2)} µs per task)`);
console.log(`engine overhead per task: ${(((engineMs - bareMs) * 1000) / N).toFixed(2)} µs`);
console.log(`ratio bare / engine (throughput of the engine relative to the bare chain): ${(bareMs / engineMs).toFixed(3)}`);
