/**
 * The progress follower against a real nats-server: stored messages then live ones, each once;
 * a resume from the last sequence seen after its connection was cut (through a TCP proxy); a
 * re-read when a live message shows that its predecessor never came.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { connect } from '@nats-io/transport-node';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { loadConfig } from '../../src/config/load.ts';
import { NatsServer } from '../../src/devtools/nats-server.ts';
import { TcpProxy } from '../../src/devtools/tcp-proxy.ts';
import { progressStream } from '../../src/messaging/topology.ts';
import { ProgressFollower } from '../../src/progress/follow.ts';
import { encodeProgress, progressSubject, type ProgressMessage } from '../../src/progress/message.ts';
import { IDENTITY_CODEC } from '../../src/security/codec.ts';
import { eventually } from '../helpers/runner.ts';

const config = loadConfig({});
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await Promise.resolve().then(cleanups.pop()!).catch(() => {});
});

const message = (index: number, text: string): ProgressMessage => ({ v: 1, type: 'chunk', job: 'job-1', alt_seq: 1, deliveries: 1, task: 't1', task_attempt: 1, http_attempt: 1, attempt: 'A', index, text });

async function setup(options: { republish?: boolean } = {}) {
  const server = await NatsServer.start();
  cleanups.push(() => server.dispose());
  const admin = await connect({ servers: server.url });
  cleanups.push(() => admin.close());
  const jsm = await jetstreamManager(admin);
  const want = progressStream(config);
  await jsm.streams.add(options.republish === false ? { ...want, republish: undefined } : want);
  const js = jetstream(admin);
  const store = (m: ProgressMessage) => js.publish(progressSubject('progress', m.job, m.task), encodeProgress(m, IDENTITY_CODEC, natsHeaders()));
  const follow = async (nc: NatsConnection) => {
    const given: string[] = [];
    const follower = new ProgressFollower({
      nc, jsm: await jetstreamManager(nc), stream: config.PROGRESS_STREAM, prefix: 'progress', livePrefix: 'live.progress', jobId: 'job-1', codec: IDENTITY_CODEC,
      onMessage: (m, seq) => given.push(`${seq}:${m.text}`),
    });
    cleanups.push(() => follower.stop());
    await follower.start();
    return { follower, given };
  };
  return { server, admin, store, follow };
}

describe('ProgressFollower', () => {
  it('gives the stored messages, then the live ones, each once and in order', async () => {
    const s = await setup();
    await s.store(message(0, 'a'));
    await s.store(message(1, 'b'));
    await s.store({ ...message(0, 'other job'), job: 'job-2' });
    const { follower, given } = await s.follow(s.admin);
    expect(given).toEqual(['1:a', '2:b']);
    await s.store(message(2, 'c'));
    await s.store(message(3, 'd'));
    await eventually(async () => given.length, (n) => n === 4, 'the live messages');
    expect(given).toEqual(['1:a', '2:b', '4:c', '5:d']);
    expect(follower.counts).toMatchObject({ given: 4, stored: 2, live: 2 });
    await follower.catchUp();
    expect(given).toHaveLength(4);
  });

  it('resumes from the last sequence it saw after its connection was cut', async () => {
    const s = await setup();
    const proxy = await TcpProxy.start(s.server.port);
    cleanups.push(() => proxy.close());
    const nc = await connect({ servers: proxy.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    cleanups.push(() => nc.close());
    const { follower, given } = await s.follow(nc);
    await s.store(message(0, 'before'));
    await eventually(async () => given.length, (n) => n === 1, 'the first message live');
    // Cut, and keep the follower out while two more are stored (and republished to nobody).
    proxy.cut(1_000);
    await s.store(message(1, 'while'));
    await s.store(message(2, 'away'));
    await eventually(async () => given.length, (n) => n === 3, 'the missed messages after the reconnect', 20_000);
    expect(given).toEqual(['1:before', '2:while', '3:away']);
    expect(follower.counts).toMatchObject({ live: 1, stored: 2 });
    await s.store(message(3, 'after'));
    await eventually(async () => given.length, (n) => n === 4, 'live again');
    expect(given.at(-1)).toBe('4:after');
  });

  it('reads the stream again when a live message\'s predecessor on its subject never came', async () => {
    const s = await setup({ republish: false });
    const { follower, given } = await s.follow(s.admin);
    // Stored without a live copy (this stream does not republish): the follower does not know of it.
    await s.store(message(0, 'lost'));
    const ack = await s.store(message(1, 'seen'));
    // The live copy of the second names the first as its predecessor.
    const h = natsHeaders();
    h.set('Nats-Sequence', String(ack.seq));
    h.set('Nats-Subject', progressSubject('progress', 'job-1', 't1'));
    h.set('Nats-Last-Sequence', String(ack.seq - 1));
    s.admin.publish('live.progress.job-1.t1', encodeProgress(message(1, 'seen'), IDENTITY_CODEC, natsHeaders()), { headers: h });
    await eventually(async () => given.length, (n) => n === 2, 'both messages');
    expect(given).toEqual(['1:lost', '2:seen']);
    expect(follower.counts.rescans).toBe(2);
  });
});
