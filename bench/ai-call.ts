/**
 * `npm run bench:ai`: the client-side cost of one AI call. The fake orchestrator runs in its own
 * process; this process sends BENCH_AI_CALLS calls (default 20,000), BENCH_AI_CONCURRENCY at a
 * time (default 64, as bench:peer), each of these ways: a bare `http.request` on a keep-alive
 * agent, `got.post` alone, and the runner's AiClient (bulkhead → breaker → retry → timeout → the
 * chunk transport) to the orchestrator API, then to the OpenAI endpoint unstreamed
 * (AI_STREAM=false) and streamed (server-sent events, a chunk per four-character token). It prints
 * calls/s and this process's CPU per call for each (and the fake AI's), the ratios AiClient ÷ bare
 * request and AiClient ÷ got.post, and streamed ÷ unstreamed.
 */
import { request, Agent } from 'node:http';
import got from 'got';
import { AiClient, type AiClientOptions } from '../src/ai/client.ts';
import { openaiProvider, orchestratorProvider } from '../src/ai/providers.ts';
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
  console.log(`${name.padEnd(40)} ${r.rate.toFixed(0).padStart(7)} calls/s  ${r.cpuUs.toFixed(0).padStart(5)} µs CPU per call (the fake AI's: ${serverUs.toFixed(0)} µs)`);
  return r;
}

const policies = { timeoutMs: 60_000, maxRetries: 3, retryBaseMs: 250, retryMaxMs: 10_000, retryAfterMaxMs: 30_000, maxConcurrency: CONCURRENCY, maxQueue: 1_000, breakerThreshold: 5, breakerHalfOpenMs: 10_000 };
/** Measures AiClient.complete with these options; returns the figures and the chunks per call. */
async function measureClient(name: string, options: Pick<AiClientOptions, 'provider' | 'stream'>): Promise<{ name: string; rate: number; cpuUs: number; chunks: number }> {
  const client = new AiClient({ ...policies, ...options, baseUrl: ai.url });
  const signal = new AbortController().signal;
  let chunks = 0;
  let calls = 0;
  const r = await measure(name, () => {
    calls++;
    return client.complete({ prompt: { system: 'You are terse.', user: prompt }, model: 'default', parameters: { temperature: 0.2 } }, { signal, onChunk: () => void chunks++ });
  });
  client.close();
  return { ...r, chunks: chunks / calls };
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
  const gotPost = await measure('got.post', () => got.post(url, { body, headers: { 'content-type': 'application/json' }, responseType: 'text', retry: { limit: 0 }, throwHttpErrors: false }).then((r) => JSON.parse(r.body)));
  const full = await measureClient('AiClient, orchestrator (one chunk)', { provider: orchestratorProvider });
  const whole = await measureClient('AiClient, openai unstreamed', { provider: openaiProvider, stream: false });
  const streamed = await measureClient('AiClient, openai streamed', { provider: openaiProvider, stream: true });
  agent.destroy();
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  console.log(`\nclient CPU per call: AiClient (orchestrator) ${full.cpuUs.toFixed(0)} µs vs bare request ${bare.cpuUs.toFixed(0)} µs (ratio ${ratio(full.cpuUs, bare.cpuUs)}), vs got.post ${gotPost.cpuUs.toFixed(0)} µs (ratio ${ratio(full.cpuUs, gotPost.cpuUs)}); calls/s ratio to bare ${ratio(full.rate, bare.rate)}`);
  console.log(`openai streamed ÷ unstreamed: CPU per call ${ratio(streamed.cpuUs, whole.cpuUs)} (${streamed.cpuUs.toFixed(0)} vs ${whole.cpuUs.toFixed(0)} µs; ${streamed.chunks.toFixed(0)} chunks per streamed answer, ${((streamed.cpuUs - whole.cpuUs) / Math.max(1, streamed.chunks - 1)).toFixed(1)} µs per extra chunk); calls/s ${ratio(streamed.rate, whole.rate)}`);
} finally {
  await ai.stop();
}
