/**
 * Start-up that outlasts a passing NATS failure: the server restarting or a connection cut while
 * the worker checks its topology and buckets is retried (the wait doubling from `firstDelayMs` up
 * to `maxDelayMs`), while what an operator must fix (a missing stream, a permission, a bad
 * configuration) ends the start at once.
 */
import { isAltlasError, type AltlasError } from './errors.ts';
import { isPassingNatsError } from './nats-errors.ts';

export interface StartRetryOptions {
  /** Stops the retries (the wait in progress ends at once); the last error is thrown. */
  signal?: AbortSignal;
  /** Turns what was thrown into the error that is logged and decides (NATS_UNREACHABLE retries). */
  classify: (e: unknown) => AltlasError;
  /** Called before each wait. */
  onRetry?: (error: AltlasError, attempt: number, delayMs: number) => void;
  /** First wait in ms. Default 500. */
  firstDelayMs?: number;
  /** Longest wait in ms. Default 10,000. */
  maxDelayMs?: number;
}

/** True when a start-up failure is passing: retried rather than reported. */
export const isPassingStartError = (e: unknown, error: AltlasError): boolean => isPassingNatsError(e) || isAltlasError(error, 'NATS_UNREACHABLE');

/** Runs `start` until it succeeds, retrying passing failures; throws the first other failure, or the last one once `signal` aborts. */
export async function startRetrying<T>(start: () => Promise<T>, o: StartRetryOptions): Promise<T> {
  let delay = o.firstDelayMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      const error = o.classify(e);
      if (o.signal?.aborted || !isPassingStartError(e, error)) throw e;
      o.onRetry?.(error, attempt, delay);
      if (o.signal?.aborted) throw e;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        o.signal?.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
      if (o.signal?.aborted) throw e;
      delay = Math.min(delay * 2, o.maxDelayMs ?? 10_000);
    }
  }
}
