/**
 * `npm run bench:stream-path`: the worker's CPU per answer on the AI call path alone, streamed
 * against unstreamed, in one process (no NATS, no engine): AiClient (policies, the chunk
 * transport) with each answer's chunks given to a progress attempt whose sink stores at once.
 * The fake AI runs in its own process and sends BENCH_CHARS (1,000) characters at once (a
 * streamed answer: a four-character token an event). BENCH_BASE=<checkout> measures that
 * checkout's code streamed in turn with this one's, each BENCH_ROUNDS (3) times
 * (BENCH_CALLS calls, default 3,000, 64 at a time); the lowest CPU per call of each is compared.
 */
import { join } from 'node:path';
import { cpuSecondsOf, startFakeAiProcess } from './processes.ts';

const CALLS = Number(process.env.BENCH_CALLS ?? 3_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CHARS = Number(process.env.BENCH_CHARS ?? 1_000);
const BASE = process.env.BENCH_BASE;
const CONCURRENCY = 64;

interface Code {
  AiClient: typeof import('../src/ai/client.ts').AiClient;
  openaiProvider: typeof import('../src/ai/providers.ts').openaiProvider;
  ProgressPublisher: typeof import('../src/progress/publisher.ts').ProgressPublisher;
  callProgress: typeof import('../src/progress/task-progress.ts').callProgress;
}
const load = async (root: string): Promise<Code> => ({
  ...(await import(join(root, 'src/ai/client.ts'))),
  ...(await import(join(root, 'src/ai/providers.ts'))),
  ...(await import(join(root, 'src/progress/publisher.ts'))),
  ...(await import(join(root, 'src/progress/task-progress.ts'))),
});

const ai = await startFakeAiProcess();
await fetch(`${ai.url}/_faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ outputChars: CHARS }) });
const policies = { timeoutMs: 60_000, maxRetries: 0, retryBaseMs: 250, retryMaxMs: 10_000, retryAfterMaxMs: 30_000, maxConcurrency: CONCURRENCY, maxQueue: 1_000, breakerThreshold: 5, breakerHalfOpenMs: 10_000 };
const ack = Promise.resolve({ stream: 'ALT_PROGRESS', seq: 1, duplicate: false });

/** CPU µs of this process per call (and the fake AI's) for `CALLS` calls of `code`, streamed or not. */
async function measure(code: Code, stream: boolean): Promise<{ us: number; fakeUs: number }> {
  const client = new code.AiClient({ ...policies, provider: code.openaiProvider, stream, baseUrl: ai.url });
  const publisher = new code.ProgressPublisher({ out: { publish: () => ack }, prefix: 'progress' });
  const signal = new AbortController().signal;
  let n = 0;
  const call = async () => {
    const i = n++;
    const progress = code.callProgress(publisher, { v: 1, job: `job-${i}`, alt_seq: i, deliveries: 1, task: 't1', task_attempt: 1 } as never, signal);
    await client.complete({ prompt: { system: 'You are terse.', user: `Task:\nanswer ${i}` }, model: 'default', parameters: {} }, { signal, onChunk: progress.onChunk, onAttempt: progress.onAttempt });
    await progress.settle(5_000);
  };
  for (let i = 0; i < 500; i++) await call();
  const cpu0 = process.cpuUsage();
  const fake0 = cpuSecondsOf(ai.proc.pid!);
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next++ < CALLS) await call();
  }));
  const cpu = process.cpuUsage(cpu0);
  client.close();
  return { us: (cpu.user + cpu.system) / CALLS, fakeUs: ((cpuSecondsOf(ai.proc.pid!) - fake0) / CALLS) * 1e6 };
}

try {
  const codes: Record<string, Code> = { this: await load(join(import.meta.dirname, '..')), ...(BASE ? { base: await load(BASE) } : {}) };
  const got: Record<string, number[]> = {};
  console.log(`bench:stream-path: ${CALLS} calls of ${CHARS} characters, ${CONCURRENCY} at a time, ${ROUNDS} rounds; load average ${(await import('node:os')).loadavg()[0].toFixed(1)}`);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, code] of Object.entries(codes)) {
      for (const stream of [true, false]) {
        const label = `${name} ${stream ? 'streamed' : 'unstreamed'}`;
        const m = await measure(code, stream);
        (got[label] ??= []).push(m.us);
        console.log(`  ${label.padEnd(20)} ${m.us.toFixed(0).padStart(5)} µs CPU per call (fake AI ${m.fakeUs.toFixed(0)} µs)`);
      }
    }
  }
  const best = (k: string) => Math.min(...got[k]);
  for (const name of Object.keys(codes)) console.log(`${name}: streamed ${best(`${name} streamed`).toFixed(0)} µs, unstreamed ${best(`${name} unstreamed`).toFixed(0)} µs per call: streamed costs ${(best(`${name} streamed`) - best(`${name} unstreamed`)).toFixed(0)} µs more (x ${(best(`${name} streamed`) / best(`${name} unstreamed`)).toFixed(2)})`);
} finally {
  await ai.stop();
}
