/**
 * Connects to NATS from the configuration: servers, auth (creds, nkey, token, user/password, or
 * credentials written in NATS_URL), TLS, an inbox prefix of the process's role (its user may
 * subscribe to that role's replies only), and reconnect forever. The
 * first connection is retried with every attempt logged (server, reason, next retry), so a
 * worker that cannot reach NATS says why while its health endpoint answers.
 */
import { coalesceWrites } from './coalesce.ts';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { connect, type NodeConnectionOptions } from '@nats-io/transport-node';
import { credsAuthenticator, nkeyAuthenticator, type NatsConnection } from '@nats-io/nats-core';
import { AltlasError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import { probeServer } from './server-probe.ts';
import { inboxPrefix, type Role } from '../security/permissions.ts';

export type NatsConfig = Pick<Config, 'NATS_URL' | 'NATS_CREDS' | 'NATS_NKEY' | 'NATS_TOKEN' | 'NATS_USER' | 'NATS_PASSWORD' | 'NATS_TLS_CA' | 'NATS_TLS_CERT' | 'NATS_TLS_KEY' | 'NATS_INBOX_PREFIX'>;

/** One server of NATS_URL with its credentials taken out (they never reach a log). */
export interface ServerUrl {
  url: string;
  user?: string;
  pass?: string;
  token?: string;
}

/** Splits NATS_URL into servers; `nats://user:pass@host` and `nats://token@host` give their credentials. */
export function parseServers(text: string): ServerUrl[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean).map((raw) => {
    const m = /^([a-z][a-z0-9+.-]*:\/\/)?(?:([^@/]*)@)?(.*)$/i.exec(raw)!;
    const scheme = m[1] ?? '';
    const out: ServerUrl = { url: `${scheme}${m[3]}` };
    if (m[2] !== undefined) {
      const at = m[2].indexOf(':');
      if (at >= 0) {
        out.user = decodeURIComponent(m[2].slice(0, at));
        out.pass = decodeURIComponent(m[2].slice(at + 1));
      } else out.token = decodeURIComponent(m[2]);
    }
    return out;
  });
}

/** The connection options of a process of `role` (pure except for reading the creds / nkey files). */
export function connectionOptions(config: NatsConfig, name: string, role: Role): NodeConnectionOptions {
  const servers = parseServers(config.NATS_URL);
  const options: NodeConnectionOptions = {
    servers: servers.map((s) => s.url),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    reconnectJitter: 500,
    reconnectJitterTLS: 1_000,
    pingInterval: 10_000,
    // Replies come to <role prefix>.<process>.<id>: the role's user subscribes to <role prefix>.> only.
    inboxPrefix: `${inboxPrefix(config, role)}.${randomBytes(6).toString('hex')}`,
    // Capturing a stack for every request costs ~10 % of the worker's CPU; errors keep their own.
    noAsyncTraces: true,
  };
  const fromUrl = servers.find((s) => s.user !== undefined || s.token !== undefined);
  if (config.NATS_CREDS) options.authenticator = credsAuthenticator(readFileSync(config.NATS_CREDS));
  else if (config.NATS_NKEY) {
    const seed = config.NATS_NKEY.trim().startsWith('SU') ? config.NATS_NKEY.trim() : readFileSync(config.NATS_NKEY, 'utf8').trim();
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  } else if (config.NATS_TOKEN) options.token = config.NATS_TOKEN;
  else if (config.NATS_USER) {
    options.user = config.NATS_USER;
    options.pass = config.NATS_PASSWORD ?? '';
  } else if (fromUrl?.token !== undefined) options.token = fromUrl.token;
  else if (fromUrl?.user !== undefined) {
    options.user = fromUrl.user;
    options.pass = fromUrl.pass ?? '';
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

/**
 * A failed connection as NATS_UNREACHABLE: the server, the reason in words, and what to check.
 * `answered`: what answered instead of a NATS server (see {@link unreachableExplained}).
 */
export function unreachable(servers: string, e: unknown, answered?: string): AltlasError {
  const raw = e instanceof Error ? `${(e as { code?: string }).code ?? ''} ${e.message}` : String(e);
  const reason = answered ? answered : /ECONNREFUSED|connection refused/i.test(raw) ? 'connection refused (nothing listens there)'
    : /ENOTFOUND|EAI_AGAIN|getaddrinfo/i.test(raw) ? 'the host name does not resolve'
      : /timeout|TIMEOUT/i.test(raw) ? 'no answer in time'
        : /Invalid URL|invalid url|ERR_INVALID_URL/i.test(raw) ? 'the URL is invalid'
          : /Authorization|authentication|Permissions/i.test(raw) ? 'the server refused the credentials'
            : /TLS|certificate|SSL/i.test(raw) ? 'the TLS handshake failed'
              : e instanceof Error ? e.message : String(e);
  return new AltlasError('NATS_UNREACHABLE', `cannot connect to NATS at ${servers}: ${reason}; check NATS_URL (or --server), that the server runs, and the NATS_* credentials`, { cause: e, context: { servers, ...(answered ? { not_nats: true } : {}) } });
}

/**
 * {@link unreachable}, and when no greeting came in time, what answered instead (an HTTP server,
 * another protocol, a silent port), found by {@link probeServer} on up to three of the servers.
 */
export async function unreachableExplained(servers: readonly string[], e: unknown): Promise<AltlasError> {
  const error = unreachable(servers.join(','), e);
  if (!/no answer in time/.test(error.message)) return error;
  for (const server of servers.slice(0, 3)) {
    const what = await probeServer(server);
    if (what) return unreachable(servers.join(','), e, servers.length > 1 ? `${server}: ${what}` : what);
  }
  return error;
}

/**
 * One connection attempt for a command line tool: when no connection is made within `probeAfterMs`,
 * the servers are probed meanwhile, and something that is not NATS fails the attempt at once
 * (NATS_UNREACHABLE saying what answered) instead of after the connect timeout.
 */
export async function connectOnce(options: NodeConnectionOptions, probeAfterMs = 1_000): Promise<NatsConnection> {
  const servers = options.servers as string[];
  let settled = false;
  const attempt = connect(options).finally(() => (settled = true));
  attempt.catch(() => {});
  const probe = (async () => {
    await new Promise((r) => setTimeout(r, probeAfterMs).unref());
    for (const server of settled ? [] : servers.slice(0, 3)) {
      const what = await probeServer(server);
      if (what) return unreachable(servers.join(','), new Error(what), servers.length > 1 ? `${server}: ${what}` : what);
    }
    return null;
  })();
  try {
    return await Promise.race([attempt, probe.then((error) => (error ? Promise.reject(error) : attempt))]);
  } catch (e) {
    throw e instanceof AltlasError ? e : await unreachableExplained(servers, e);
  }
}

export interface Connection {
  nc: NatsConnection;
  /** False between a disconnect and the next reconnect, and once closed. */
  connected(): boolean;
  /** Called after every reconnect. */
  onReconnect(fn: () => void): void;
}

/** The inbox prefix a connection was made with (its replies come below it). */
export function inboxPrefixOf(nc: NatsConnection): string | undefined {
  return (nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
}

/**
 * Another connection made as `nc` was (its servers, credentials, TLS, inbox prefix and reconnects),
 * its name followed by `purpose`, its events logged with `connection: purpose`. The worker's history goes on one: nats-server handles a client's messages in the
 * order they arrive on its connection, storing each in its stream before it reads the next, so on
 * the worker's own connection every history message would be stored between its `.last`
 * publishes, acks and pulls; on its own it is stored beside them.
 */
export async function connectLike(nc: NatsConnection, purpose: string, logger: Logger): Promise<Connection> {
  const options = (nc as unknown as { options?: NodeConnectionOptions }).options;
  if (!options) throw new Error('the connection\'s options cannot be read');
  // The client folded the credentials into `authenticator`: given once more they would be sent twice.
  const other = await connect({ ...options, user: undefined, pass: undefined, token: undefined, name: options.name ? `${options.name} ${purpose}` : purpose, waitOnFirstConnect: false, reconnect: true, timeout: 5_000 });
  return watched(other, logger, { connection: purpose });
}

export interface ConnectOptions {
  logger: Logger;
  /** The role of the process (its inbox prefix). */
  role: Role;
  /** Stops the first-connection retries (shutdown while connecting). */
  signal?: AbortSignal;
  /** Told the state while connecting (for /readyz). */
  onAttempt?: (state: string) => void;
  /** Milliseconds between the first-connection retries (doubling up to 10 s). Default 1,000. */
  retryMs?: number;
}

/** Connects (retrying the first connection until it succeeds or `signal` aborts), logging every attempt and event. */
export async function connectNats(config: NatsConfig, name: string, o: ConnectOptions): Promise<Connection> {
  const options = connectionOptions(config, name, o.role);
  const servers = (options.servers as string[]).join(',');
  let delay = o.retryMs ?? 1_000;
  let nc: NatsConnection;
  // Once something that is not NATS answered, later attempts ask it first: a nats.js attempt that
  // gets no greeting leaves its socket open (a leak per attempt), the probe never does.
  let notNats = false;
  for (let attempt = 1; ; attempt++) {
    o.onAttempt?.(`nats: connecting to ${servers} (attempt ${attempt})`);
    try {
      if (notNats) {
        const what = await probeServer((options.servers as string[])[0]);
        if (what) throw unreachable(servers, new Error(what), what);
      }
      nc = await connect({ ...options, waitOnFirstConnect: false, reconnect: true, timeout: 5_000 });
      break;
    } catch (e) {
      const error = e instanceof AltlasError ? e : await unreachableExplained(options.servers as string[], e);
      notNats = error.context.not_nats === true;
      if (o.signal?.aborted) throw error;
      o.logger.warn('cannot connect to NATS; retrying', { code: error.code, server: servers, reason: error.message, attempt, next_retry_ms: delay });
      o.onAttempt?.(`nats: ${error.message}; retrying in ${delay} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        o.signal?.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
      if (o.signal?.aborted) throw error;
      delay = Math.min(delay * 2, 10_000);
    }
  }
  // The worker's many small sends (acks, .last publishes, KV puts) go out once per event-loop turn.
  if (o.role === 'runner' && !coalesceWrites(nc)) o.logger.debug('NATS writes are not coalesced: the client\'s internals are not as expected');
  o.logger.info('connected to NATS', { server: nc.getServer(), version: nc.info?.version });
  return watched(nc, o.logger);
}

/** `nc` with its state kept from its status events, each logged (with `fields`): up or not, and what to do after a reconnect. */
function watched(nc: NatsConnection, logger: Logger, fields: Record<string, string> = {}): Connection {
  let up = true;
  const reconnects = new Set<() => void>();
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'close') up = false;
      else if (s.type === 'reconnect') {
        up = true;
        for (const fn of reconnects) fn();
      }
      const level = s.type === 'disconnect' || s.type === 'error' ? 'warn' : s.type === 'reconnecting' || s.type === 'ping' ? 'debug' : 'info';
      logger.log(level, `NATS ${s.type}`, { ...fields, nats_event: s.type, ...('server' in s ? { server: s.server } : {}), ...('error' in s && s.error ? { error: (s.error as Error).message } : {}) });
    }
  })().catch(() => {});
  return { nc, connected: () => up && !nc.isClosed(), onReconnect: (fn) => reconnects.add(fn) };
}
