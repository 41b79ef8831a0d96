/**
 * `npm run bench:ai`: the client-side cost of one AI call. The fake orchestrator runs in its own
 * process; this process sends BENCH_AI_CALLS calls (default 20,000), BENCH_AI_CONCURRENCY at a
 * time (default 64, as bench:peer), three ways: a bare `http.request` on a keep-alive agent, `got.post` alone,
 * and the runner's AiClient (bulkhead → breaker → retry → timeout → got). It prints calls/s and
 * this process's CPU per call for each (and the fake AI's), and the ratio AiClient ÷ bare request.
 */
import { request, Agent } from 'node:http';
import got from 'got';
import { AiClient } from '../src/ai/client.ts';
import { orchestratorProvider } from '../src/ai/providers.ts';
import { cpuSecondsOf, startFakeAiProcess } from './processes.ts';

const CALLS = Number(process.env.BENCH_AI_CALLS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_AI_CONCURRENCY ?? 64);
const prompt = 'x'.repeat(300);

const ai = await startFakeAiProcess();
const url = `${ai.url}/api/inference/`;
const body = JSON.stringify({ model_id: 'default', inputs: prompt, parameters: { temperature: 0.2 } });

async function measure(name: string, call: () => Promise<unknown>): Promise<{ name: string; rate: number; cpuUs: number }> {
  for (let i = 0; i < 3000; i++) await call();
  const cpu0 = process.cpuUsage();
  const server0 = cpuSecondsOf(ai.proc.pid!);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next++ < CALLS) await call();
  }));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const r = { name, rate: CALLS / seconds, cpuUs: (cpu.user + cpu.system) / CALLS };
  const serverUs = ((cpuSecondsOf(ai.proc.pid!) - server0) / CALLS) * 1e6;
  console.log(`${name.padEnd(34)} ${r.rate.toFixed(0).padStart(7)} calls/s  ${r.cpuUs.toFixed(0).padStart(5)} µs CPU per call (the fake AI's: ${serverUs.toFixed(0)} µs)`);
  return r;
}

try {
  console.log(`bench:ai: ${CALLS} calls, ${CONCURRENCY} at a time, fake orchestrator in its own process at ${ai.url}`);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const bare = await measure('http.request (keep-alive)', () => new Promise<void>((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        JSON.parse(Buffer.concat(chunks).toString('utf8'));
        resolve();
      });
    });
    req.on('error', reject);
    req.end(body);
  }));
  await measure('got.post', () => got.post(url, { body, headers: { 'content-type': 'application/json' }, responseType: 'text', retry: { limit: 0 }, throwHttpErrors: false }).then((r) => JSON.parse(r.body)));
  const client = new AiClient({
    provider: orchestratorProvider, baseUrl: ai.url, timeoutMs: 60_000, maxRetries: 3, retryBaseMs: 250, retryMaxMs: 10_000, retryAfterMaxMs: 30_000,
    maxConcurrency: CONCURRENCY, maxQueue: 1_000, breakerThreshold: 5, breakerHalfOpenMs: 10_000,
  });
  const signal = new AbortController().signal;
  const full = await measure('AiClient.complete (all policies)', () => client.complete({ prompt: { system: 'You are terse.', user: prompt }, model: 'default', parameters: { temperature: 0.2 } }, { signal }));
  client.close();
  agent.destroy();
  console.log(`\nclient CPU per call: AiClient ${full.cpuUs.toFixed(0)} µs vs bare request ${bare.cpuUs.toFixed(0)} µs (ratio ${(full.cpuUs / bare.cpuUs).toFixed(2)}); calls/s ratio ${(full.rate / bare.rate).toFixed(2)}`);
} finally {
  await ai.stop();
}
