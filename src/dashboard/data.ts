/** What the dashboard reads once NATS and the buckets are there: the live view, the status bucket and the dead letters. */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Config } from '../config/schema.ts';
import type { DlqSession } from '../ops/dlq.ts';
import type { Codec } from '../security/codec.ts';
import { trackConsumers } from '../status/ephemeral-consumers.ts';
import { Live } from './live.ts';

export interface DashboardData {
  config: Config;
  codec: Codec;
  live: Live;
  status: KV;
  dlq: DlqSession;
  /** Stops the live view and removes the consumers the dashboard created. */
  close(): Promise<void>;
}

/** Opens the buckets and starts the live view; throws "… not found" while the buckets do not exist. */
export async function openData(nc: NatsConnection, config: Config, codec: Codec): Promise<DashboardData> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  // The watches and listings the dashboard makes go with it (the connection is the dashboard's alone).
  const tracker = trackConsumers(nc);
  try {
    const kvm = new Kvm(nc);
    const status = await kvm.open(config.RUNNER_STATUS_BUCKET);
    const workers = await kvm.open(config.RUNNER_WORKERS_BUCKET);
    const live = new Live({ config, jsm, status, workers, codec });
    await live.start();
    return {
      config, codec, live, status, dlq: { config, nc, js: jetstream(nc), jsm },
      close: async () => {
        live.stop();
        await tracker.release(jsm).catch(() => 0);
      },
    };
  } catch (e) {
    await tracker.release(jsm).catch(() => 0);
    throw e;
  }
}
