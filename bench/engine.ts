/**
 * `npm run bench:engine`: a 1,000-task random graph with an instant in-process provider. Prints
 * the engine's overhead per task and its ratio against the same calls run as a bare Promise
 * chain (each task awaits its dependencies with Promise.all) in the same run. Then a 2.0 program:
 * a 1,000-iteration loop whose body calls a function that calls another (two AI tasks and two
 * calls per iteration): the engine's overhead per executed instance beside the 1.0 figure
 * (target: at most 2×).
 */
import { runJob } from '../src/engine/run-job.ts';
import type { Job, JobTask } from '../src/alt/job.ts';
import type { TaskOutput } from '../src/engine/types.ts';
import { decodeAlt } from '../src/alt/index.ts';

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

/** The median of `rounds` timed runs after three warm-up runs, in milliseconds (a median is steadier than a mean on a shared machine). */
async function time(fn: () => Promise<void>, rounds: number): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const rounds = 30;
const bareMs = await time(bare, rounds);
const engineMs = await time(engine, rounds);
console.log(`graph: ${N} tasks, ${tasks.reduce((a, t) => a + t.dependencies.length, 0)} edges, task concurrency 4, ${rounds} rounds`);
console.log(`bare Promise.all chain: ${bareMs.toFixed(2)} ms per graph (${((bareMs * 1000) / N).toFixed(2)} µs per task)`);
console.log(`engine (runJob):        ${engineMs.toFixed(2)} ms per graph (${((engineMs * 1000) / N).toFixed(2)} µs per task)`);
console.log(`engine overhead per task: ${(((engineMs - bareMs) * 1000) / N).toFixed(2)} µs`);
console.log(`ratio bare / engine (throughput of the engine relative to the bare chain): ${(bareMs / engineMs).toFixed(3)}`);

// The 2.0 program: for_range over 1,000 iterations, each calling outer(i), which runs an AI task and calls inner(i).
const ITERATIONS = 1_000;
const program = decodeAlt(JSON.stringify({
  id: 'bench-2', version: '2.0', timestamp: '2025-05-01T10:00:00Z', command: 'bench', language: 'en', mode: 'Normal',
  functions: [
    { name: 'outer', parameters: [{ name: 'n', type: 'number', required: true }], return_type: 'string', body: ['outer_task', 'call_inner'] },
    { name: 'inner', parameters: [{ name: 'n', type: 'number', required: true }], return_type: 'string', body: ['inner_task'] },
  ],
  segments: [
    { id: 'each', task_type: 'control_flow', content: 'loop', loop: { type: 'for_range', variable: 'i', start: 0, end: ITERATIONS, body: ['call_outer'] } },
    { id: 'call_outer', task_type: 'function_call', content: 'call outer', function_call: { function_name: 'outer', arguments: { n: '$i' }, result_variable: 'r' } },
    { id: 'outer_task', task_type: 'create', content: 'outer step ${n}' },
    { id: 'call_inner', task_type: 'function_call', content: 'call inner', dependencies: ['outer_task'], function_call: { function_name: 'inner', arguments: { n: '$n' }, result_variable: 'r2' } },
    { id: 'inner_task', task_type: 'create', content: 'inner step ${n}' },
  ],
}), { limits: { maxTasks: 1_000_000 } });
if (!program.ok) throw program.error;
const job2 = program.job;
const limits = { maxIterations: ITERATIONS, maxCallDepth: 16, maxInstances: 1_000_000 };
let instances = 0;
let aiCalls = 0;
async function engine2(): Promise<void> {
  const run = await runJob(job2, (t) => call(t.id), { concurrency: 4, defaultTimeoutS: 60, retry: { baseMs: 100, maxMs: 1000 }, limits });
  const failed = run.results.filter((r) => r.status !== 'completed');
  if (failed.length) throw new Error(`${failed.length} instances did not complete: ${failed[0].task_id} ${failed[0].error}`);
  instances = run.results.length;
  aiCalls = run.results.filter((r) => r.output).length;
}
async function bare2(): Promise<void> {
  for (let i = 0; i < aiCalls; i++) await call(`t${i}`);
}
await engine2();
const rounds2 = 15;
const engine2Ms = await time(engine2, rounds2);
const bare2Ms = await time(bare2, rounds2);
const perTask1 = ((engineMs - bareMs) * 1000) / N;
const perInstance2 = ((engine2Ms - bare2Ms) * 1000) / instances;
console.log(`\n2.0 program: a ${ITERATIONS}-iteration loop, each iteration calling outer(i) which calls inner(i): ${instances} instances executed (${aiCalls} AI tasks), ${rounds2} rounds`);
console.log(`engine (runJob):        ${engine2Ms.toFixed(2)} ms per program (${((engine2Ms * 1000) / instances).toFixed(2)} µs per instance)`);
console.log(`engine overhead per executed instance: ${perInstance2.toFixed(2)} µs (1.0: ${perTask1.toFixed(2)} µs per task)`);
console.log(`ratio 2.0 per-instance overhead / 1.0 per-task overhead: ${(perInstance2 / perTask1).toFixed(2)} (target <= 2: ${perInstance2 / perTask1 <= 2 ? 'met' : 'NOT met'})`);
