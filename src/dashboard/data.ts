/** What the dashboard reads once NATS and the buckets are there: the live view, the status bucket and the dead letters. */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Config } from '../config/schema.ts';
import type { DlqSession } from '../ops/dlq.ts';
import type { Codec } from '../security/codec.ts';
import { Live } from './live.ts';

export interface DashboardData {
  config: Config;
  codec: Codec;
  live: Live;
  /** The status bucket (a cancel request is written there). */
  status: KV;
  dlq: DlqSession;
  /** Stops the live view. */
  close(): Promise<void>;
}

/**
 * Opens the status bucket and starts the live view (its watches create no consumer: the reader
 * role suffices); throws "… not found" while the buckets do not exist.
 */
export async function openData(nc: NatsConnection, config: Config, codec: Codec): Promise<DashboardData> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const status = await new Kvm(nc).open(config.RUNNER_STATUS_BUCKET);
  const live = new Live({ config, nc, jsm, codec });
  try {
    await live.start();
  } catch (e) {
    // One bucket there, the other not yet: the watch that started goes too (the next attempt starts both).
    live.stop();
    throw e;
  }
  return {
    config, codec, live, status, dlq: { config, nc, js: jetstream(nc), jsm },
    close: async () => live.stop(),
  };
}
