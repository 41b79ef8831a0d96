/**
 * `npm run bench:history`: what writing job history costs, alone, in CPU per job of the writing
 * process and of nats-server (the worker's throughput ratio, bench:worker's `default` ÷
 * `no-history`, is too noisy on a shared machine to see a few µs).
 *
 * BENCH_JOBS short jobs (default 40,000) finish at BENCH_RATE a second (default 8,000, about what
 * one worker does), each with the six events a three-task job writes (delivered, started, three
 * tasks finished, `.last` stored) from a recorder-like delivery record, into a history stream made
 * as the runner makes it, on a connection that writes once per event-loop turn as the worker's.
 * Contestants, each BENCH_ROUNDS times (default 4) in alternating order, medians printed:
 *   pacing   the loop alone, nothing written (subtract it)
 *   history  this tree's writer, wired as src/runner.ts wires it
 *   base     with BENCH_BASE=<another checkout of this repository>: that checkout's writer, fed
 *            through its `historyEvent` and `write` as its recorder did, one PubAck per message
 * Each round prints the history messages stored and their mean size, and the events dropped.
 */
import { connect } from '@nats-io/transport-node';
import { DiscardPolicy, RetentionPolicy, StorageType, jetstreamManager } from '@nats-io/jetstream';
import { NatsServer } from '../src/devtools/nats-server.ts';
import { coalesceWrites } from '../src/messaging/coalesce.ts';
import { StreamPublisher } from '../src/messaging/stream-publish.ts';
import { HistoryWriter, type HistoryShared } from '../src/status/history.ts';
import { cpuSecondsOf } from './processes.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 40_000);
const RATE = Number(process.env.BENCH_RATE ?? 8_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const BASE = process.env.BENCH_BASE;

/** The writer interface both trees share (`write` of a whole event, `flush`). */
interface AnyWriter {
  flush(limitMs?: number): Promise<void>;
}
type Job = (i: number, tag: string) => void;
interface Contestant {
  make(onDrop: () => void): { writer: AnyWriter | null; job: Job };
}

const server = await NatsServer.start();
const nc = await connect({ servers: server.url });
coalesceWrites(nc);
const jsm = await jetstreamManager(nc);
const out = new StreamPublisher(nc);
const WORKER = 'bench-host:12345';

/** This tree: events added as the recorder adds them (one shared object per delivery). */
const current: Contestant = {
  make(onDrop) {
    const w = new HistoryWriter({ publish: (s, d) => out.publish(s, d), post: (s, d) => nc.publish(s, d), prefix: 'history', maxPending: 10_000, onDrop });
    return {
      writer: w,
      job: (i, tag) => {
        const id = `bench-${tag}-${i}`;
        const shared: HistoryShared = { worker_id: WORKER, alt_stream_seq: i, deliveries: 1 };
        w.add(id, shared, { type: 'delivered' });
        w.add(id, shared, { type: 'started', detail: { tasks: 3 } });
        for (let t = 1; t <= 3; t++) w.add(id, shared, { type: 'task_finished', task_id: `task_00${t}`, status: 'completed', attempt: 1 });
        w.add(id, shared, { type: 'last_stored', status: 'success' });
      },
    };
  },
};

/** Another checkout's writer, fed as its recorder fed it: `write(historyEvent(...))`, one PubAck per message. */
async function base(dir: string): Promise<Contestant> {
  const m = (await import(`${dir}/src/status/history.ts`)) as {
    HistoryWriter: new (o: object) => AnyWriter & { write(e: unknown): void };
    historyEvent: (type: string, id: string, fields: object) => unknown;
  };
  return {
    make(onDrop) {
      const w = new m.HistoryWriter({ publish: (s: string, d: Uint8Array) => out.publish(s, d), prefix: 'history', maxPending: 10_000, onDrop });
      return {
        writer: w,
        job: (i, tag) => {
          const id = `bench-${tag}-${i}`;
          const ev = (type: string, fields: object = {}) => w.write(m.historyEvent(type, id, { worker_id: WORKER, alt_stream_seq: i, deliveries: 1, ...fields }));
          ev('delivered');
          ev('started', { detail: { tasks: 3 } });
          for (let t = 1; t <= 3; t++) ev('task_finished', { task_id: `task_00${t}`, status: 'completed', attempt: 1 });
          ev('last_stored', { status: 'success' });
        },
      };
    },
  };
}

const contestants: Record<string, Contestant> = { pacing: { make: () => ({ writer: null, job: () => {} }) }, history: current };
if (BASE) contestants.base = await base(BASE);

/** Finishes `jobs` jobs at RATE a second, as many as are due each turn (a 1 ms timer between). */
async function paced(jobs: number, tag: string, job: Job): Promise<void> {
  const t0 = performance.now();
  let i = 0;
  while (i < jobs) {
    const due = Math.min(jobs, Math.floor(((performance.now() - t0) / 1000) * RATE));
    while (i < due) job(i++, tag);
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function round(name: string, r: number): Promise<{ us: number; serverUs: number; messages: number; bytes: number; dropped: number }> {
  await jsm.streams.delete('ALT_HISTORY').catch(() => {});
  await jsm.streams.add({ name: 'ALT_HISTORY', subjects: ['history.>'], retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, storage: StorageType.File, max_age: 7 * 86_400e9, max_bytes: 1_073_741_824 });
  let dropped = 0;
  const { writer, job } = contestants[name].make(() => dropped++);
  // A warm-up (V8 compiling the writer), not measured.
  await paced(2_000, `w${r}`, job);
  await writer?.flush(10_000);
  await nc.flush();
  dropped = 0;
  const cpu0 = process.cpuUsage();
  const server0 = cpuSecondsOf(server.pid!);
  await paced(JOBS, `r${r}`, job);
  await writer?.flush(10_000);
  await nc.flush();
  const cpu = process.cpuUsage(cpu0);
  // nats-server stores what it was sent; /proc counts its CPU in 10 ms ticks.
  await new Promise((res) => setTimeout(res, 300));
  const serverUs = ((cpuSecondsOf(server.pid!) - server0) / JOBS) * 1e6;
  const info = await jsm.streams.info('ALT_HISTORY');
  const messages = Math.max(0, info.state.messages - (writer ? 2_000 : 0));
  return { us: (cpu.user + cpu.system) / JOBS, serverUs, messages, bytes: info.state.messages ? info.state.bytes / info.state.messages : 0, dropped };
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
try {
  const names = Object.keys(contestants);
  console.log(`bench:history: ${JOBS} jobs of six events at ${RATE} jobs/s, ${ROUNDS} rounds${BASE ? `; base: ${BASE}` : ''}`);
  const got: Record<string, { us: number[]; serverUs: number[] }> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of r % 2 ? [...names].reverse() : names) {
      const x = await round(name, r);
      (got[name] ??= { us: [], serverUs: [] }).us.push(x.us);
      got[name].serverUs.push(x.serverUs);
      console.log(`  round ${r + 1} ${name.padEnd(8)} ${x.us.toFixed(1).padStart(6)} µs CPU/job (nats-server ${x.serverUs.toFixed(1).padStart(5)} µs)  ${(x.messages / JOBS).toFixed(2)} messages/job of ${x.bytes.toFixed(0)} bytes, ${x.dropped} events dropped`);
    }
  }
  const pace = median(got.pacing.us);
  const paceServer = median(got.pacing.serverUs);
  console.log('\nmedians, the pacing loop\'s own CPU taken off');
  for (const name of names.filter((n) => n !== 'pacing')) {
    console.log(`  ${name.padEnd(8)} ${(median(got[name].us) - pace).toFixed(1).padStart(6)} µs CPU/job (nats-server ${(median(got[name].serverUs) - paceServer).toFixed(1).padStart(5)} µs)`);
  }
  console.log(`  (pacing loop: ${pace.toFixed(1)} µs/job; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')})`);
} finally {
  out.close();
  await nc.close();
  await server.dispose();
}
