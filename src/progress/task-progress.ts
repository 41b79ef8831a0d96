/**
 * The progress of one AI call: its chunks and attempt reports (the call's `onChunk` and
 * `onAttempt`) turned into progress attempts, one per HTTP attempt that produced text. An
 * attempt that produced none publishes nothing.
 */
import type { AiChunk, AttemptInfo } from '../ai/call.ts';
import type { AttemptHead, ProgressAttempt, ProgressPublisher, ProgressTrouble } from './publisher.ts';

/** Who the call's progress belongs to (every attempt's head but its HTTP attempt). */
export type CallHead = Omit<AttemptHead, 'http_attempt'>;

export interface CallProgress {
  onChunk(chunk: AiChunk): void;
  onAttempt(info: AttemptInfo): void;
  /**
   * After the call: ends an attempt the call did not report (it was cancelled) and waits, at most
   * `drainMs`, until every message is stored. Resolves false when some were given up.
   */
  settle(drainMs: number): Promise<boolean>;
  /** The attempts opened, in order (tests). */
  readonly attempts: readonly ProgressAttempt[];
}

/** The error code of an abort reason, if it has one. */
const codeOf = (reason: unknown): string | null => {
  const code = (reason as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : null;
};

/**
 * Progress of one call, published by `publisher`; `signal` is the call's (its reason names a
 * cancellation); `onTrouble` hears of messages sent again and progress given up (the job's log).
 */
export function callProgress(publisher: ProgressPublisher, head: CallHead, signal: AbortSignal, onTrouble?: (t: ProgressTrouble) => void): CallProgress {
  /** By HTTP attempt number (small integers from 1): an array, lighter than a map for the call's whole life. */
  const byAttempt: (ProgressAttempt | undefined)[] = [];
  const attempts: ProgressAttempt[] = [];
  return {
    attempts,
    onChunk(chunk) {
      let a = byAttempt[chunk.attempt];
      if (!a) {
        // After the call's attempt before it: the stream holds the task's attempts in their order.
        a = publisher.open({ ...head, http_attempt: chunk.attempt }, { after: attempts.at(-1), onTrouble });
        byAttempt[chunk.attempt] = a;
        attempts.push(a);
      }
      a.chunk(chunk.text);
    },
    onAttempt(info) {
      const a = byAttempt[info.attempt];
      if (!a) return;
      const cancelled = info.outcome === 'cancelled';
      a.end(info.outcome, cancelled ? null : info.failure, cancelled ? codeOf(signal.reason) : null);
    },
    async settle(drainMs) {
      const results = attempts.map((a) => {
        a.end('cancelled', null, codeOf(signal.reason));
        return a.settled(drainMs);
      });
      return (await Promise.all(results)).every(Boolean);
    },
  };
}
