/**
 * The worker process's last line: `process exit`, with its exit code and why it ends, written from
 * the process's `exit` event with a synchronous write (after `process.exit` the logger's streams
 * get no further turn to write). Every way the process ends by itself leaves one: a shutdown on a
 * signal, a drain, a start-up that gave up, a second signal, an uncaught exception or unhandled
 * rejection, an event loop left with nothing to run. A signal that ends the process outright
 * (SIGKILL, SIGSEGV, or a signal with no handler) leaves none: its parent sees the signal.
 */
import { writeSync } from 'node:fs';
import { redactValue } from '../security/redact.ts';

/** Why the process is ending, as set by the path that ends it (the last one set wins). */
let reason: string | null = null;

/** Records why the process is about to end (read by the `process exit` line). */
export function setExitReason(why: string): void {
  reason = why;
}

/** The reason recorded so far, or null (tests). */
export function exitReason(): string | null {
  return reason;
}

/** The `process exit` line for an exit code: a JSON line as the logger writes them (level error unless the code is 0). */
export function exitLine(code: number, meta: Record<string, unknown>, now = new Date()): string {
  const why = reason ?? 'no reason recorded: the event loop had nothing left to run';
  return `${JSON.stringify({ level: code === 0 ? 'info' : 'error', message: 'process exit', code, reason: redactValue(why), pid: process.pid, ...meta, timestamp: now.toISOString() })}\n`;
}

let installed = false;

/**
 * Writes the `process exit` line to stdout when the process exits (stderr when stdout is closed),
 * and records an uncaught exception or unhandled rejection as the reason. Once per process.
 */
export function logProcessExit(meta: Record<string, unknown>): void {
  if (installed) return;
  installed = true;
  process.on('uncaughtExceptionMonitor', (e, origin) => {
    setExitReason(`${origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception'}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  });
  process.once('exit', (code) => {
    const line = exitLine(code, meta);
    for (const fd of [1, 2]) {
      try {
        writeSync(fd, line);
        return;
      } catch {
        // stdout closed (EPIPE): try stderr
      }
    }
  });
}
