/**
 * The fleet's controls on the dashboard, as `altlas pause`, `resume`, `drain` and `workers set`
 * do them: `POST /api/actions/{pause,resume,drain,concurrency}`. The server lets them through for
 * DASHBOARD_OPERATOR_TOKEN only; each writes the same control record and history event as the
 * command, with the token's name as who did it.
 */
import { MAX_CONCURRENCY } from '../config/defaults.ts';
import { isAltlasError } from '../errors.ts';
import { requestDrain, setFleetPaused, setWorkerConcurrency, type ControlSession } from '../ops/control.ts';
import { HttpError, bad, id, only, type DashboardData, type Handler } from './routes.ts';

const session = (d: DashboardData): ControlSession => ({ nc: d.dlq.nc, js: d.dlq.js, jsm: d.dlq.jsm, config: d.config, codec: d.codec });

/** A worker with no live heartbeat: 404 WORKER_NOT_FOUND (as the command's exit 1). */
async function onLiveWorker<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (isAltlasError(e) && e.code === 'WORKER_NOT_FOUND') throw new HttpError(404, e.message, e.code);
    // Asked, but the worker did not report applying it in time: refused as the command's exit 1.
    if (isAltlasError(e) && e.code === 'WORKER_NOT_ANSWERING') throw new HttpError(409, e.message, e.code);
    throw e;
  }
}

/** A concurrency: a whole number from 1 to MAX_CONCURRENCY (a JSON number, never a text). */
function concurrencyOf(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_CONCURRENCY) throw bad(`concurrency is a whole number from 1 to ${MAX_CONCURRENCY}`);
  return v;
}

const pauseOrResume = (paused: boolean): Handler => (d, { body, by }) => {
  only(body, []);
  return setFleetPaused(session(d), paused, by ?? 'dashboard');
};

/** The fleet's controls, by name (DASHBOARD_OPERATOR_TOKEN only). */
export const CONTROLS: Record<string, Handler> = {
  pause: pauseOrResume(true),
  resume: pauseOrResume(false),
  /** `{worker_id}`: the worker finishes what it holds and exits. */
  drain: async (d, { body, by }) => {
    only(body, ['worker_id']);
    const worker = id(body.worker_id, 'worker_id');
    const w = await onLiveWorker(() => requestDrain(session(d), worker, by ?? 'dashboard'));
    return { worker_id: worker, draining: true, in_flight: w.in_flight };
  },
  /** `{worker_id, concurrency}`: the worker's concurrency, live. */
  concurrency: async (d, { body, by }) => {
    only(body, ['worker_id', 'concurrency']);
    const worker = id(body.worker_id, 'worker_id');
    const n = concurrencyOf(body.concurrency);
    return onLiveWorker(() => setWorkerConcurrency(session(d), worker, n, by ?? 'dashboard'));
  },
};
