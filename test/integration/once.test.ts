/**
 * Each job runs once: these tests assert what the workers did (runs, prompts the fake AI got,
 * log lines, records), never what the LAST stream's de-duplication hid.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { Kvm } from '@nats-io/kv';
import { AckPolicy, DeliverPolicy, RetentionPolicy } from '@nats-io/jetstream';
import { headers as natsHeaders, nanos } from '@nats-io/nats-core';
import { FakeOrchestrator } from '../../src/ai/fake-orchestrator.ts';
import { Delivery } from '../../src/contract/delivery.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { inProcessWorker, type InProcessWorker } from '../helpers/in-process.ts';

let h: Harness | undefined;
let extra: FakeOrchestrator | undefined;
let inproc: InProcessWorker | undefined;
const restore: (() => void)[] = [];
afterEach(async () => {
  for (const r of restore.splice(0)) r();
  await inproc?.close();
  inproc = undefined;
  await h?.close();
  h = undefined;
  await extra?.close();
  extra = undefined;
});

const prompt = (id: string, step: number) => `Task:\nstep ${step} of ${id}`;
const requestsFor = (fake: FakeOrchestrator, id: string, step: number) => fake.stats.prompts.filter((p) => p.endsWith(prompt(id, step))).length;

describe('one run per message', () => {
  it('stops a run whose lease lapsed (SIGSTOP past the ack wait) before its next AI call; the redelivery runs once elsewhere', async () => {
    h = await Harness.start();
    extra = new FakeOrchestrator({ latencyMs: 50 });
    const otherAi = await extra.listen();
    h.fake.setFaults({ latencyMs: 700 });
    const env = { RUNNER_ACK_WAIT_MS: '2000', RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_NAK_DELAY_MS: '100' };
    const a = await h.worker(env);
    await h.publish(job('frozen', 6));
    // A has t1 in flight at its AI when it is frozen for longer than the ack wait.
    await eventually(async () => h!.fake.stats.requests, (n) => n >= 2, 'A at its second task');
    a.kill('SIGSTOP');
    const atFreeze = h.fake.stats.requests;
    const b = await h.worker({ ...env, AI_URL: otherAi });
    const [{ last }] = await h.waitForLasts(1, 30_000);
    a.kill('SIGCONT');
    await eventually(async () => a.logs('lease lost: the job stops here without publishing; JetStream hands it to another delivery'), (l) => l.length === 1, 'A to notice the lost lease');
    await eventually(async () => a.logs('run abandoned: the message belongs to a newer delivery; nothing was published'), (l) => l.length === 1, 'A to abandon its run');
    // After it was continued, A made no AI call: its fake saw only what was in flight at the freeze.
    expect(h.fake.stats.requests).toBe(atFreeze);
    await eventually(async () => b.logs('job finished').length, (n) => n >= 1, "B's job finished line");
    expect(a.logs('job finished')).toHaveLength(0);
    expect(b.logs('job finished').map((l) => l.alt_id)).toEqual(['frozen']);
    expect(last.metadata.deliveries).toBeGreaterThanOrEqual(2);
    // Every step was paid once in all (at A before the freeze, or at B, which resumed what A had stored),
    // except the one in flight at A when it froze, which B may pay again.
    for (let step = 1; step <= 6; step++) {
      const paid = requestsFor(h.fake, 'frozen', step) + requestsFor(extra, 'frozen', step);
      expect({ step, paid: step === atFreeze ? Math.min(paid, 1) : paid }).toEqual({ step, paid: 1 });
    }
    expect([...a.lines, ...b.lines].filter((l) => l.includes('DUPLICATE_LAST'))).toEqual([]);
    expect(await h.lasts()).toHaveLength(1);
  });

  it('adopts a redelivery of a job running in this worker instead of running it twice (lease renewals lost on the way)', async () => {
    h = await Harness.start();
    h.fake.setFaults({ latencyMs: 2_500 });
    // Renewals that never reach the server though the worker takes them as confirmed: JetStream redelivers to the same worker while the job runs.
    const renew = Delivery.prototype.renew;
    Delivery.prototype.renew = async function lostOnTheWay() {
      return true;
    };
    restore.push(() => (Delivery.prototype.renew = renew));
    inproc = await inProcessWorker(h, { RUNNER_ACK_WAIT_MS: '1000', RUNNER_MAX_DELIVER: '50' });
    await h.publish(job('adopted', 2));
    await h.waitForLasts(1, 30_000);
    await eventually(async () => h!.consumer(), (c) => c.num_ack_pending === 0 && c.num_pending === 0, 'the consumer to drain');
    expect(inproc.logs('redelivery of a job running here: it goes on under the new delivery').length).toBeGreaterThanOrEqual(1);
    expect(inproc.logs('job finished')).toHaveLength(1);
    expect([requestsFor(h.fake, 'adopted', 1), requestsFor(h.fake, 'adopted', 2)]).toEqual([1, 1]);
    expect((await h.jsm.streams.info('ALT')).state.messages).toBe(0);
  });

  it('acks without running again a redelivered job whose .last is stored (the first ack was lost)', async () => {
    h = await Harness.start();
    h.fake.setFaults({ latencyMs: 20 });
    const ackAck = Delivery.prototype.ackAck;
    let lost = 0;
    Delivery.prototype.ackAck = async function lose(this: Delivery, timeout?: number) {
      if (this.deliveries === 1) {
        lost++;
        return false; // never sent: JetStream redelivers after the ack wait
      }
      return ackAck.call(this, timeout);
    };
    restore.push(() => (Delivery.prototype.ackAck = ackAck));
    inproc = await inProcessWorker(h, { RUNNER_ACK_WAIT_MS: '1000', RUNNER_CHECKPOINT_BUDGET_MS: '0' });
    await h.publish(job('ack-lost', 3));
    await h.waitForLasts(1);
    // The ack was not confirmed: the checkpoints stay until the message is settled for good.
    const cp = await new Kvm(h.nc).open('ALT_CHECKPOINTS');
    const keys: string[] = [];
    for await (const k of await cp.keys('ALT.1.>')) keys.push(k);
    expect(keys.length).toBeGreaterThan(0);
    await eventually(async () => inproc!.logs('the .last of this message is stored already (the earlier ack was lost): acked without running again'), (l) => l.length === 1, 'the redelivery to be recognised');
    await eventually(async () => h!.jsm.streams.info('ALT'), (i) => i.state.messages === 0, 'the message to leave ALT');
    expect(lost).toBe(1);
    expect([1, 2, 3].map((s) => requestsFor(h!.fake, 'ack-lost', s))).toEqual([1, 1, 1]);
    expect(inproc.logs('job finished')).toHaveLength(1);
    expect(await h.lasts()).toHaveLength(1);
  });

  it('makes a duplicate .last visible: a warning and a metric, not silence', async () => {
    h = await Harness.start();
    inproc = await inProcessWorker(h);
    // A .last under the message id the worker will use (as a second run of the message would find).
    const hd = natsHeaders();
    hd.set('Alt-Id', 'dup');
    await h.js.publish('last.dup', '{}', { msgID: 'last:ALT:1', headers: hd });
    await h.publish(job('dup', 1));
    await eventually(async () => inproc!.logs('the LAST stream already held this .last (a second run of one message)'), (l) => l.length === 1, 'the duplicate warning');
    expect(inproc.logs('the LAST stream already held this .last (a second run of one message)')[0]).toMatchObject({ code: 'DUPLICATE_LAST', alt_id: 'dup' });
  });

  it('hands a redelivered job back shortly when its checkpoints cannot be read, instead of paying every call again', async () => {
    h = await Harness.start();
    // Step 3 is held until the first worker is gone, so the job cannot end there however slowly the second one starts.
    h.fake.setFaults({ latencyMs: 400, latencyRules: [{ match: 'step 3 of unreadable', ms: 600_000 }] });
    const env = { RUNNER_ACK_WAIT_MS: '4000', RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_NAK_DELAY_MS: '300', RUNNER_MAX_DELIVER: '5' };
    const first = await h.worker(env);
    await h.publish(job('unreadable', 4));
    await eventually(async () => h!.fake.stats.requests, (n) => n >= 3, 'two tasks done');
    // The second worker is up before the first dies: the redelivery (an ack wait after the kill) finds the bucket gone.
    const second = await h.worker(env);
    first.kill('SIGKILL');
    await first.exited;
    h.fake.setFaults({ latencyMs: 400 });
    // The checkpoint bucket goes away before the redelivery comes (as during a leader election).
    const cpInfo = await h.jsm.streams.info('KV_ALT_CHECKPOINTS');
    const saved = await h.records('KV_ALT_CHECKPOINTS');
    expect(saved.length).toBeGreaterThan(0);
    await h.jsm.streams.delete('KV_ALT_CHECKPOINTS');
    await eventually(async () => second.logs('job handed back to JetStream'), (l) => l.some((x) => x.code === 'CHECKPOINTS_UNAVAILABLE'), 'the hand-back');
    expect(requestsFor(h.fake, 'unreadable', 3)).toBe(0);
    await h.jsm.streams.add(cpInfo.config);
    for (const r of saved) await h.js.publish(r.subject, r.data);
    const [{ last }] = await h.waitForLasts(1, 30_000);
    expect(last.status).toBe('success');
    expect([1, 2, 3, 4].map((s) => requestsFor(h!.fake, 'unreadable', s))).toEqual([1, 1, 1, 1]);
    expect(second.logs('resuming from checkpoints').length).toBe(1);
  });

  it('refuses to start when a bucket is missing and provisioning is off: exit 2, naming the bucket', async () => {
    h = await Harness.start();
    await h.worker();
    await h.jsm.streams.delete('KV_ALT_CHECKPOINTS');
    await expect(h.worker({ RUNNER_PROVISION: 'false' })).rejects.toThrow(/worker exited/);
    const refused = h.workers.at(-1)!;
    expect((await refused.exited).code).toBe(2);
    expect(refused.logs('worker could not start')[0]).toMatchObject({ code: 'TOPOLOGY_MISMATCH', error: expect.stringContaining('ALT_CHECKPOINTS') });
  });
});

describe('AI outages', () => {
  it('spends no delivery while the AI side is down: jobs wait in the worker, nothing new is pulled, the backlog drains after', async () => {
    h = await Harness.start();
    h.fake.setFaults({ errorRate: 1, errorStatus: 503 });
    const w = await h.worker({ RUNNER_MAX_DELIVER: '2', AI_MAX_RETRIES: '1', AI_BREAKER_THRESHOLD: '2', AI_BREAKER_HALF_OPEN_MS: '500', RUNNER_CONCURRENCY: '2' });
    for (let i = 0; i < 8; i++) await h.publish(job(`outage-${i}`, 2));
    await eventually(async () => w.logs('the AI side is down: the worker takes no new work; waiting jobs keep their leases'), (l) => l.length === 1, 'the gate to close');
    // Well past RUNNER_MAX_DELIVER × the nak delay: on the old behaviour every job would be dead-lettered by now.
    await new Promise((r) => setTimeout(r, 4_000));
    const during = await h.consumer();
    expect(during.num_pending).toBeGreaterThanOrEqual(6); // not pulled while down
    expect(during.num_redelivered).toBe(0);
    h.fake.setFaults({});
    const lasts = await h.waitForLasts(8, 60_000);
    expect(lasts.every(({ last }) => last.status === 'success' && last.metadata.deliveries === 1)).toBe(true);
    expect(await h.records('ALT_DLQ')).toHaveLength(0);
    expect((await h.consumer()).num_redelivered).toBe(0);
    expect(w.logs('the AI side answers again: waiting jobs go on and the worker takes work again').length).toBeGreaterThanOrEqual(1);
  });
});

describe('janitor', () => {
  it('removes messages left below the ack floor whose .last exists, and dead-letters the rest as STRANDED', async () => {
    h = await Harness.start();
    // The state a missed max-deliveries advisory (or nats-server 2.9 after a crash) leaves: a work-queue
    // stream holding messages at or below the consumer's ack floor, never delivered again.
    await h.jsm.streams.add({ name: 'ALT', subjects: ['alt.>'], retention: RetentionPolicy.Workqueue });
    await h.jsm.consumers.add('ALT', { durable_name: 'runner', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: nanos(500), max_deliver: 1, max_ack_pending: 1000 });
    for (const id of ['kept-1', 'kept-2', 'lost-3']) await h.publish(job(id, 1));
    const consumer = await h.js.consumers.get('ALT', 'runner');
    const batch = await consumer.fetch({ max_messages: 3, expires: 2_000 });
    for await (const m of batch) void m; // delivered once, never acked: exhausted after the ack wait
    await new Promise((r) => setTimeout(r, 1_000));
    await h.publish(job('floor-4', 1));
    const m4 = await consumer.next({ expires: 2_000 });
    await m4!.ackAck();
    expect((await h.consumer()).ack_floor.stream_seq).toBe(4);
    expect((await h.jsm.streams.info('ALT')).state.messages).toBe(3);
    await h.jsm.streams.add({ name: 'LAST', subjects: ['last.>'] });
    for (const [seq, id] of [[1, 'kept-1'], [2, 'kept-2']] as const) {
      const hd = natsHeaders();
      hd.set('Alt-Id', id);
      hd.set('Alt-Stream-Seq', String(seq));
      await h.js.publish(`last.${id}`, JSON.stringify({ alt_file_id: id }), { headers: hd, msgID: `last:ALT:${seq}` });
    }
    const w = await h.worker({ RUNNER_JANITOR_INTERVAL_MS: '60000' });
    await eventually(() => h!.jsm.streams.info('ALT'), (i) => i.state.messages === 0, 'ALT to be empty');
    const dlq = await eventually(() => h!.records('ALT_DLQ'), (r) => r.length === 1, 'the STRANDED dead letter');
    expect(dlq[0].subject).toBe('dlq.alt.STRANDED');
    expect(dlq[0].headers?.get('Alt-Id')).toBe('lost-3');
    // The janitor reports once its pass is over, which can be a moment after the last write the test saw.
    const report = await eventually(async () => w.logs('janitor: settled messages left below the ack floor'), (l) => l.length === 1, "the janitor's report");
    expect(report[0]).toMatchObject({ scanned: 3, removed: 2, deadLettered: 1 });
    const failure = await eventually(() => h!.lasts(), (l) => l.some(({ last }) => last.alt_file_id === 'lost-3'), 'the failure .last');
    expect(failure.find(({ last }) => last.alt_file_id === 'lost-3')?.last.metadata.error_code).toBe('STRANDED');
  });
});
