/**
 * The consumer pause of newer servers, behind detection: on nats-server 2.9 and 2.10 (ours is 2.9)
 * the pause is the control record alone and the server is asked nothing; from 2.11 the durable
 * consumer is paused (and resumed) too. The server's version is stubbed.
 */
import { describe, expect, it } from '@jest/globals';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { hasConsumerPause, pauseConsumer } from '../../../src/ops/control.ts';
import { loadConfig } from '../../../src/config/load.ts';

const config = loadConfig({});

/** A server of this version whose consumer API records what it is asked (and answers as the server would, or fails). */
function server(version: string, fails = false) {
  const asked: { call: 'pause' | 'resume'; stream: string; durable: string; until?: Date }[] = [];
  const answer = (paused: boolean) => (fails ? Promise.reject(new Error('unknown API')) : Promise.resolve({ paused, pause_until: '', pause_remaining: 0 }));
  const jsm = {
    consumers: {
      pause: (stream: string, durable: string, until: Date) => (asked.push({ call: 'pause', stream, durable, until }), answer(true)),
      resume: (stream: string, durable: string) => (asked.push({ call: 'resume', stream, durable }), answer(false)),
    },
  } as unknown as JetStreamManager;
  const nc = { info: { version } } as unknown as NatsConnection;
  return { asked, session: { nc, jsm, config } };
}

describe('the consumer pause of nats-server 2.11 and later', () => {
  it('is found by the server\'s version', () => {
    expect(['2.9.10', '2.10.22', '2.10.99-beta', '0.0.0'].map(hasConsumerPause)).toEqual([false, false, false, false]);
    expect(['2.11.0', '2.11.0-RC.1', '2.12.3', '3.0.0'].map(hasConsumerPause)).toEqual([true, true, true, true]);
  });

  it('on 2.9.10: the control record alone, the server is asked nothing', async () => {
    const s = server('2.9.10');
    expect(await pauseConsumer(s.session, true)).toBe(false);
    expect(await pauseConsumer(s.session, false)).toBe(false);
    expect(s.asked).toEqual([]);
  });

  it('on 2.11.0: the durable consumer is paused (a year ahead) and resumed too', async () => {
    const s = server('2.11.0');
    const before = Date.now();
    expect(await pauseConsumer(s.session, true)).toBe(true);
    expect(await pauseConsumer(s.session, false)).toBe(true);
    expect(s.asked.map(({ call, stream, durable }) => ({ call, stream, durable }))).toEqual([
      { call: 'pause', stream: config.ALT_STREAM, durable: config.RUNNER_DURABLE },
      { call: 'resume', stream: config.ALT_STREAM, durable: config.RUNNER_DURABLE },
    ]);
    expect(s.asked[0].until!.getTime()).toBeGreaterThanOrEqual(before + 364 * 86_400_000);
  });

  it('on a server that refuses the call (a permission, an API it lacks): not paused there, the record still holds', async () => {
    const s = server('2.11.1', true);
    expect(await pauseConsumer(s.session, true)).toBe(false);
    expect(s.asked).toHaveLength(1);
  });
});
