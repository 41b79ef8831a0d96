/**
 * A CPU budget per job, by stage, from a V8 CPU profile (the inspector's `Profiler`, or
 * `node --cpu-prof`). Each sample is given to a stage by its stack, read from the sampled function
 * towards the root: the first frame whose file belongs to a stage decides (JSON.parse called from
 * the decoder is decoding, a socket write under got is got's). Frames of Node.js's internals and
 * of the NATS client's protocol code only decide when nothing of ours or of a library named here
 * is on the stack (the client parsing what the server sent, timers); its flush (the socket write of
 * what the connection queued) is the client's whoever's send triggered it. Built-ins
 * (JSON, RegExp, Buffer) never decide. The shares of the main thread's samples that are not idle
 * are then scaled to the main thread's measured CPU time; the process's other threads (V8's GC
 * helpers and compiler, libuv's pool) are a row of their own.
 */

export interface CallFrame {
  functionName: string;
  url: string;
}

export interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The stages in the order the table prints them. */
export const STAGES = [
  'pull (consumer, flow)',
  'decode (.alt → job)',
  'engine (graph, tasks)',
  'AI call: ours (client, policies, steps)',
  'AI call: got',
  'AI call: node:http',
  '.last build',
  'redaction',
  'publish (.last, DLQ)',
  'status and checkpoints (KV)',
  'history (job events)',
  'ack',
  'logs',
  'metrics',
  'spans (tracing)',
  'worker, other of ours',
  'bench loop (the floor\'s own code)',
  'NATS client (protocol, parse, flush)',
  'Node.js internals (streams, sockets, timers)',
  'other libraries',
  'native (event loop, system calls)',
  'GC (main thread)',
] as const;
export type Stage = (typeof STAGES)[number];

const has = (url: string, ...parts: string[]) => parts.some((p) => url.includes(p));

/**
 * The stage a frame belongs to: `strong` frames decide at once; `weak` ones (Node.js internals, the
 * NATS client's protocol code) only when no strong frame is on the stack, the higher rank first.
 */
export function frameStage(frame: CallFrame): { stage: Stage; rank: number } | null {
  const { functionName: fn, url } = frame;
  if (fn === '(garbage collector)') return { stage: 'GC (main thread)', rank: 9 };
  if (fn === '(program)') return { stage: 'native (event loop, system calls)', rank: 9 };
  if (!url) return null;
  const strong = (stage: Stage) => ({ stage, rank: 9 });
  if (has(url, '/node_modules/got/', '/node_modules/@sindresorhus/', '/node_modules/@szmarczak/', '/node_modules/cacheable-', '/node_modules/http2-wrapper/',
    '/node_modules/responselike/', '/node_modules/lowercase-keys/', '/node_modules/decompress-response/', '/node_modules/mimic-response/',
    '/node_modules/form-data-encoder/', '/node_modules/p-cancelable/', '/node_modules/keyv/', '/node_modules/get-stream/', '/node_modules/byte-counter/',
    '/node_modules/chunk-data/', '/node_modules/type-fest/')) return strong('AI call: got');
  if (/^node:(_http_|http$|https$)/.test(url)) return strong('AI call: node:http');
  if (has(url, '/node_modules/cockatiel/', '/src/ai/', '/src/tasks/', '/src/budget/', '/src/usage/', '/bench/peer-ai.ts')) return strong('AI call: ours (client, policies, steps)');
  if (has(url, '/src/alt/', '/node_modules/ajv', '/node_modules/@sinclair/typebox/', '/node_modules/yaml/')) return strong('decode (.alt → job)');
  if (has(url, '/src/engine/')) return strong('engine (graph, tasks)');
  if (has(url, '/src/last/')) return strong('.last build');
  if (has(url, '/src/security/redact', '/src/security/secret-')) return strong('redaction');
  if (has(url, '/src/status/history')) return strong('history (job events)');
  if (has(url, '/src/status/', '/node_modules/@nats-io/kv/')) return strong('status and checkpoints (KV)');
  if (has(url, '/src/telemetry/logger', '/node_modules/winston', '/node_modules/logform/', '/node_modules/triple-beam/', '/node_modules/safe-stable-stringify/',
    '/node_modules/readable-stream/', '/node_modules/@dabh/', '/node_modules/fecha/', '/node_modules/one-time/', '/node_modules/stack-trace/', '/node_modules/@colors/')) return strong('logs');
  if (has(url, '/src/telemetry/metrics', '/node_modules/@opentelemetry/sdk-metrics/', '/node_modules/@opentelemetry/exporter-prometheus/', '/node_modules/@opentelemetry/exporter-metrics-')) return strong('metrics');
  if (has(url, '/src/telemetry/', '/src/security/trace-headers', '/node_modules/@opentelemetry/', '/node_modules/protobufjs/', '/node_modules/@protobufjs/')) return strong('spans (tracing)');
  // The socket write of what the connection queued is the NATS client's, whoever's send passed the
  // client's threshold and wrote it at once: the write coalescing of `altlas worker`'s connection
  // (src/messaging/coalesce.ts) and the client's own flush.
  if (has(url, '/src/messaging/coalesce') || (fn === 'flushPending' && has(url, '/node_modules/@nats-io/nats-core/'))) return strong('NATS client (protocol, parse, flush)');
  if (has(url, '/src/messaging/settle', '/@nats-io/jetstream/lib/jsmsg', '/@nats-io/jetstream/esm/jsmsg')) return strong('ack');
  if (has(url, '/src/messaging/pull', '/src/flow/', '/@nats-io/jetstream/lib/consumer', '/@nats-io/jetstream/esm/consumer')) return strong('pull (consumer, flow)');
  if (has(url, '/src/messaging/publisher', '/src/messaging/stream-publish', '/@nats-io/jetstream/lib/jsclient', '/@nats-io/jetstream/esm/jsclient')) return strong('publish (.last, DLQ)');
  if (has(url, '/src/')) return strong('worker, other of ours');
  if (has(url, '/bench/')) return strong('bench loop (the floor\'s own code)');
  if (has(url, '/node_modules/@nats-io/')) return { stage: 'NATS client (protocol, parse, flush)', rank: 2 };
  if (url.startsWith('node:')) return { stage: 'Node.js internals (streams, sockets, timers)', rank: 1 };
  if (has(url, '/node_modules/')) return strong('other libraries');
  return { stage: 'Node.js internals (streams, sockets, timers)', rank: 1 };
}

/**
 * Sampled µs of the main thread by stage, idle excluded, of the samples taken between `from` and
 * `to` (µs on the profile's clock, CLOCK_MONOTONIC: `process.hrtime` ÷ 1,000 in any process).
 */
export function sampledByStage(profile: CpuProfile, window: { from?: number; to?: number } = {}): Map<Stage, number> {
  const parent = new Map<number, number>();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, Stage | null>();
  const stageOfNode = (id: number): Stage | null => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    if (byId.get(id)!.callFrame.functionName === '(idle)') {
      memo.set(id, null);
      return null;
    }
    let weak: { stage: Stage; rank: number } | null = null;
    let found: Stage | null = null;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const s = frameStage(byId.get(at)!.callFrame);
      if (!s) continue;
      if (s.rank === 9) {
        found = s.stage;
        break;
      }
      if (!weak || s.rank > weak.rank) weak = s;
    }
    const stage = found ?? weak?.stage ?? 'native (event loop, system calls)';
    memo.set(id, stage);
    return stage;
  };
  const out = new Map<Stage, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    if ((window.from !== undefined && t < window.from) || (window.to !== undefined && t > window.to)) continue;
    // A sample's delta is the time since the previous one: the time this stack stands for.
    const next = profile.timeDeltas[i + 1] ?? 0;
    const stage = stageOfNode(profile.samples[i]);
    if (stage) out.set(stage, (out.get(stage) ?? 0) + next);
  }
  return out;
}

/**
 * CPU µs per job by stage: the sampled shares scaled to the main thread's CPU µs per job, and the
 * other threads' CPU as a row of its own.
 */
export function budgetPerJob(sampled: Map<Stage, number>, mainThreadUsPerJob: number, otherThreadsUsPerJob: number): Map<string, number> {
  let total = 0;
  for (const v of sampled.values()) total += v;
  const out = new Map<string, number>();
  for (const s of STAGES) out.set(s, total ? ((sampled.get(s) ?? 0) / total) * mainThreadUsPerJob : 0);
  out.set('other threads (GC helpers, compiler, libuv)', otherThreadsUsPerJob);
  return out;
}

/** The table of budgets side by side (one column per contestant), the rows largest in any column first. */
export function budgetTable(columns: Record<string, Map<string, number>>): string {
  const names = Object.keys(columns);
  if (!names.length) return '';
  const largest = (row: string) => Math.max(...names.map((n) => columns[n].get(row) ?? 0));
  const rows = [...new Set(names.flatMap((n) => [...columns[n].keys()]))].sort((a, b) => largest(b) - largest(a));
  const width = Math.max(...rows.map((r) => r.length)) + 2;
  const cell = (v: number | undefined) => (v === undefined ? '' : v.toFixed(0)).padStart(Math.max(12, ...names.map((n) => n.length)) + 2);
  const lines = [`${'CPU µs per job, by stage'.padEnd(width)}${names.map((n) => n.padStart(Math.max(12, ...names.map((x) => x.length)) + 2)).join('')}`];
  for (const r of rows) {
    if (names.every((n) => (columns[n].get(r) ?? 0) < 0.5)) continue;
    lines.push(`${r.padEnd(width)}${names.map((n) => cell(columns[n].get(r))).join('')}`);
  }
  const sum = (n: string) => [...columns[n].values()].reduce((a, b) => a + b, 0);
  lines.push(`${'total'.padEnd(width)}${names.map((n) => cell(sum(n))).join('')}`);
  return lines.join('\n');
}
