/** A worker's heartbeat: written at start, at each interval and when asked between them; never again once stopped (the entry stays removed). */
import { describe, expect, it } from '@jest/globals';
import type { KV } from '@nats-io/kv';
import { Heartbeat, isLive, workerKey, type WorkerBeat } from '../../../src/status/fleet.ts';

const beat = (seenAgoMs: number, heartbeatMs?: number): WorkerBeat => ({
  worker_id: 'w:1', host: 'h', pid: 1, version: '0', started_at: '2026-01-01T00:00:00Z', seen_at: new Date(Date.parse('2026-01-01T00:10:00Z') - seenAgoMs).toISOString(),
  concurrency: 1, in_flight: 0, processed: 0, waiting_for_ai: 0, breaker: 'closed', stream: 'ALT', consumer: 'runner', ...(heartbeatMs ? { heartbeat_ms: heartbeatMs } : {}),
});

describe('Heartbeat', () => {
  it('writes when asked between beats, and nothing after it stopped', async () => {
    const ops: string[] = [];
    const kv = { put: async (key: string) => void ops.push(`put ${key}`), delete: async (key: string) => void ops.push(`delete ${key}`) } as unknown as KV;
    const h = new Heartbeat(kv, 'w:1', 60_000, () => beat(0));
    h.start();
    h.beat();
    await h.stop();
    h.beat();
    const key = workerKey('w:1');
    expect(ops).toEqual([`put ${key}`, `put ${key}`, `delete ${key}`]);
  });
});

describe('isLive', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  it('is true up to two of the heartbeat\'s own intervals, else of the fallback', () => {
    expect([isLive(beat(4_000, 2_000), 5_000, now), isLive(beat(4_001, 2_000), 5_000, now)]).toEqual([true, false]);
    expect([isLive(beat(10_000), 5_000, now), isLive(beat(10_001), 5_000, now)]).toEqual([true, false]);
  });
});
