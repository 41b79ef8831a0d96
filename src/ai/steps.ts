/**
 * The steps a call takes around the policies: gate → reserve → policies → transport → settle.
 *
 * - `gate` waits until the call may start (a lane, a tenant's share, a provider slot) and is left
 *   when the call ends;
 * - `reserve` holds the call's worst case against every budget that applies (provider tokens and
 *   requests, job, tenant) before any byte is sent, or refuses the call by rejecting;
 * - `settle` gets the reservation back with the outcome once the call ended (answered or failed)
 *   and returns what was not used.
 *
 * Every step may also watch each HTTP attempt (`onAttempt`: status, rate-limit headers, usage) to
 * learn limits or charge a paid attempt. The defaults pass everything through; a client given
 * none skips the steps altogether. {@link combineSteps} puts several parts (flow control, budgets)
 * together in order.
 */
import type { AiAnswer, AiCall, AttemptInfo } from './call.ts';

/** What the call ended with, as settle sees it. */
export type CallOutcome =
  | { ok: true; answer: AiAnswer }
  | { ok: false; error: unknown };

/** What every step may implement: a look at each HTTP attempt, synchronous and on the call's path (it must not throw). */
export interface AttemptWatcher {
  onAttempt?(call: AiCall, info: AttemptInfo): void;
}

/** Left once when the call ends, whatever its outcome. */
export interface GatePass {
  leave(): void;
}

/** Waits for the call's turn. Rejects to refuse the call (an AltlasError, or the signal's reason). */
export interface GateStep extends AttemptWatcher {
  enter(call: AiCall, signal: AbortSignal): Promise<GatePass>;
}

/** What reserve held for a call, per unit (e.g. `{tokens: 1800}`, `{usd_micros: 420}`); opaque to the path. */
export interface Reservation {
  readonly held: Readonly<Record<string, number>>;
}

/** Holds the call's worst case. Rejects to refuse the call before any byte is sent (e.g. a budget). */
export interface ReserveStep extends AttemptWatcher {
  reserve(call: AiCall, signal: AbortSignal): Promise<Reservation>;
}

/**
 * Settles a call's reservation with its outcome (refund or charge the difference, from the usage
 * on the answer or in `call.attempts`). Awaited before the call returns; it must not reject.
 */
export interface SettleStep extends AttemptWatcher {
  settle(call: AiCall, reservation: Reservation, outcome: CallOutcome): Promise<void> | void;
}

/** The three steps of a call. */
export interface CallSteps {
  gate: GateStep;
  reserve: ReserveStep;
  settle: SettleStep;
}

const OPEN: GatePass = { leave() {} };
const NOTHING: Reservation = Object.freeze({ held: Object.freeze({}) });

/** Pass-through steps: no wait, nothing held, nothing to settle. */
export const PASS_THROUGH: CallSteps = Object.freeze({
  gate: { enter: () => Promise.resolve(OPEN) },
  reserve: { reserve: () => Promise.resolve(NOTHING) },
  settle: { settle() {} },
});

/** A reservation of several parts, each settled by its own part. */
interface Joint extends Reservation {
  readonly parts: readonly Reservation[];
}

/**
 * Steps made of several parts, each a partial set of steps: gates entered in order and left in
 * reverse; reservations made in order (when one refuses, those already made are settled with
 * the refusal before it propagates); every part settled with its own reservation; every watcher
 * sees every attempt.
 */
export function combineSteps(parts: readonly Partial<CallSteps>[]): CallSteps {
  const gates = parts.flatMap((p) => (p.gate ? [p.gate] : []));
  const reservers = parts.map((p) => p.reserve ?? PASS_THROUGH.reserve);
  const settlers = parts.map((p) => p.settle ?? PASS_THROUGH.settle);
  const steps = new Set<AttemptWatcher>(parts.flatMap((p) => [p.gate, p.reserve, p.settle].filter((s) => s !== undefined)));
  const watchers = [...steps].flatMap((s) => (s.onAttempt ? [s.onAttempt.bind(s)] : []));
  const watch = (call: AiCall, info: AttemptInfo) => {
    for (const w of watchers) w(call, info);
  };
  return {
    gate: {
      async enter(call, signal) {
        const passes: GatePass[] = [];
        try {
          for (const g of gates) passes.push(await g.enter(call, signal));
        } catch (e) {
          for (const p of passes.reverse()) p.leave();
          throw e;
        }
        return { leave: () => passes.reverse().forEach((p) => p.leave()) };
      },
      onAttempt: watch,
    },
    reserve: {
      async reserve(call, signal) {
        const made: Reservation[] = [];
        try {
          for (const r of reservers) made.push(await r.reserve(call, signal));
        } catch (error) {
          await Promise.all(made.map((m, i) => settlers[i].settle(call, m, { ok: false, error })));
          throw error;
        }
        const held: Record<string, number> = {};
        for (const m of made) for (const [k, v] of Object.entries(m.held)) held[k] = (held[k] ?? 0) + v;
        return { held, parts: made } satisfies Joint;
      },
    },
    settle: {
      async settle(call, reservation, outcome) {
        const parts = (reservation as Joint).parts ?? [];
        await Promise.all(parts.map((m, i) => settlers[i].settle(call, m, outcome)));
      },
    },
  };
}
