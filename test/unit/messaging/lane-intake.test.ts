/** The lanes' intake on a fake connection: where each free slot pulls from while a consumer is being made. */
import { describe, expect, it } from '@jest/globals';
import type { Msg, NatsConnection } from '@nats-io/nats-core';
import type { JetStreamManager } from '@nats-io/jetstream';
import { LaneIntake, type LanePullTiming } from '../../../src/messaging/lane-intake.ts';

type Callback = (err: Error | null, m: Msg) => void;

/** A connection whose subscriptions the test rings, a JetStream API whose consumer creations the test ends. */
function fakes() {
  const subs = new Map<string, Callback>();
  const requests: { consumer: string; batch: number; reply: string }[] = [];
  const nc = {
    subscribe: (subject: string, opts: { callback: Callback }) => {
      subs.set(subject, opts.callback);
      return { unsubscribe() {} };
    },
    publish: (subject: string, data: string, opts: { reply: string }) => void requests.push({ consumer: subject.split('.').at(-1)!, batch: (JSON.parse(data) as { batch: number }).batch, reply: opts.reply }),
    isClosed: () => false,
  } as unknown as NatsConnection;
  const creations = new Map<string, () => void>();
  const jsm = {
    streams: { info: async () => ({ state: { subjects: {} } }) },
    consumers: {
      add: (_stream: string, c: { durable_name: string }) => new Promise<void>((resolve) => creations.set(c.durable_name, resolve)),
      delete: async () => true,
    },
  } as unknown as JetStreamManager;
  /** A job published on `subject` (the doorbell; the body is not read). */
  const publish = (subject: string) => subs.get('alt.*.*')!(null, { subject, data: new Uint8Array() } as unknown as Msg);
  let dseq = 0;
  /** The server's answer to the last request: a message of stream sequence `seq`. */
  const deliver = (subject: string, seq: number) => {
    const r = requests.at(-1)!;
    const inbox = [...subs.keys()].find((k) => k.endsWith('.>'))!.slice(0, -2);
    expect(r.reply.startsWith(inbox)).toBe(true);
    subs.get(`${inbox}.>`)!(null, { subject, reply: `$JS.ACK.ALT.${r.consumer}.1.${seq}.${++dseq}.1700000000000000000.0`, data: new Uint8Array(), headers: undefined } as unknown as Msg);
  };
  /** The server's status answer to the last request (404: nothing there). */
  const status = (code: number) => {
    const inbox = [...subs.keys()].find((k) => k.endsWith('.>'))!.slice(0, -2);
    subs.get(`${inbox}.>`)!(null, { subject: requests.at(-1)!.reply, reply: '', data: new Uint8Array(), headers: { code, description: 'No Messages', get: () => '' } } as unknown as Msg);
  };
  /** The server's answer to request `r`: a message of stream sequence `seq`, or a status (404: nothing there). */
  const answer = (r: { consumer: string; reply: string }, subject: string, seq: number | { code: number }) => {
    const inbox = [...subs.keys()].find((k) => k.endsWith('.>'))!.slice(0, -2);
    if (typeof seq === 'number') subs.get(`${inbox}.>`)!(null, { subject, reply: `$JS.ACK.ALT.${r.consumer}.1.${seq}.${++dseq}.1700000000000000000.0`, data: new Uint8Array(), headers: undefined } as unknown as Msg);
    else subs.get(`${inbox}.>`)!(null, { subject: r.reply, reply: '', data: new Uint8Array(), headers: { code: seq.code, description: 'No Messages', get: () => '' } } as unknown as Msg);
  };
  return { nc, jsm, requests, creations, publish, deliver, status, answer };
}

const flush = () => new Promise((r) => setImmediate(r));

/** An intake of `concurrency` slots on the fakes, started; `running` holds the stream sequences of its jobs, `clock.t` its time. */
function setup(concurrency: number, tenantReserve = 0) {
  const f = fakes();
  const running = new Set<number>();
  const clock = { t: 1_000_000 };
  const pulled: LanePullTiming[] = [];
  const intake = new LaneIntake({
    nc: f.nc, jsm: f.jsm, stream: 'ALT', durable: 'runner', prefix: 'alt', concurrency, scanMs: 60_000, tenantReserve, now: () => clock.t,
    inFlight: () => running.size, holds: (seq) => running.has(seq), paused: () => false,
    onMessage: (d) => void running.add(d.seq), onPulled: (t) => void pulled.push(t),
    consumer: { ackWaitMs: 30_000, maxDeliver: 5, maxAckPending: 1_000 },
  });
  intake.start();
  return { f, running, clock, intake, pulled };
}

describe('LaneIntake', () => {
  it('keeps the next free slot for a critical job whose tenant\'s consumer is being made: the low backlog does not take it meanwhile', async () => {
    const { f, running, intake } = setup(2);
    // A low backlog: its consumer is made, then a pull for both slots, answered with two jobs.
    f.publish('alt.low.acme');
    f.creations.get('runner-low-acme')!();
    await flush();
    expect(f.requests.map((r) => `${r.consumer} ${r.batch}`)).toEqual(['runner-low-acme 2']);
    f.deliver('alt.low.acme', 1);
    f.deliver('alt.low.acme', 2);
    // A critical job of a tenant never seen: its consumer is being made when a low job ends.
    f.publish('alt.critical.newco');
    expect([...f.creations.keys()]).toEqual(['runner-low-acme', 'runner-critical-newco']);
    running.delete(1);
    intake.kick();
    await flush();
    // The freed slot waits for the critical consumer: no pull from the low lane.
    expect(f.requests.map((r) => r.consumer)).toEqual(['runner-low-acme']);
    f.creations.get('runner-critical-newco')!();
    await flush();
    expect(f.requests.map((r) => `${r.consumer} ${r.batch}`)).toEqual(['runner-low-acme 2', 'runner-critical-newco 1']);
    await intake.stop();
  });

  it('leaves the last free slot (RUNNER_TENANT_RESERVE) to the other tenants while more than one was active recently: a flood over its fair share does not take it, one tenant alone does', async () => {
    const { f, running, clock, intake } = setup(4, 1);
    const ready = async (consumer: string) => {
      f.creations.get(consumer)!();
      await flush();
    };
    const requests = () => f.requests.map((r) => `${r.consumer} ${r.batch}`);
    // Tenant A alone: every slot, and the last one again when it frees.
    f.publish('alt.low.a');
    await ready('runner-low-a');
    for (const seq of [1, 2, 3, 4]) f.deliver('alt.low.a', seq);
    running.delete(1);
    intake.kick();
    f.deliver('alt.low.a', 5);
    expect(requests()).toEqual(['runner-low-a 4', 'runner-low-a 1']);
    // Tenant B comes with one job: it takes the next free slot, and ends.
    f.publish('alt.low.b');
    await ready('runner-low-b');
    running.delete(2);
    intake.kick();
    f.deliver('alt.low.b', 6);
    expect(requests().at(-1)).toBe('runner-low-b 1');
    // B's queue is asked again once its job ends, and answers that nothing waits.
    running.delete(6);
    intake.kick();
    expect(requests()).toHaveLength(4);
    f.status(404);
    // A holds 3 of 4 slots, more than its fair share (2) while B was active: the last slot stays free.
    intake.kick();
    expect(requests()).toHaveLength(4);
    // A's next job ends: two free, A may take one of them, not the last.
    running.delete(3);
    intake.kick();
    expect(requests().at(-1)).toBe('runner-low-a 1');
    f.deliver('alt.low.a', 7);
    intake.kick();
    expect(requests()).toHaveLength(5);
    // B's next job starts at once, in the slot kept free.
    f.publish('alt.low.b');
    expect(requests().at(-1)).toBe('runner-low-b 1');
    f.deliver('alt.low.b', 8);
    running.delete(8);
    intake.kick();
    f.status(404);
    expect(requests().at(-1)).toBe('runner-low-b 1');
    // Ten seconds without B: A alone again, it takes the last slot too.
    clock.t += 10_000;
    intake.kick();
    expect(requests().at(-1)).toBe('runner-low-a 1');
    await intake.stop();
  });
  it('keeps lane order with the tenant reserve: a slot kept from a critical flood goes to no low tenant, and a low tenant alone holds no critical slot back', async () => {
    const { f, running, clock, intake } = setup(4, 1);
    const ready = async (consumer: string) => {
      f.creations.get(consumer)!();
      await flush();
    };
    const requests = () => f.requests.map((r) => `${r.consumer} ${r.batch}`);
    // A critical flood alone: every slot.
    f.publish('alt.critical.a');
    await ready('runner-critical-a');
    for (const seq of [1, 2, 3, 4]) f.deliver('alt.critical.a', seq);
    // A low tenant waits beside it: it does not count against the flood's share (it could not take the slot kept):
    // the flood takes the slot that frees.
    f.publish('alt.low.c');
    await ready('runner-low-c');
    running.delete(1);
    intake.kick();
    expect(requests()).toEqual(['runner-critical-a 4', 'runner-critical-a 1']);
    f.deliver('alt.critical.a', 5);
    // A second critical tenant runs one job: from now on the flood leaves it the last slot.
    f.publish('alt.critical.b');
    await ready('runner-critical-b');
    running.delete(2);
    intake.kick();
    expect(requests().at(-1)).toBe('runner-critical-b 1');
    f.deliver('alt.critical.b', 6);
    running.delete(6);
    intake.kick();
    f.status(404);
    // The flood holds 3 of 4 slots, over its share (2 of 4 with b): the free slot is kept, and the low tenant waiting
    // does not take it while critical work waits.
    intake.kick();
    expect(requests().at(-1)).toBe('runner-critical-b 1');
    expect(requests().filter((r) => r.startsWith('runner-low-c'))).toEqual([]);
    // b's next job takes it at once.
    f.publish('alt.critical.b');
    expect(requests().at(-1)).toBe('runner-critical-b 1');
    f.deliver('alt.critical.b', 7);
    running.delete(7);
    intake.kick();
    f.status(404);
    // Ten seconds without b: the flood alone in its lane again takes the last slot.
    clock.t += 10_000;
    intake.kick();
    expect(requests().at(-1)).toBe('runner-critical-a 1');
    expect(requests().filter((r) => r.startsWith('runner-low-c'))).toEqual([]);
    await intake.stop();
  });
  it('asks several tenants\' queues at once, one request each, never for more jobs than free slots: a light tenant\'s job does not wait for another queue\'s answer', async () => {
    const { f, running, intake } = setup(4);
    const requests = () => f.requests.map((r) => `${r.consumer} ${r.batch}`);
    for (const t of ['a', 'b', 'c']) f.publish(`alt.medium.${t}`);
    for (const t of ['a', 'b', 'c']) f.creations.get(`runner-medium-${t}`)!();
    await flush();
    // Three tenants wait: three requests of one job each are open together, before any answer.
    expect(requests()).toEqual(['runner-medium-a 1', 'runner-medium-b 1', 'runner-medium-c 1']);
    // A doorbell of a tenant already asked sends nothing more to it.
    f.publish('alt.medium.a');
    expect(requests()).toHaveLength(3);
    f.publish('alt.medium.d');
    f.creations.get('runner-medium-d')!();
    await flush();
    expect(requests().at(-1)).toBe('runner-medium-d 1');
    // The four slots are asked for: a fifth tenant waits for an answer.
    f.publish('alt.medium.e');
    f.creations.get('runner-medium-e')!();
    await flush();
    expect(requests()).toHaveLength(4);
    // b's queue was empty: its slot goes to e at once, while a, c and d are still unanswered.
    f.answer(f.requests[1], '', { code: 404 });
    expect(requests().at(-1)).toBe('runner-medium-e 1');
    f.answer(f.requests[0], 'alt.medium.a', 1);
    f.answer(f.requests[2], 'alt.medium.c', 2);
    f.answer(f.requests[3], 'alt.medium.d', 3);
    f.answer(f.requests[4], 'alt.medium.e', 4);
    expect([...running]).toEqual([1, 2, 3, 4]);
    // Every slot runs a job: nothing more is asked, though a (rung twice) may still have work.
    intake.kick();
    expect(requests()).toHaveLength(5);
    running.delete(2);
    intake.kick();
    expect(requests()).toHaveLength(6);
    expect(requests().at(-1)).toMatch(/^runner-medium-[acde] 1$/);
    running.clear();
    await intake.stop();
  });

  it('asks no lower lane while a higher lane\'s request is open: free slots wait for its answer, a higher lane\'s request goes beside a lower one\'s', async () => {
    const { f, intake } = setup(4);
    const requests = () => f.requests.map((r) => `${r.consumer} ${r.batch}`);
    for (const s of ['alt.critical.a', 'alt.critical.b', 'alt.low.c']) f.publish(s);
    for (const c of ['runner-critical-a', 'runner-critical-b', 'runner-low-c']) f.creations.get(c)!();
    await flush();
    // Two critical tenants: one job each asked for; two slots stay free, not asked of the low lane meanwhile.
    expect(requests()).toEqual(['runner-critical-a 1', 'runner-critical-b 1']);
    f.answer(f.requests[0], 'alt.critical.a', 1);
    expect(requests()).toHaveLength(3);
    expect(requests().at(-1)).toBe('runner-critical-a 1');
    f.answer(f.requests[1], '', { code: 404 });
    f.answer(f.requests[2], '', { code: 404 });
    // Critical answered: the low lane is asked for the free slots (one tenant waiting there: all of them).
    expect(requests().at(-1)).toBe('runner-low-c 3');
    await intake.stop();
    // Two low tenants asked for one job each: a critical job published meanwhile is asked for at once, beside them.
    const second = setup(4);
    for (const s of ['alt.low.c', 'alt.low.d']) second.f.publish(s);
    for (const c of ['runner-low-c', 'runner-low-d']) second.f.creations.get(c)!();
    await flush();
    second.f.publish('alt.critical.a');
    second.f.creations.get('runner-critical-a')!();
    await flush();
    expect(second.f.requests.map((r) => `${r.consumer} ${r.batch}`)).toEqual(['runner-low-c 1', 'runner-low-d 1', 'runner-critical-a 2']);
    await second.intake.stop();
  });

  it('tells where a started job\'s wait went: its doorbell, the consumer made for it, the pulls it took, the request that brought it', async () => {
    const { f, running, clock, intake, pulled } = setup(1);
    f.publish('alt.high.acme');
    clock.t += 30;
    f.creations.get('runner-high-acme')!();
    await flush();
    // The first answer is empty (the doorbell outran the store); the re-check brings the job.
    clock.t += 5;
    f.status(404);
    clock.t += 40;
    await new Promise((r) => setTimeout(r, 60));
    expect(f.requests.map((r) => r.consumer)).toEqual(['runner-high-acme', 'runner-high-acme']);
    clock.t += 7;
    f.deliver('alt.high.acme', 1);
    expect(pulled).toEqual([{
      alt_stream_seq: 1, lane: 'high', tenant: 'acme', stored_at: 1_700_000_000_000, bell_at: 1_000_000, open_at_bell: false,
      requested_at: 1_000_075, received_at: 1_000_082, pulls_since_bell: 2, consumer_made_at: 1_000_030,
    }]);
    running.clear();
    await intake.stop();
  });
});
