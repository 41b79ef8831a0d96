/**
 * The logger: winston, JSON lines on stdout (colourised text when stdout is a terminal), with
 * secrets redacted from every line. Child loggers carry job context (alt_id, task_id, ...).
 */
import winston from 'winston';
import { traceFields } from './tracing.ts';

export type Logger = winston.Logger;

/** Keys whose values never reach a log (case-insensitive, substring match). */
export const DEFAULT_REDACT_KEYS = ['authorization', 'api_key', 'apikey', 'token', 'password', 'passwd', 'secret', 'creds', 'credentials', 'cookie', 'nkey', 'seed'];
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
const REDACTED = '[REDACTED]';

/** Returns a deep copy of `value` with secret-looking keys and bearer tokens replaced (bounded depth). */
export function redact(value: unknown, keys: readonly string[] = DEFAULT_REDACT_KEYS, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(BEARER, `$1 ${REDACTED}`);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) return { name: value.name, message: redact(value.message, keys, depth + 1) };
  if (Array.isArray(value)) return value.map((v) => redact(v, keys, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const lower = k.toLowerCase();
    out[k] = keys.some((s) => lower.includes(s)) ? REDACTED : redact(v, keys, depth + 1);
  }
  return out;
}

const redactFormat = winston.format((info, opts: unknown) => {
  const keys = (opts as { keys?: readonly string[] } | undefined)?.keys ?? DEFAULT_REDACT_KEYS;
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'timestamp') continue;
    const lower = key.toLowerCase();
    (info as Record<string, unknown>)[key] = keys.some((s) => lower.includes(s)) ? REDACTED : redact(info[key], keys);
  }
  return info;
});

/** Adds the active span's trace_id and span_id to a line written inside a traced job. */
const traceFormat = winston.format((info) => Object.assign(info, traceFields()));

export interface LoggerOptions {
  level: string;
  /** Extra key fragments to redact (LOG_REDACT). */
  redactKeys?: readonly string[];
  /** Colour text instead of JSON; default: when stdout is a terminal. */
  pretty?: boolean;
  /** Where lines go; default stdout. */
  stream?: NodeJS.WritableStream;
  /** Fields on every line. */
  defaultMeta?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions): Logger {
  const keys = [...DEFAULT_REDACT_KEYS, ...(options.redactKeys ?? []).map((k) => k.toLowerCase())];
  const pretty = options.pretty ?? (options.stream === undefined && process.stdout.isTTY === true);
  const format = pretty
    ? winston.format.combine(traceFormat(), redactFormat({ keys }), winston.format.timestamp(), winston.format.colorize(), winston.format.printf((info) => {
      const { level, message, timestamp, ...rest } = info;
      const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
      return `${String(timestamp)} ${level} ${String(message)}${extra}`;
    }))
    : winston.format.combine(traceFormat(), redactFormat({ keys }), winston.format.timestamp(), winston.format.json());
  return winston.createLogger({
    level: options.level,
    format,
    defaultMeta: options.defaultMeta,
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stdout })],
  });
}

/** A logger that writes nothing (tests, benchmarks). */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}

/** A logger bound to context fields, merged only when a line is written (cheaper than winston's child per job). */
export interface ContextLogger {
  log(level: string, message: string, meta?: Record<string, unknown>): void;
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
  isDebugEnabled(): boolean;
  /** The same logger with more context fields. */
  with(meta: Record<string, unknown>): ContextLogger;
}

export function contextLogger(logger: Logger, context: Record<string, unknown>): ContextLogger {
  const log = (level: string, message: string, meta?: Record<string, unknown>) => {
    if (logger.isLevelEnabled(level)) logger.log(level, message, meta ? { ...context, ...meta } : { ...context });
  };
  return {
    log,
    debug: (m, meta) => log('debug', m, meta),
    info: (m, meta) => log('info', m, meta),
    warn: (m, meta) => log('warn', m, meta),
    error: (m, meta) => log('error', m, meta),
    isDebugEnabled: () => logger.isDebugEnabled(),
    with: (meta) => contextLogger(logger, { ...context, ...meta }),
  };
}
