/** The max-deliveries guard on fakes and an injected wait: a live owner settles its message; what no worker settles after the grace is removed or dead-lettered once. */
import { describe, expect, it } from '@jest/globals';
import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { ExhaustedGuard } from '../../../src/messaging/exhausted.ts';
import { leaseTiming } from '../../../src/messaging/lease-timing.ts';
import type { Publisher } from '../../../src/messaging/publisher.ts';
import type { Recorder } from '../../../src/status/recorder.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';

function setup(o: { stored?: boolean; lastStored?: boolean; lastFails?: boolean; holds?: (seq: number, phase: 'before' | 'after') => boolean } = {}) {
  const done: string[] = [];
  const waits: number[] = [];
  let phase: 'before' | 'after' = 'before';
  const stored = { seq: 9, subject: 'alt.submit', data: new TextEncoder().encode('{"id":"job-9"}'), header: undefined, time: new Date(0) } as unknown as StoredMsg;
  const jsm = {
    streams: {
      getMessage: async () => {
        if (o.stored === false) throw new Error('no message found');
        return stored;
      },
      deleteMessage: async (_s: string, seq: number) => {
        done.push(`delete ${seq}`);
        return true;
      },
    },
  } as unknown as JetStreamManager;
  const publisher = {
    altIdOf: () => 'job-9',
    lastStored: async () => o.lastStored ?? false,
    deadLetter: async (_d: unknown, _h: unknown, _i: unknown, e: { code: string }) => void done.push(`dlq ${e.code}`),
    last: async () => {
      if (o.lastFails) throw new Error('nats: timeout');
      done.push('failure .last');
      return { duplicate: false, seq: 1 };
    },
  } as unknown as Publisher;
  // What the job's history is told: dead-lettered, and whether its failure .last was stored.
  const recorder = { begin: () => ({
    deadLettered: (altId: string, code: string, _m: string, lastStored: boolean) => void done.push(`history ${altId} ${code} last_stored=${lastStored}`),
    settled: async () => {}, release: async () => {}, close: async () => {},
  }) } as unknown as Recorder;
  const guard = new ExhaustedGuard({
    nc: {} as NatsConnection, jsm, publisher, stream: 'ALT', durable: 'runner', logger: silentLogger(), recorder,
    holds: (seq) => o.holds?.(seq, phase) ?? false,
    graceMs: leaseTiming(5_000).graceMs,
    sleep: async (ms) => {
      waits.push(ms);
      phase = 'after';
    },
  });
  return { guard, done, waits };
}

describe('ExhaustedGuard', () => {
  it('leaves a message this worker runs to its run, at once or after the grace', async () => {
    const now = setup({ holds: () => true });
    await now.guard.handle(9, 5);
    expect([now.waits, now.done]).toEqual([[], []]);
    const later = setup({ holds: (_s, phase) => phase === 'after' });
    await later.guard.handle(9, 5);
    expect([later.waits, later.done]).toEqual([[5_000], []]);
  });

  it('waits one ack wait, then dead-letters what is still stored: DLQ copy, failure .last, removal', async () => {
    const s = setup();
    await s.guard.handle(9, 5);
    expect(s.waits).toEqual([5_000]);
    expect(s.done).toEqual(['dlq MAX_DELIVER_EXCEEDED', 'failure .last', 'delete 9', 'history job-9 MAX_DELIVER_EXCEEDED last_stored=true']);
    // A failure .last that could not be stored is not said stored.
    const failed = setup({ lastFails: true });
    await failed.guard.handle(9, 5);
    expect(failed.done).toEqual(['dlq MAX_DELIVER_EXCEEDED', 'delete 9', 'history job-9 MAX_DELIVER_EXCEEDED last_stored=false']);
  });

  it('only removes a message whose .last is stored, and does nothing for one settled meanwhile', async () => {
    const stored = setup({ lastStored: true });
    await stored.guard.handle(9, 5);
    expect(stored.done).toEqual(['delete 9']);
    const gone = setup({ stored: false });
    await gone.guard.handle(9, 5);
    expect(gone.done).toEqual([]);
  });
});
