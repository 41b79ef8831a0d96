/**
 * The logger: winston, JSON lines on stdout (colourised text when stdout is a terminal), with
 * secrets redacted from every line. Child loggers carry job context (alt_id, task_id, ...).
 */
import winston from 'winston';
import { traceFields } from './tracing.ts';
import { REDACTED, isSecretKey, redactValue } from '../security/redact.ts';

export type Logger = winston.Logger;

/** Redacts every field of a line (and its message) with the one policy of `src/security/redact.ts`. */
const redactFormat = winston.format((info, opts: unknown) => {
  const extra = (opts as { keys?: readonly string[] } | undefined)?.keys ?? [];
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'timestamp') continue;
    (info as Record<string, unknown>)[key] = isSecretKey(key, extra) ? REDACTED : redactValue(info[key], extra);
  }
  return info;
});

/**
 * Adds the active span's trace_id and span_id to a line written inside a traced job. It runs after
 * the redaction: the ids are hex the SDK made or the propagator checked, never a caller's text.
 */
const traceFormat = winston.format((info) => {
  const ids = traceFields();
  if (ids.trace_id !== undefined) {
    info.trace_id = ids.trace_id;
    info.span_id = ids.span_id;
  }
  return info;
});

/** Where winston's transports read the finished line (triple-beam's MESSAGE). */
const MESSAGE = Symbol.for('message');
const fallbackJson = winston.format.json();
/**
 * The JSON line: `JSON.stringify` (fields in the order they were given), and winston's own JSON
 * format only for what it cannot write (a BigInt; cycles are cut by the redaction before). winston's
 * format configures its stringifier and sorts the keys on every line, several times the line's cost.
 */
const jsonFormat = winston.format((info) => {
  try {
    (info as Record<symbol, unknown>)[MESSAGE] = JSON.stringify(info);
    return info;
  } catch {
    return fallbackJson.transform(info, {});
  }
});

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
  const keys = (options.redactKeys ?? []).map((k) => k.toLowerCase()).filter(Boolean);
  const pretty = options.pretty ?? (options.stream === undefined && process.stdout.isTTY === true);
  const format = pretty
    ? winston.format.combine(redactFormat({ keys }), traceFormat(), winston.format.timestamp(), winston.format.colorize(), winston.format.printf((info) => {
      const { level, message, timestamp, ...rest } = info;
      const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
      return `${String(timestamp)} ${level} ${String(message)}${extra}`;
    }))
    : winston.format.combine(redactFormat({ keys }), traceFormat(), winston.format.timestamp(), jsonFormat());
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

/**
 * One object per job and per task: its methods are the class's, not closures made for each
 * instance (seven closures and a context per logger before: about 0.6 KB of heap each, three per
 * job in flight).
 */
class BoundLogger implements ContextLogger {
  readonly #logger: Logger;
  readonly #context: Record<string, unknown>;

  constructor(logger: Logger, context: Record<string, unknown>) {
    this.#logger = logger;
    this.#context = context;
  }

  log(level: string, message: string, meta?: Record<string, unknown>): void {
    if (this.#logger.isLevelEnabled(level)) this.#logger.log(level, message, meta ? { ...this.#context, ...meta } : { ...this.#context });
  }

  debug(message: string, meta?: Record<string, unknown>): void {
    this.log('debug', message, meta);
  }

  info(message: string, meta?: Record<string, unknown>): void {
    this.log('info', message, meta);
  }

  warn(message: string, meta?: Record<string, unknown>): void {
    this.log('warn', message, meta);
  }

  error(message: string, meta?: Record<string, unknown>): void {
    this.log('error', message, meta);
  }

  isDebugEnabled(): boolean {
    return this.#logger.isDebugEnabled();
  }

  with(meta: Record<string, unknown>): ContextLogger {
    return new BoundLogger(this.#logger, { ...this.#context, ...meta });
  }
}

export function contextLogger(logger: Logger, context: Record<string, unknown>): ContextLogger {
  return new BoundLogger(logger, context);
}
