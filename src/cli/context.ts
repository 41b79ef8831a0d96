/** What the NATS subcommands share: common options, configuration with flag overrides, a connection. */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { PermissionViolationError, type NatsConnection } from '@nats-io/nats-core';
import { loadConfig, unknownVariables } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { connectOnce, connectionOptions } from '../messaging/connect.ts';
import { AltlasError } from '../errors.ts';
import { CLI_EXIT } from './output.ts';
import { configureRedaction } from '../security/redact.ts';
import type { Role } from '../security/permissions.ts';

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

/** Warnings of client commands go to standard error, once per process. */
const warned = new Set<string>();
const stderrWarn = (message: string) => {
  if (warned.has(message)) return;
  warned.add(message);
  process.stderr.write(`altlas: warning: ${message}\n`);
};

/**
 * The configuration from the environment with the common flags applied. A client command warns
 * about unknown variables and ignores invalid values of variables only the worker reads.
 */
export function configFrom(values: CommonValues, env: NodeJS.ProcessEnv = process.env, warn: (message: string) => void = stderrWarn): Config {
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
  for (const w of unknownVariables(env)) warn(w);
  const config = loadConfig(merged, { client: true, warn });
  // What a command shows redacted (dlq show) honours LOG_REDACT's extra key names.
  configureRedaction(config.logRedactKeys);
  return config;
}

export interface Session {
  config: Config;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export interface NatsOptions {
  /** The role whose commands this is (its inbox prefix): `altlas publish` producer, `cancel` and `dlq replay/purge` operator, `init` runner, the rest reader. */
  role: Role;
  /** The streams the command reads: a "stream not found" names them and what creates them. */
  streams?: readonly string[];
  /** Reconnect after a lost connection as long as the command runs (a command that follows something), not 10 times. */
  reconnectForever?: boolean;
}

/** A stream the command needs is missing: which, and what creates it. */
export function streamMissing(streams: readonly string[], cause?: unknown): AltlasError {
  const names = streams.length ? streams.join(', ') : 'a stream this command reads';
  return new AltlasError('STREAM_MISSING', `${streams.length > 1 ? 'the streams' : 'the stream'} ${names} ${streams.length > 1 ? 'do' : 'does'} not exist yet: start a worker (RUNNER_PROVISION=true creates the streams) or run "altlas init"`, { cause, context: { streams } });
}

/** Connects once (no endless reconnect for a command line tool) and runs `fn`, closing the connection after. */
/**
 * A permission the server refused, as PERMISSION_DENIED naming the subject and the role the
 * command runs as (whose list `altlas permissions` prints), or null when `e` is something else.
 */
export function permissionDenied(e: unknown, role: Role | undefined): AltlasError | null {
  if (e instanceof AltlasError) return null; // said already
  let pe: PermissionViolationError | null = null;
  for (let x: unknown = e, depth = 0; x && depth < 8 && !pe; x = (x as { cause?: unknown }).cause, depth++) if (x instanceof PermissionViolationError) pe = x;
  if (!pe) return null;
  const subject = pe.subject.replace(/^(_INBOX[^.]*)\..*$/, '$1.>');
  const as = role ? `: this command runs as the ${role} role and needs its permissions (altlas permissions ${role} prints them)` : '';
  return new AltlasError('PERMISSION_DENIED', `the NATS user may not ${pe.operation === 'subscription' ? 'subscribe to' : pe.operation} ${subject}${as}`, { cause: e, context: { subject: pe.subject, operation: pe.operation, ...(role ? { role } : {}) } });
}

export async function withNats<T>(config: Config, fn: (s: Session) => Promise<T>, options: NatsOptions): Promise<T> {
  const connOptions = connectionOptions(config, 'altlas-cli', options.role);
  let nc: NatsConnection;
  try {
    nc = await connectOnce({ ...connOptions, waitOnFirstConnect: false, maxReconnectAttempts: options.reconnectForever ? -1 : 10, timeout: 5_000 });
  } catch (e) {
    // nats.js leaves the socket of an attempt that got no greeting open: the command exits anyway.
    if (e instanceof AltlasError && (/no answer in time/.test(e.message) || e.context.not_nats)) CLI_EXIT.now = true;
    throw e;
  }
  try {
    // No account-info round trip: a producer's user need not be allowed $JS.API.INFO.
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    return await fn({ config, nc, js: jetstream(nc), jsm });
  } catch (e) {
    if (e instanceof Error && (e.name === 'StreamNotFoundError' || /stream not found|bucket not found/i.test(e.message))) throw streamMissing(options.streams ?? [], e);
    throw permissionDenied(e, options.role) ?? e;
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}
