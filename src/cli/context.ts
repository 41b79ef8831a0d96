/** What the NATS subcommands share: common options, configuration with flag overrides, a connection. */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { connectionOptions } from '../messaging/connect.ts';

/** Options every NATS subcommand takes (node:util parseArgs form). */
export const COMMON_OPTIONS = {
  server: { type: 'string' },
  'alt-stream': { type: 'string' },
  'last-stream': { type: 'string' },
  'dlq-stream': { type: 'string' },
  'last-prefix': { type: 'string' },
  'dlq-prefix': { type: 'string' },
  durable: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} as const;

export const COMMON_HELP = `Common options:
  --server URL        NATS server(s), comma-separated (default NATS_URL or nats://127.0.0.1:4222)
  --alt-stream NAME   --last-stream NAME   --dlq-stream NAME   --durable NAME
  --last-prefix P     --dlq-prefix P       (default ALT_STREAM, LAST_STREAM, ... from the environment)
  --json              machine-readable output (JSON lines)
  Authentication and TLS come from NATS_CREDS, NATS_NKEY, NATS_TOKEN, NATS_USER/NATS_PASSWORD, NATS_TLS_*.`;

type CommonValues = { [K in keyof typeof COMMON_OPTIONS]?: string | boolean };

/** The configuration from the environment with the common flags applied. */
export function configFrom(values: CommonValues, env: NodeJS.ProcessEnv = process.env): Config {
  const overrides: Record<string, string | undefined> = {
    NATS_URL: values.server as string | undefined,
    ALT_STREAM: values['alt-stream'] as string | undefined,
    LAST_STREAM: values['last-stream'] as string | undefined,
    DLQ_STREAM: values['dlq-stream'] as string | undefined,
    LAST_SUBJECT_PREFIX: values['last-prefix'] as string | undefined,
    DLQ_SUBJECT_PREFIX: values['dlq-prefix'] as string | undefined,
    RUNNER_DURABLE: values.durable as string | undefined,
  };
  const merged: Record<string, string | undefined> = { ...env };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) merged[k] = v;
  return loadConfig(merged);
}

export interface Session {
  config: Config;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

/** Connects once (no endless reconnect for a command line tool) and runs `fn`, closing the connection after. */
export async function withNats<T>(config: Config, fn: (s: Session) => Promise<T>): Promise<T> {
  const nc = await connect({ ...connectionOptions(config, 'altlas-cli'), waitOnFirstConnect: false, maxReconnectAttempts: 10, timeout: 5_000 });
  try {
    // No account-info round trip: a producer's user need not be allowed $JS.API.INFO.
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    return await fn({ config, nc, js: jetstream(nc), jsm });
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}
