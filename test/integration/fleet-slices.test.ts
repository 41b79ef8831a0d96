/**
 * Fleet slices on a real KV bucket: compare-and-set renewals by several workers, the hand-over of
 * a dead worker's slice, a returned slice. The clock is injected (no sleeps, no timing assertions).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { Kvm, type KV } from '@nats-io/kv';
import { NatsServer } from '../../src/devtools/nats-server.ts';
import { FleetSlices, type Grant, type SliceBudget } from '../../src/flow/fleet-slices.ts';
import { createLedger, reserve, settle, slidingWindow, withCapacity, type Ledger } from '../../src/flow/ledger.ts';
import { parseEntry } from '../../src/flow/slices.ts';

const MIN = 60_000;
let server: NatsServer;
let nc: NatsConnection;
let kv: KV;
let now = 1_700_000_000_000;

/** A worker's side of one budget: its ledger and the last grant it got. */
class Budget implements SliceBudget {
  readonly key: string;
  readonly unit = 'tokens';
  readonly window = slidingWindow(MIN);
  led: Ledger = createLedger({ unit: 'tokens', capacity: 0, window: this.window });
  grant: Grant | null = null;
  wanting = 60_000;
  constructor(key: string) {
    this.key = key;
  }
  configured() {
    return 60_000;
  }
  learned() {
    return null;
  }
  want() {
    return this.wanting;
  }
  ledger() {
    return this.led;
  }
  granted(g: Grant) {
    this.grant = g;
    this.led = withCapacity(this.led, g.spendable);
  }
  spend(amount: number) {
    const r = reserve(this.led, { id: String(Math.random()), amount, now, ttlMs: 1_000 });
    if (!r.ok) throw new Error('refused');
    this.led = settle(r.ledger, r.hold.id, amount, now).ledger;
  }
}

const worker = (id: string) => new FleetSlices({ store: kv, worker: id, leaseMs: MIN, holdTtlMs: 1_000, now: () => now });

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connect({ servers: server.url });
  kv = await new Kvm(nc).create('ALT_FLOW_TEST', { history: 1 });
});

afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

describe('FleetSlices', () => {
  it('three workers renewing at once share the limit equally, none lost to a compare-and-set conflict', async () => {
    const fleet = ['a', 'b', 'c'].map(worker);
    const budgets = fleet.map(() => new Budget('ai.test.m1.tokens'));
    await Promise.all(fleet.map((f, i) => f.add(budgets[i])));
    // Renew until nobody holds more than its share (each renewal gives back what the others want).
    for (let round = 0; round < 4; round++) await Promise.all(fleet.map((f) => f.renew()));
    expect(budgets.map((b) => b.grant?.spendable)).toEqual([20_000, 20_000, 20_000]);
    const entry = parseEntry((await kv.get('ai.test.m1.tokens'))!.value)!;
    expect(Object.keys(entry.slices).sort()).toEqual(['a', 'b', 'c']);
  });

  it('hands a SIGKILLed worker\'s slice to the others once its lease ended and its spending left the window', async () => {
    const key = 'ai.test.m2.tokens';
    const [a, b] = [worker('a'), worker('b')];
    const [ba, bb] = [new Budget(key), new Budget(key)];
    await a.add(ba);
    await b.add(bb);
    await a.renew();
    await b.renew();
    expect([ba.grant?.spendable, bb.grant?.spendable]).toEqual([30_000, 30_000]);
    ba.spend(30_000);
    const diedAt = now; // a renews no more: dead
    now = diedAt + MIN - 1;
    await b.renew();
    expect(bb.grant?.spendable).toBe(30_000); // a's lease still runs
    now = diedAt + MIN;
    await b.renew();
    expect(bb.grant?.spendable).toBe(30_000); // its slice is a tail until a window after its lease
    now = diedAt + 2 * MIN - 1;
    await b.renew();
    expect(bb.grant?.spendable).toBe(30_000);
    now = diedAt + 2 * MIN;
    await b.renew();
    expect(bb.grant?.spendable).toBe(60_000); // back in use within 2 × the lease
    await b.close();
    const entry = parseEntry((await kv.get(key))!.value)!;
    expect(entry.slices).toEqual({});
  });

  it('a returned slice is free at once except what its worker still has in the window', async () => {
    const key = 'ai.test.m3.tokens';
    const [a, b] = [worker('a'), worker('b')];
    const [ba, bb] = [new Budget(key), new Budget(key)];
    await a.add(ba);
    await b.add(bb);
    await a.renew();
    await b.renew();
    ba.spend(1_000);
    await a.close();
    await b.renew();
    expect(bb.grant?.spendable).toBe(59_000);
    now += MIN;
    await b.renew();
    expect(bb.grant?.spendable).toBe(60_000);
  });
});
