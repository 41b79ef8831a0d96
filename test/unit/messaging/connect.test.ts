/** The NATS connection options as the README states them (Configuration: reconnects). */
import { describe, expect, it } from '@jest/globals';
import { connectionOptions } from '../../../src/messaging/connect.ts';
import { loadConfig } from '../../../src/config/load.ts';

describe('connectionOptions', () => {
  it('re-establishes a lost connection forever, every second plus up to 0.5 s of jitter (1 s with TLS)', () => {
    const o = connectionOptions(loadConfig({}), 'test', 'runner');
    expect({ max: o.maxReconnectAttempts, wait: o.reconnectTimeWait, jitter: o.reconnectJitter, jitterTls: o.reconnectJitterTLS }).toEqual({ max: -1, wait: 1_000, jitter: 500, jitterTls: 1_000 });
  });
});
