/**
 * `scripts/node24 bench/lane-kick.ts`: the CPU the lanes' intake (RUNNER_LANES=true) spends on one
 * doorbell with many tenants known, on a fake connection (no server: a figure the machine's load
 * barely moves). Each of `tenants` queues rings once (its consumer made, an empty answer), then
 * doorbells go round them: each one a kick, a no-wait pull and its empty answer (another kick),
 * with the tenant reserve on (RUNNER_TENANT_RESERVE=1) and 8 slots. Prints µs CPU per doorbell
 * for 1, 100 and 1,000 tenants (BENCH_TENANTS: a comma-separated list instead).
 */
import type { Msg, NatsConnection } from '@nats-io/nats-core';
import type { JetStreamManager } from '@nats-io/jetstream';
import { LaneIntake } from '../src/messaging/lane-intake.ts';

type Callback = (err: Error | null, m: Msg) => void;

async function perDoorbell(tenants: number, rounds = 20_000): Promise<number> {
  const subs = new Map<string, Callback>();
  let reqs: { reply: string }[] = [];
  const nc = {
    subscribe: (s: string, o: { callback: Callback }) => (subs.set(s, o.callback), { unsubscribe() {} }),
    publish: (_subject: string, _data: string, o: { reply: string }) => void reqs.push({ reply: o.reply }),
    isClosed: () => false,
  } as unknown as NatsConnection;
  const jsm = { streams: { info: async () => ({ state: { subjects: {} } }) }, consumers: { add: async () => {}, delete: async () => true } } as unknown as JetStreamManager;
  const running = new Set<number>();
  const intake = new LaneIntake({
    nc, jsm, stream: 'ALT', durable: 'runner', prefix: 'alt', concurrency: 8, scanMs: 1e9, tenantReserve: 1,
    inFlight: () => running.size, holds: (s) => running.has(s), paused: () => false, onMessage: (d) => void running.add(d.seq),
    consumer: { ackWaitMs: 30_000, maxDeliver: 5, maxAckPending: 1_000 },
  });
  intake.start();
  const bell = (subject: string) => subs.get('alt.*.*')!(null, { subject } as Msg);
  const inbox = [...subs.keys()].find((k) => k.endsWith('.>'))!.slice(0, -2);
  const empty = (r: { reply: string }) => subs.get(`${inbox}.>`)!(null, { subject: r.reply, reply: '', headers: { code: 404, description: 'No Messages' } } as unknown as Msg);
  const answerAll = () => {
    const rs = reqs;
    reqs = [];
    for (const r of rs) empty(r);
  };
  for (let i = 0; i < tenants; i++) bell(`alt.medium.t${i}`);
  for (let k = 0; k < 1_000; k++) {
    await new Promise((r) => setImmediate(r));
    answerAll();
    if (k > 10 && reqs.length === 0) break;
  }
  const t0 = process.cpuUsage();
  for (let i = 0; i < rounds; i++) {
    bell(`alt.medium.t${i % tenants}`);
    answerAll();
  }
  const u = process.cpuUsage(t0);
  await intake.stop();
  return (u.user + u.system) / rounds;
}

const sizes = (process.env.BENCH_TENANTS ?? '1,100,1000').split(',').map(Number);
for (const n of sizes) {
  await perDoorbell(n, 2_000); // warm up
  console.log(`  ${String(n).padStart(5)} tenants: ${(await perDoorbell(n)).toFixed(1)} µs CPU per doorbell (a kick, a no-wait pull, its empty answer)`);
}
