/** The lanes' intake on a fake connection: where each free slot pulls from while a consumer is being made. */
import { describe, expect, it } from '@jest/globals';
import type { Msg, NatsConnection } from '@nats-io/nats-core';
import type { JetStreamManager } from '@nats-io/jetstream';
import { LaneIntake } from '../../../src/messaging/lane-intake.ts';

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
  return { nc, jsm, requests, creations, publish, deliver };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('LaneIntake', () => {
  it('keeps the next free slot for a critical job whose tenant\'s consumer is being made: the low backlog does not take it meanwhile', async () => {
    const f = fakes();
    const running = new Set<number>();
    const intake = new LaneIntake({
      nc: f.nc, jsm: f.jsm, stream: 'ALT', durable: 'runner', prefix: 'alt', concurrency: 2, scanMs: 60_000,
      inFlight: () => running.size, holds: (seq) => running.has(seq), paused: () => false,
      onMessage: (d) => void running.add(d.seq),
      consumer: { ackWaitMs: 30_000, maxDeliver: 5, maxAckPending: 1_000 },
    });
    intake.start();
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
});
