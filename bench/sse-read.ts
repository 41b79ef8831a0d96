/**
 * `npm run bench:sse-read`: the CPU and the young-generation collections of reading one streamed
 * answer's bytes (sseReader and the OpenAI reader, no HTTP), in one process: 250 deltas of four
 * characters as the fake AI sends them (about 47 KB), in three reads (the role, every delta, the
 * end). The script runs with a 4 MB young generation (the worker's), so the scavenges per 1,000
 * answers measure the JavaScript heap a read allocates. BENCH_BASE=<checkout> measures that
 * checkout's code in turn with this one's, BENCH_ROUNDS (5) times, BENCH_ANSWERS (20,000) answers
 * a round; the lowest CPU of each is compared.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { GCProfiler } from 'node:v8';
import { ChatStream, fakeUsage, tokens } from '../src/ai/fake-answers.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ANSWERS = Number(process.env.BENCH_ANSWERS ?? 20_000);
const BASE = process.env.BENCH_BASE;

interface Code {
  sseReader: typeof import('../src/ai/transport.ts').sseReader;
  openaiStreamReader: typeof import('../src/ai/openai-stream.ts').openaiStreamReader;
}
const load = async (root: string): Promise<Code> => ({ ...(await import(join(root, 'src/ai/transport.ts'))), ...(await import(join(root, 'src/ai/openai-stream.ts'))) });

const s = new ChatStream('chatcmpl-0123456789ab', 'default');
const text = 'Lorem ipsum dolor sit amet, '.repeat(40).slice(0, 1_000);
const reads = [Buffer.from(s.start()), Buffer.from(tokens(text).map((t) => s.delta(t)).join('')), Buffer.from(s.end(fakeUsage('p', 1_000, {})))];

function measure(code: Code): { us: number; scavenges: number } {
  let chars = 0;
  const gc = new GCProfiler();
  gc.start();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < ANSWERS; i++) {
    const r = code.sseReader(4 << 20, code.openaiStreamReader('default'), { chunk: (t) => void (chars += t.length) });
    for (const b of reads) r.push(b);
    if (r.end().text.length !== text.length) throw new Error('the answer read is not the answer sent');
  }
  const cpu = process.cpuUsage(cpu0);
  const scavenges = (gc.stop()?.statistics ?? []).filter((e) => e.gcType === 'Scavenge').length;
  return { us: (cpu.user + cpu.system) / ANSWERS, scavenges };
}

const codes: Record<string, Code> = { this: await load(join(import.meta.dirname, '..')), ...(BASE ? { base: await load(BASE) } : {}) };
console.log(`bench:sse-read: ${ANSWERS} answers of 250 events (${reads.reduce((n, b) => n + b.length, 0)} bytes) a round, ${ROUNDS} rounds; load average ${loadavg()[0].toFixed(1)}`);
const got: Record<string, { us: number; scavenges: number }[]> = {};
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, code] of Object.entries(codes)) {
    const m = measure(code);
    (got[name] ??= []).push(m);
    console.log(`  ${name.padEnd(5)} ${m.us.toFixed(1).padStart(6)} µs CPU per answer, ${((m.scavenges / ANSWERS) * 1_000).toFixed(1)} scavenges per 1,000 answers`);
  }
}
for (const [name, ms] of Object.entries(got)) {
  const us = ms.map((m) => m.us);
  console.log(`${name}: ${Math.min(...us).toFixed(1)}–${Math.max(...us).toFixed(1)} µs per answer, ${Math.min(...ms.map((m) => (m.scavenges / ANSWERS) * 1_000)).toFixed(1)} scavenges per 1,000 answers at least`);
}
