/**
 * Tenant budgets shared by workers through fleet slices on a real KV bucket (no worker process):
 * the spend of the fleet stays within the period's limit, and a worker whose slice is spent gets
 * the room another worker holds but does not use, instead of refusing the call.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { Kvm, type KV } from '@nats-io/kv';
import { NatsServer } from '../../src/devtools/nats-server.ts';
import { FleetSlices } from '../../src/flow/fleet-slices.ts';
import { TenantBudgets } from '../../src/budget/tenant-budgets.ts';

let server: NatsServer;
let nc: NatsConnection;
let kv: KV;
beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connect({ servers: server.url });
  kv = await new Kvm(nc).create('BUDGETS_TEST');
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

function worker(name: string, limit: number, renewMs = 50) {
  const slices = new FleetSlices({ store: kv, worker: name, leaseMs: 60_000, renewMs, holdTtlMs: 60_000 });
  const budgets = new TenantBudgets({ doc: { tenants: { [`t-${limit}`]: { day: { tokens: limit } } } }, holdTtlMs: 60_000 });
  budgets.attach(slices);
  return { slices, budgets, tenant: `t-${limit}` };
}

describe('tenant budgets across workers', () => {
  it('keeps the fleet\'s spend within the limit under concurrent calls of three workers, each spending what it reserved', async () => {
    const limit = 5_000;
    const ws = ['a', 'b', 'c'].map((n) => worker(n, limit));
    let seq = 0;
    const spent = [0, 0, 0];
    const caller = async (i: number) => {
      for (;;) {
        const id = `c${++seq}`;
        const r = await ws[i].budgets.reserve(ws[i].tenant, id, { tokens: 100, costNanos: null });
        if (r) return r;
        await new Promise((res) => setImmediate(res));
        ws[i].budgets.settle(ws[i].tenant, id, { tokens: 100, costNanos: null });
        spent[i] += 100;
      }
    };
    const refusals = await Promise.all([0, 1, 2].flatMap((i) => Array.from({ length: 8 }, () => caller(i))));
    expect(spent.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(limit);
    for (const r of refusals) expect(r).toMatchObject({ tenant: ws[0].tenant, need: 100 });
    for (const w of ws) await w.slices.close();
  });

  it('gives a worker whose slice is spent the room another worker holds and does not use', async () => {
    const limit = 2_000;
    const a = worker('a', limit);
    const b = worker('b', limit);
    // b takes a large slice (many calls in flight at once), spends little, then idles.
    const held = await Promise.all(Array.from({ length: 12 }, (_, i) => b.budgets.reserve(b.tenant, `b${i}`, { tokens: 100, costNanos: null })));
    expect(held.every((r) => r === null)).toBe(true);
    for (let i = 0; i < 12; i++) b.budgets.settle(b.tenant, `b${i}`, { tokens: i < 2 ? 100 : 0, costNanos: null });
    // a spends what b's slice leaves.
    const bSlice = b.budgets.figures()[0].spendable;
    expect(bSlice).toBeGreaterThan(1_000);
    for (let n = 0; (n + 1) * 100 <= limit - bSlice; n++) {
      expect(await a.budgets.reserve(a.tenant, `a${n}`, { tokens: 100, costNanos: null })).toBeNull();
      a.budgets.settle(a.tenant, `a${n}`, { tokens: 100, costNanos: null });
    }
    const spentByA = a.budgets.figures()[0].used;
    expect(spentByA + 200).toBeLessThan(limit);
    // a's next call finds its slice spent: it asks for a fair share of the whole and waits; b's
    // next renewal gives back what it does not use; a's call then fits.
    let settled = false;
    const next = a.budgets.reserve(a.tenant, 'a-next', { tokens: 100, costNanos: null }).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBe(false);
    await b.slices.renew();
    expect(await next).toBeNull();
    await a.slices.close();
    await b.slices.close();
  });
});
