/**
 * The ephemeral consumers a piece of work creates on a connection (KV watches and key listings,
 * object reads, ordered consumers), deleted when the work is done: left alone, each would stay
 * on the server for its five-minute inactivity threshold (dozens after a few commands).
 *
 * nats.js creates them behind its KV, object store and ordered-consumer APIs without handing out
 * their names; every creation is a request on `$JS.API.CONSUMER.CREATE.…`, so the tracker reads
 * the names from those replies while it is attached. Attach it only around work that nothing
 * else on the connection runs beside (a command, the worker's start-up probe, a dashboard).
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Msg, NatsConnection } from '@nats-io/nats-core';

export interface ConsumerRef {
  stream: string;
  name: string;
}

export interface ConsumerTracker {
  /** Stops tracking; returns what was created meanwhile (and not deleted yet). */
  detach(): ConsumerRef[];
  /** Stops tracking and deletes what was created meanwhile; resolves with how many went. */
  release(jsm: JetStreamManager): Promise<number>;
}

const CREATE = /^\$JS\.(?:[^.]+\.)?API\.CONSUMER\.CREATE\./;

/** Starts recording the ephemeral consumers created through `nc` (durable ones are not recorded). */
export function trackConsumers(nc: NatsConnection): ConsumerTracker {
  const created = new Map<string, ConsumerRef>();
  const target = nc as { request: NatsConnection['request'] };
  const original = target.request;
  const request: NatsConnection['request'] = async (subject, payload, opts) => {
    const reply: Msg = await original.call(nc, subject, payload, opts);
    if (CREATE.test(subject)) {
      try {
        const info = reply.json<{ stream_name?: string; name?: string; config?: { durable_name?: string } }>();
        if (info.stream_name && info.name && !info.config?.durable_name) created.set(`${info.stream_name}/${info.name}`, { stream: info.stream_name, name: info.name });
      } catch {
        // not a consumer info (an error reply): nothing was created
      }
    }
    return reply;
  };
  target.request = request;
  let attached = true;
  const detach = () => {
    // Restored only when nothing else wrapped the connection since (trackers nest).
    if (attached && target.request === request) target.request = original;
    attached = false;
    return [...created.values()];
  };
  return {
    detach,
    release: async (jsm) => {
      const list = detach();
      const gone = await Promise.all(list.map((c) => jsm.consumers.delete(c.stream, c.name).catch(() => false)));
      return gone.filter(Boolean).length;
    },
  };
}
