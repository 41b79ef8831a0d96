/** What a follower does about its connection: reads repeated when the connection failed them, work redone after a reconnect. */
import { NoRespondersError, RequestError, TimeoutError, type NatsConnection, type QueuedIterator, type Status } from '@nats-io/nats-core';

/** True for a request that failed on the way (no answer in time, no responder yet), not by refusal. */
function failedOnTheWay(e: unknown): boolean {
  return e instanceof TimeoutError || e instanceof NoRespondersError || (e instanceof RequestError && e.isNoResponders());
}

/** Runs `fn` until it does not fail transiently (250 ms between tries), or `stopped()` says to give up. */
export async function untilAnswered<T>(fn: () => Promise<T>, stopped: () => boolean): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!failedOnTheWay(e) || stopped()) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Calls `fn` after every reconnect of `nc`; the returned function stops it. */
export function onReconnect(nc: NatsConnection, fn: () => void): () => void {
  const statuses = nc.status() as AsyncIterable<Status> & Partial<QueuedIterator<Status>>;
  void (async () => {
    for await (const s of statuses) if (s.type === 'reconnect') fn();
  })().catch(() => {});
  return () => statuses.stop?.();
}
