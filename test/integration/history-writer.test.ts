/**
 * The history writer against a real nats-server, as the worker wires it: a group's messages sent
 * without a reply but the last, whose PubAck confirms them all; each job's events read back whole
 * by its subject; a group the stream does not store counted dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from '@nats-io/transport-node';
import { DiscardPolicy, RetentionPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { NatsServer } from '../../src/devtools/nats-server.ts';
import { coalesceWrites } from '../../src/messaging/coalesce.ts';
import { StreamPublisher } from '../../src/messaging/stream-publish.ts';
import { payloadCodec } from '../../src/security/codec.ts';
import { HistoryWriter, type HistoryShared } from '../../src/status/history.ts';
import { readHistory } from '../../src/status/history-read.ts';

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let out: StreamPublisher;
beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connect({ servers: server.url });
  coalesceWrites(nc);
  jsm = await jetstreamManager(nc);
  out = new StreamPublisher(nc);
}, 30_000);
afterAll(async () => {
  out?.close();
  await nc?.close();
  await server?.dispose();
});

const stream = async () => {
  await jsm.streams.delete('ALT_HISTORY').catch(() => {});
  await jsm.streams.add({ name: 'ALT_HISTORY', subjects: ['history.>'], retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old });
};
/** A writer as the worker's, counting its messages sent with a reply (`confirmed`) and without. */
const writer = (drops: string[], counts = { confirmed: 0, posted: 0 }, codec = payloadCodec(undefined)) => new HistoryWriter({
  codec, prefix: 'history', maxPending: 10_000, flushMs: 60_000, groupMs: 60_000, onDrop: (r) => drops.push(r),
  publish: (subject, data) => {
    counts.confirmed++;
    return out.publish(subject, data);
  },
  post: (subject, data) => {
    counts.posted++;
    nc.publish(subject, data);
  },
});
/** A short job's events, as a worker writes them. */
const job = (w: HistoryWriter, id: string, seq: number) => {
  const shared: HistoryShared = { worker_id: 'vm:1', alt_stream_seq: seq, deliveries: 1 };
  w.add(id, shared, { type: 'delivered' });
  w.add(id, shared, { type: 'started', detail: { tasks: 2 } });
  for (const t of ['t1', 't2']) w.add(id, shared, { type: 'task_finished', task_id: t, status: 'completed', attempt: 1 });
  w.add(id, shared, { type: 'last_stored', status: 'success' });
};

describe('HistoryWriter on a real stream', () => {
  it('stores one message per job, the group confirmed by one PubAck, and each job\'s timeline reads back whole', async () => {
    await stream();
    const drops: string[] = [];
    const counts = { confirmed: 0, posted: 0 };
    const w = writer(drops, counts);
    for (let i = 1; i <= 200; i++) job(w, `job-${i}`, i);
    await w.flush(10_000);
    expect(counts).toEqual({ confirmed: 1, posted: 199 });
    expect(drops).toEqual([]);
    const info = await jsm.streams.info('ALT_HISTORY');
    expect(info.state.messages).toBe(200);
    for (const i of [1, 117, 200]) {
      const events = await readHistory({ jsm, stream: 'ALT_HISTORY', prefix: 'history' }, `job-${i}`);
      expect(events.map((e) => [e.type, e.alt_id, e.worker_id, e.alt_stream_seq, e.deliveries, e.task_id])).toEqual([
        ['delivered', `job-${i}`, 'vm:1', i, 1, undefined],
        ['started', `job-${i}`, 'vm:1', i, 1, undefined],
        ['task_finished', `job-${i}`, 'vm:1', i, 1, 't1'],
        ['task_finished', `job-${i}`, 'vm:1', i, 1, 't2'],
        ['last_stored', `job-${i}`, 'vm:1', i, 1, undefined],
      ]);
    }
  }, 60_000);

  it('under PAYLOAD_KEYS stores each job\'s message sealed, and reads it back with the key', async () => {
    await stream();
    const codec = payloadCodec(`k1:${Buffer.alloc(32, 5).toString('base64')}`);
    const drops: string[] = [];
    const w = writer(drops, undefined, codec);
    for (let i = 1; i <= 3; i++) job(w, `secret-job-${i}`, i);
    await w.flush(10_000);
    expect(drops).toEqual([]);
    const m = await jsm.streams.getMessage('ALT_HISTORY', { last_by_subj: 'history.secret-job-2' });
    expect(Buffer.from(m!.data).toString('latin1')).not.toContain('secret-job');
    expect(await readHistory({ jsm, stream: 'ALT_HISTORY', prefix: 'history' }, 'secret-job-2')).toEqual([]);
    const events = await readHistory({ jsm, stream: 'ALT_HISTORY', prefix: 'history', codec }, 'secret-job-2');
    expect(events.map((e) => [e.type, e.alt_id, e.alt_stream_seq])).toEqual([
      ['delivered', 'secret-job-2', 2], ['started', 'secret-job-2', 2], ['task_finished', 'secret-job-2', 2], ['task_finished', 'secret-job-2', 2], ['last_stored', 'secret-job-2', 2],
    ]);
  }, 60_000);

  it('counts a group dropped when no stream stores its subjects: the messages sent without a reply are not taken as stored', async () => {
    await jsm.streams.delete('ALT_HISTORY').catch(() => {});
    const drops: string[] = [];
    const w = writer(drops);
    for (let i = 1; i <= 30; i++) job(w, `lost-${i}`, i);
    await w.flush(10_000);
    expect(drops).toHaveLength(30 * 5);
    expect(new Set(drops)).toEqual(new Set(['failed']));
    await stream();
  }, 60_000);
});
