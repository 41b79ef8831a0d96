/** Connects to NATS from the configuration: servers, auth (creds, nkey, token, user/password), TLS, reconnect forever. */
import { readFileSync } from 'node:fs';
import { connect, type NodeConnectionOptions } from '@nats-io/transport-node';
import { credsAuthenticator, nkeyAuthenticator, type NatsConnection } from '@nats-io/nats-core';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';

type NatsConfig = Pick<Config, 'NATS_URL' | 'NATS_CREDS' | 'NATS_NKEY' | 'NATS_TOKEN' | 'NATS_USER' | 'NATS_PASSWORD' | 'NATS_TLS_CA' | 'NATS_TLS_CERT' | 'NATS_TLS_KEY'>;

/** The connection options for a configuration (pure except for reading the creds / nkey files). */
export function connectionOptions(config: NatsConfig, name: string): NodeConnectionOptions {
  const servers = config.NATS_URL.split(',').map((s) => s.trim()).filter(Boolean);
  const options: NodeConnectionOptions = {
    servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    reconnectJitter: 500,
    reconnectJitterTLS: 1_000,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
    // Capturing a stack for every request (publish acknowledgements, double acks) costs ~10 % of
    // the worker's CPU; errors keep their own stack and the runner adds its context.
    noAsyncTraces: true,
  };
  if (config.NATS_CREDS) options.authenticator = credsAuthenticator(readFileSync(config.NATS_CREDS));
  else if (config.NATS_NKEY) {
    const seed = config.NATS_NKEY.trim().startsWith('SU') ? config.NATS_NKEY.trim() : readFileSync(config.NATS_NKEY, 'utf8').trim();
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  } else if (config.NATS_TOKEN) options.token = config.NATS_TOKEN;
  else if (config.NATS_USER) {
    options.user = config.NATS_USER;
    options.pass = config.NATS_PASSWORD ?? '';
  }
  if (config.NATS_TLS_CA || config.NATS_TLS_CERT) {
    options.tls = {
      ...(config.NATS_TLS_CA ? { caFile: config.NATS_TLS_CA } : {}),
      ...(config.NATS_TLS_CERT ? { certFile: config.NATS_TLS_CERT } : {}),
      ...(config.NATS_TLS_KEY ? { keyFile: config.NATS_TLS_KEY } : {}),
    };
  }
  return options;
}

export interface Connection {
  nc: NatsConnection;
  /** False between a disconnect and the next reconnect, and once closed. */
  connected(): boolean;
}

/** Connects, logs every connection event, and tracks whether the connection is up. */
export async function connectNats(config: NatsConfig, name: string, logger: Logger): Promise<Connection> {
  const nc = await connect(connectionOptions(config, name));
  let up = true;
  logger.info('connected to NATS', { server: nc.getServer() });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'close') up = false;
      else if (s.type === 'reconnect') up = true;
      const level = s.type === 'disconnect' || s.type === 'error' ? 'warn' : s.type === 'reconnecting' || s.type === 'ping' ? 'debug' : 'info';
      logger.log(level, `NATS ${s.type}`, { nats_event: s.type, ...('server' in s ? { server: s.server } : {}) });
    }
  })().catch(() => {});
  return { nc, connected: () => up && !nc.isClosed() };
}
