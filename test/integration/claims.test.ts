/**
 * Claims and checkpoints of one message on a real KV bucket: the claim is a compare-and-set (two
 * deliveries racing for it: exactly one wins; a blind write would let both), an older delivery
 * never takes it from a newer one, and a redelivery reads the checkpoints of every earlier
 * delivery.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { loadConfig } from '../../src/config/load.ts';
import { NatsServer } from '../../src/devtools/nats-server.ts';
import type { TaskResult } from '../../src/engine/types.ts';
import { openStores } from '../../src/status/open.ts';
import type { CheckpointStore } from '../../src/status/checkpoints.ts';

let server: NatsServer;
let nc: NatsConnection;
let store: CheckpointStore;

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connect({ servers: server.url });
  store = (await openStores(nc, loadConfig({ NATS_URL: server.url }), 'claims-test'))!.checkpoints;
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

const result = (id: string): TaskResult => ({
  task_id: id, status: 'completed', start_time: '2025-01-01T00:00:00.000Z', end_time: '2025-01-01T00:00:01.000Z', duration_ms: 1000,
  output: { text: `out ${id}`, model_used: 'm', tokens_used: 1, processing_time_ms: 1 }, error: null, error_code: null, attempts: 1, metadata: {},
});

describe('claims', () => {
  it('lets exactly one of two deliveries racing for a claim win it', async () => {
    for (let seq = 100; seq < 110; seq++) {
      // Both read "no claim" before either writes: only a create (or an update on the revision read) keeps one out.
      const won = await Promise.all([store.claim('ALT', seq, 2, 'worker-a'), store.claim('ALT', seq, 2, 'worker-b')]);
      expect([seq, won.filter(Boolean).length]).toEqual([seq, 1]);
    }
  });

  it('lets exactly one of two newer deliveries racing over an older claim win it', async () => {
    for (let seq = 200; seq < 210; seq++) {
      expect(await store.claim('ALT', seq, 1, 'worker-a')).toBe(true);
      const won = await Promise.all([store.claim('ALT', seq, 3, 'worker-b'), store.claim('ALT', seq, 3, 'worker-c')]);
      expect([seq, won.filter(Boolean).length]).toEqual([seq, 1]);
      expect(await store.claimedBy('ALT', seq)).toBe(3);
    }
  });

  it('never gives a claim back to an older (or the same) delivery once a newer one holds it', async () => {
    expect(await store.claim('ALT', 300, 3, 'worker-b')).toBe(true);
    expect(await store.claim('ALT', 300, 2, 'worker-a')).toBe(false);
    expect(await store.claim('ALT', 300, 3, 'worker-a')).toBe(false);
    expect(await store.claimedBy('ALT', 300)).toBe(3);
    expect(await store.claim('ALT', 300, 4, 'worker-a')).toBe(true);
    expect(await store.claimedBy('ALT', 300)).toBe(4);
  });

  it('reads on a redelivery the checkpoints of every earlier delivery of the message', async () => {
    await store.saveBatch('ALT', 400, 1, 0, [result('t1')]);
    await store.saveBatch('ALT', 400, 1, 1, [result('t2')]);
    await store.saveBatch('ALT', 400, 2, 0, [result('t3')]);
    await store.saveBatch('ALT', 400, 3, 0, [result('t4'), result('t5')]);
    // Another message's checkpoints are not read.
    await store.saveBatch('ALT', 401, 1, 0, [result('x1')]);
    const { results } = await store.load('ALT', 400);
    expect([...results.keys()].sort()).toEqual(['t1', 't2', 't3', 't4', 't5']);
    expect(results.get('t3')?.output?.text).toBe('out t3');
  });
});
