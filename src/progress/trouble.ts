/** The log lines of progress trouble: a message sent again, an attempt's progress given up. */
import type { ProgressTrouble } from './publisher.ts';

/** Logs `t` as a warning with the task and attempt; `fields` adds what the logger does not carry. */
export function logProgressTrouble(log: { warn(message: string, fields: Record<string, unknown>): void }, t: ProgressTrouble, fields: Record<string, unknown> = {}): void {
  if (t.kind === 'resend') log.warn('a progress message was not stored in time; it is sent again', { ...fields, task_id: t.head.task, index: t.index, error: t.error });
  else log.warn('progress of an AI attempt was given up before it was stored', { ...fields, task_id: t.head.task, code: 'PROGRESS_INCOMPLETE', attempt: t.attempt, unsent_bytes: t.unsentBytes, reason: t.reason });
}
