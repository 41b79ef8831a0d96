/** Small helpers shared by the subcommands: exit codes, usage errors and output. */
import { parseArgs, type ParseArgsConfig, type ParseArgsOptionsConfig } from 'node:util';

/** Exit codes of every subcommand (documented in the README). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/**
 * Set when the command must end the process once it returns (a socket nats.js left open would
 * keep it alive): `altlas` exits with the command's code after writing its output.
 */
export const CLI_EXIT = { now: false };

/** A usage error: the command prints it with the subcommand's help and exits with 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Raw bytes to standard output (artifact get); absent: out() is used. */
  write?: (bytes: Uint8Array) => void;
}

export const stdio: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  write: (bytes) => process.stdout.write(bytes),
};

/** node:util parseArgs, with its errors turned into {@link UsageError}. */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new UsageError(e instanceof Error || (typeof e === 'object' && e !== null && 'message' in e) ? String((e as Error).message) : String(e));
  }
}

/**
 * The options of a command that takes no arguments: `--help` prints `help` (null is returned, the
 * command exits 0), a positional argument is a usage error saying `usage`.
 */
export function parseOptionsOnly<O extends ParseArgsOptionsConfig & { help: { type: 'boolean' } }>(argv: string[], io: Io, options: O, help: string, usage: string) {
  const { values, positionals } = parseCommandArgs({ args: argv, allowPositionals: true, options });
  if ((values as { help?: boolean }).help) {
    io.out(help);
    return null;
  }
  if (positionals.length) throw new UsageError(usage);
  return values;
}
