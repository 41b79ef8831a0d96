/**
 * `npm run bench:fallback`: what a fallback costs a call. Two fake orchestrators in this process,
 * each answering after BENCH_FALLBACK_LATENCY_MS (default 20); BENCH_FALLBACK_CALLS calls (default
 * 200) one after another, each of these ways: straight to the second (the baseline), along the
 * chain first → second with the first down (503 at once, or after the same latency), and with both
 * up. It prints the mean latency per call, the overhead over the baseline as a share of one failed
 * attempt's time, and the requests each fake received (the first's failed requests per call).
 */
import { FakeOrchestrator } from '../src/ai/fake-orchestrator.ts';
import { AiClient } from '../src/ai/client.ts';
import { FallbackClient } from '../src/ai/fallback-client.ts';
import { orchestratorProvider } from '../src/ai/providers.ts';

const CALLS = Number(process.env.BENCH_FALLBACK_CALLS ?? 200);
const LATENCY = Number(process.env.BENCH_FALLBACK_LATENCY_MS ?? 20);
const first = new FakeOrchestrator({ latencyMs: LATENCY });
const second = new FakeOrchestrator({ latencyMs: LATENCY });
const urls = [await first.listen(), await second.listen()];
const client = (baseUrl: string) => new AiClient({
  provider: orchestratorProvider, baseUrl, timeoutMs: 10_000, maxRetries: 3, retryBaseMs: 250, retryMaxMs: 10_000,
  retryAfterMaxMs: 30_000, maxConcurrency: 16, maxQueue: 1000, breakerThreshold: 5, breakerHalfOpenMs: 10_000,
});
const signal = new AbortController().signal;
const ask = (i: number) => ({ prompt: { system: 's', user: `Task:\nq${i}` }, model: 'default', parameters: {} });

async function run(name: string, call: (i: number) => Promise<unknown>): Promise<number> {
  first.resetStats();
  second.resetStats();
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) await call(i);
  const mean = (performance.now() - t0) / CALLS;
  console.log(`${name.padEnd(44)} ${mean.toFixed(2).padStart(7)} ms per call   requests: first ${String(first.stats.requests).padStart(4)}, second ${String(second.stats.requests).padStart(4)}`);
  return mean;
}

const direct = client(urls[1]);
const base = await run('straight to the second (baseline)', (i) => direct.complete(ask(i), { signal }));
for (const [name, faults] of [['chain, first down (503 at once)', { errorRate: 1, errorStatus: 503, latencyMs: 0 }], [`chain, first down (503 after ${LATENCY} ms)`, { errorRate: 1, errorStatus: 503, latencyMs: LATENCY }], ['chain, both up', {}]] as const) {
  first.setFaults({ latencyMs: LATENCY, ...faults });
  const endpoints = new Map([['default', client(urls[0])], ['backup', client(urls[1])]]);
  const chain = new FallbackClient({ endpoints, configured: ['backup/default'], attemptsPerPair: 1, breakerThreshold: 5, breakerHalfOpenMs: 10_000 });
  // One failed attempt's time at the first, measured alone.
  const failed = name.includes('down') ? await (async () => {
    const t0 = performance.now();
    await endpoints.get('default')!.complete(ask(-1), { signal, moveOnAfter: 1 }).catch(() => {});
    return performance.now() - t0;
  })() : 0;
  const mean = await run(name, (i) => chain.complete(ask(i), { signal }));
  if (failed) console.log(`${''.padEnd(44)} overhead ${(mean - base).toFixed(2)} ms per call = ${((mean - base) / failed).toFixed(2)} × one failed attempt (${failed.toFixed(2)} ms); target ≤ 1`);
  endpoints.forEach((c) => c.close());
}
direct.close();
await first.close();
await second.close();
