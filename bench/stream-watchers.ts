/**
 * A fleet of watchers for `npm run bench:stream`: one `watchJob` (what `altlas watch` runs) per
 * job, over BENCH_CONNECTIONS NATS connections through a TCP proxy that cuts one of them at
 * random every BENCH_CUT_MS (0: never). Prints `ready` once every watcher waits, then one JSON
 * line per job when its `.last` is stored (what it showed of each task, when it showed the first
 * text, what it set aside), then `done`.
 */
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { loadConfig } from '../src/config/load.ts';
import { TcpProxy } from '../src/devtools/tcp-proxy.ts';
import { watchJob } from '../src/progress/watch-job.ts';
import { IDENTITY_CODEC } from '../src/security/codec.ts';

const env = process.env;
const server = env.NATS_URL!;
const jobs = env.BENCH_JOBS!.split(',');
const connections = Number(env.BENCH_CONNECTIONS ?? 20);
const cutMs = Number(env.BENCH_CUT_MS ?? 0);
const config = loadConfig({ NATS_URL: server });
const proxy = cutMs > 0 ? await TcpProxy.start(Number(new URL(server.replace('nats://', 'http://')).port)) : null;
const ncs: NatsConnection[] = [];
for (let i = 0; i < connections; i++) ncs.push(await connect({ servers: proxy?.url ?? server, reconnectTimeWait: 100, reconnectJitter: 100, maxReconnectAttempts: -1, pingInterval: 2_000 }));
const jsms = await Promise.all(ncs.map((nc) => jetstreamManager(nc, { checkAPI: false })));
let cutter: NodeJS.Timeout | null = null;
if (proxy) {
  const cut = () => {
    // One connection at random, kept out for up to half a second.
    const open = proxy.open;
    if (open > 0) {
      const pick = Math.floor(Math.random() * open);
      proxy.cut(Math.floor(Math.random() * 500), (i) => i === pick);
    }
    cutter = setTimeout(cut, cutMs * (0.5 + Math.random()));
  };
  cutter = setTimeout(cut, cutMs);
}
let waiting = 0;
let finished = 0;
await Promise.all(jobs.map(async (jobId, i) => {
  let firstTextAt: number | null = null;
  const ready = new Promise<void>((resolve) => {
    void watchJob({
      nc: ncs[i % connections], jsm: jsms[i % connections], config, codec: IDENTITY_CODEC, jobId, keepText: true,
      onWaiting: () => {
        if (++waiting === jobs.length) process.stdout.write('ready\n');
        resolve();
      },
      onEvent: (e) => {
        if (e.type === 'text' && firstTextAt === null) firstTextAt = performance.timeOrigin + performance.now();
      },
    }).then((r) => {
      const tasks = r.view.tasks().map((t) => ({ task: t.task, attempt: t.ref.attempt, deliveries: t.ref.deliveries, text: t.text, end: t.end }));
      process.stdout.write(`${JSON.stringify({ job: jobId, status: r.last?.status ?? null, firstTextAt, tasks, counts: r.view.counts, follower: r.follower.counts })}\n`);
      if (++finished === jobs.length) {
        if (cutter) clearTimeout(cutter);
        process.stdout.write(`done ${JSON.stringify({ cuts: proxy?.cuts ?? 0 })}\n`);
        void Promise.all(ncs.map((nc) => nc.close())).then(() => proxy?.close()).then(() => process.exit(0));
      }
    }, (e: Error) => {
      process.stdout.write(`${JSON.stringify({ job: jobId, error: e.message })}\n`);
      resolve();
    });
  });
  await ready;
}));
