/** The publisher's requests waiting for a PubAck, failed at once when the connection is lost, so that they are sent again once it is back. */
import { describe, expect, it } from '@jest/globals';
import type { NatsConnection } from '@nats-io/nats-core';
import { StreamPublishError, StreamPublisher } from '../../../src/messaging/stream-publish.ts';

/** A connection that takes publishes and never answers (the server gone). */
function silentConnection(): { nc: NatsConnection; published: string[] } {
  const published: string[] = [];
  const nc = {
    subscribe: () => ({ unsubscribe: () => {} }),
    publish: (subject: string) => void published.push(subject),
    closed: () => new Promise(() => {}),
  } as unknown as NatsConnection;
  return { nc, published };
}

describe('StreamPublisher.failPending', () => {
  it('rejects every request waiting for its PubAck as not confirmed (DISCONNECTED), and none after', async () => {
    const { nc, published } = silentConnection();
    const out = new StreamPublisher(nc);
    const waiting = [out.publish('history.a', new Uint8Array(1)), out.publish('history.b', new Uint8Array(1))];
    expect({ published, pending: out.pending }).toEqual({ published: ['history.a', 'history.b'], pending: 2 });
    out.failPending('the connection was lost');
    const errors = await Promise.all(waiting.map((p) => p.then(() => null, (e: unknown) => e)));
    expect(errors.map((e) => [e instanceof StreamPublishError, (e as StreamPublishError).code, (e as Error).message])).toEqual([
      [true, 'DISCONNECTED', 'publish to history.a: the connection was lost'],
      [true, 'DISCONNECTED', 'publish to history.b: the connection was lost'],
    ]);
    expect(out.pending).toBe(0);
    out.close();
  });
});
