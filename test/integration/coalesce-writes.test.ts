/**
 * The worker's NATS connection writes what an event-loop turn sends in one socket write (see
 * src/messaging/coalesce.ts), and everything still arrives, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { NatsServer } from '../../src/devtools/nats-server.ts';
import { coalesceWrites } from '../../src/messaging/coalesce.ts';

let server: NatsServer;
beforeAll(async () => {
  server = await NatsServer.start();
});
afterAll(async () => {
  await server?.dispose();
});

/** Counts the socket writes of a connection. */
function countWrites(nc: NatsConnection): () => number {
  const socket = (nc as unknown as { protocol: { transport: { socket: { write: (...a: unknown[]) => boolean } } } }).protocol.transport.socket;
  const write = socket.write.bind(socket);
  let n = 0;
  socket.write = (...a: unknown[]) => {
    n++;
    return write(...a);
  };
  return () => n;
}

/** Publishes `n` messages, each from an I/O-like callback of its own in one turn (setImmediate), then waits for the server's answer to a flush. */
async function burst(nc: NatsConnection, subject: string, n: number): Promise<void> {
  await new Promise<void>((resolve) => {
    for (let i = 0; i < n; i++) setImmediate(() => {
      nc.publish(subject, String(i));
      if (i === n - 1) resolve();
    });
  });
  await nc.flush();
}

describe('coalesced NATS writes', () => {
  it('sends what the callbacks of one turn publish in one socket write, all of it, in order', async () => {
    const sender = await connect({ servers: server.url });
    const receiver = await connect({ servers: server.url });
    const got: string[] = [];
    receiver.subscribe('burst', { callback: (_e, m) => void got.push(m.string()) });
    await receiver.flush();

    // As the client does by default: one write per callback.
    const plain = countWrites(sender);
    await burst(sender, 'burst', 20);
    const plainWrites = plain();
    expect(plainWrites).toBeGreaterThanOrEqual(20);

    expect(coalesceWrites(sender)).toBe(true);
    const before = plain();
    await burst(sender, 'burst', 20);
    // The 20 messages, and the flush's PING, in at most two writes.
    expect(plain() - before).toBeLessThanOrEqual(2);

    const expected = [...Array.from({ length: 20 }, (_, i) => String(i)), ...Array.from({ length: 20 }, (_, i) => String(i))];
    for (const end = Date.now() + 10_000; got.length < 40 && Date.now() < end;) await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(expected);
    await sender.close();
    await receiver.close();
  });
});
