/**
 * One socket write per event-loop turn for a NATS connection. The client queues what it sends
 * and writes it at the next microtask checkpoint, and Node.js runs those after every I/O callback:
 * a worker whose AI answers, acks, `.last` publishes and KV puts each arrive in a callback of
 * their own wrote each with a system call of its own (most of the NATS client's CPU per job in
 * bench:peer's profile). Here the write waits for the end of the turn (`setImmediate`), so what
 * a turn's callbacks send goes out together; a buffer past the client's own threshold is still
 * written at once. Only the protocol handler's scheduling changes: no message waits longer than
 * the turn it was sent in.
 */
import type { NatsConnection } from '@nats-io/nats-core';

interface Outbound {
  length(): number;
  size(): number;
  fill(data: Uint8Array, ...payloads: Uint8Array[]): void;
}

interface Protocol {
  outbound: Outbound;
  pendingLimit: number;
  flushPending(): void;
  sendCommand(cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
}

const encoder = new TextEncoder();

/** Makes the connection write what is sent in an event-loop turn at its end; false when the client's internals are not as expected (nothing changed). */
export function coalesceWrites(nc: NatsConnection): boolean {
  const protocol = (nc as unknown as { protocol?: Protocol }).protocol;
  if (!protocol || typeof protocol.sendCommand !== 'function' || typeof protocol.flushPending !== 'function' || !protocol.outbound || typeof protocol.outbound.fill !== 'function') return false;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    protocol.flushPending();
  };
  protocol.sendCommand = (cmd, ...payloads) => {
    protocol.outbound.fill(typeof cmd === 'string' ? encoder.encode(cmd) : cmd, ...payloads);
    if (protocol.outbound.size() >= protocol.pendingLimit) protocol.flushPending();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return true;
}
