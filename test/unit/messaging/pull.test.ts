/** The pull loop on a fake connection and an injected clock: requests for free slots only, each message matched to the request it answers, nothing forgotten across a stall. */
import { describe, expect, it } from '@jest/globals';
import type { Msg, NatsConnection } from '@nats-io/nats-core';
import type { Delivery } from '../../../src/contract/delivery.ts';
import { PullLoop } from '../../../src/messaging/pull.ts';

function fakeNc() {
  const requests: { subject: string; batch: number; reply: string }[] = [];
  let callback: ((err: Error | null, m: Msg) => void) | null = null;
  const nc = {
    subscribe: (_subject: string, opts: { callback: (err: Error | null, m: Msg) => void }) => {
      callback = opts.callback;
      return { unsubscribe() {}, isClosed: () => false };
    },
    publish: (subject: string, data: string, opts: { reply: string }) => void requests.push({ subject, batch: (JSON.parse(data) as { batch: number }).batch, reply: opts.reply }),
    isClosed: () => false,
  } as unknown as NatsConnection;
  let dseq = 0;
  const message = (seq: number, deliveries = 1) => callback!(null, { subject: 'alt.submit', reply: `$JS.ACK.ALT.runner.${deliveries}.${seq}.${++dseq}.1700000000000000000.0`, data: new Uint8Array(), headers: undefined } as unknown as Msg);
  const status = (code: number, pending: number) => callback!(null, { subject: '', reply: '', data: new Uint8Array(), headers: { code, description: 'Request Timeout', get: (k: string) => (k === 'Nats-Pending-Messages' ? String(pending) : '') } } as unknown as Msg);
  return { nc, requests, message, status };
}

function setup(concurrency = 8) {
  const clock = { t: 1_000_000 };
  const f = fakeNc();
  let inFlight = 0;
  const got: [Delivery, number][] = [];
  const loop = new PullLoop({
    nc: f.nc, stream: 'ALT', durable: 'runner', concurrency, expiresMs: 2_000, now: () => clock.t,
    inFlight: () => inFlight, paused: () => false,
    onMessage: (d, requestedAt) => {
      inFlight++;
      got.push([d, requestedAt]);
    },
  });
  return { clock, f, loop, got, free: (n: number) => (inFlight -= n) };
}

describe('PullLoop', () => {
  it('asks for the free slots only, in batches, and matches each message to the oldest open request', async () => {
    const s = setup(8);
    s.loop.start();
    expect(s.f.requests.map((r) => r.batch)).toEqual([8]);
    expect(s.loop.outstanding).toBe(8);
    s.clock.t += 100;
    for (let seq = 1; seq <= 3; seq++) s.f.message(seq);
    expect(s.got.map(([d, at]) => [d.seq, d.receivedAt, at])).toEqual([[1, 1_000_100, 1_000_000], [2, 1_000_100, 1_000_000], [3, 1_000_100, 1_000_000]]);
    // 3 running + 5 requested: nothing is free.
    s.loop.kick();
    expect(s.f.requests).toHaveLength(1);
    // The server ends the request (expired, 5 unfilled): its 5 slots are asked for again at once.
    s.f.status(408, 5);
    expect(s.f.requests.map((r) => r.batch)).toEqual([8, 5]);
    expect(s.loop.outstanding).toBe(5);
    s.free(1);
    // Fewer than a quarter of the slots free while a request is open: no new request.
    s.loop.kick();
    expect(s.f.requests).toHaveLength(2);
    s.free(2);
    s.loop.kick();
    expect(s.f.requests.map((r) => r.batch)).toEqual([8, 5, 3]);
    s.clock.t += 50;
    s.f.message(4);
    expect(s.got.at(-1)![1]).toBe(1_000_100);
    await s.loop.stop();
  });

  it('forgets a request once it surely expired, but not on a timer that fired late after a stall', async () => {
    const s = setup(4);
    s.loop.start();
    expect(s.f.requests).toHaveLength(1);
    // Stalled for 5 s: the timer fires late; the server's answers to the old request are still to be read.
    s.clock.t += 5_000;
    s.loop.expire();
    expect(s.loop.outstanding).toBe(4);
    s.f.message(1);
    // It answers the request sent before the stall: its lease may have begun then.
    expect(s.got.at(-1)![1]).toBe(1_000_000);
    // On time again: the expired request is forgotten and a new one goes out for the free slots.
    s.clock.t += 1_000;
    s.loop.expire();
    expect(s.f.requests.map((r) => r.batch)).toEqual([4, 3]);
    const sentAt = s.clock.t;
    s.clock.t += 20;
    s.f.message(2);
    expect(s.got.at(-1)![1]).toBe(sentAt);
    await s.loop.stop();
  });

  it('sends nothing after a reconnect until the old requests have surely expired', async () => {
    const s = setup(4);
    s.loop.start();
    s.loop.reconnected();
    s.f.status(408, 4);
    expect(s.f.requests).toHaveLength(1);
    s.clock.t += 3_001;
    s.loop.kick();
    expect(s.f.requests.map((r) => r.batch)).toEqual([4, 4]);
    await s.loop.stop();
  });
});
