/**
 * Job budgets in one worker: a ledger per unit (tokens, nano-units of money) for each job running
 * here that has a budget, with no window (a job's spend counts for its whole life). A job runs in
 * one worker at a time, so its budget needs no fleet: a redelivered job starts from what its
 * checkpointed results spent. Pure but for the map of open jobs.
 */
import { FOREVER, availableAt, charge, createLedger, reserve, settle, usedAt, heldOf, type Ledger } from '../flow/ledger.ts';

/** A budget's limits; null: no limit in that unit. */
export interface Limits {
  tokens: number | null;
  costNanos: number | null;
}

/** What one call needs or spent, per unit (a null cost: unknown). */
export interface Amounts {
  tokens: number;
  costNanos: number | null;
}

export type BudgetUnit = 'tokens' | 'cost';

/** Why a call does not fit one budget. */
export interface Refusal {
  unit: BudgetUnit;
  limit: number;
  /** Spent (settled) and held (in flight) in that unit. */
  spent: number;
  held: number;
  /** What the call needed; null: its cost is unknown (an unpriced model). */
  need: number | null;
}

interface Account {
  tokens: Ledger | null;
  cost: Ledger | null;
  opened: number;
  settles: Settles;
}

/**
 * Calls waiting for a settle: a refused call whose worst case would fit once the calls in flight
 * have settled (they can only give back) waits for the next one instead of being refused.
 */
export class Settles {
  readonly #waiting = new Set<() => void>();

  /** Resolves at the next settle (or wake); rejects with the signal's reason when it aborts first. */
  next(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#waiting.delete(done);
        reject(signal!.reason);
      };
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.#waiting.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  wake(): void {
    const all = [...this.#waiting];
    this.#waiting.clear();
    for (const w of all) w();
  }
}

/** True when a refusal cannot turn into room by waiting: the worst case does not fit even if every call in flight gave all back. */
export const final = (r: Pick<Refusal, 'need' | 'spent' | 'limit'>, capacity = r.limit): boolean => r.need === null || r.spent + r.need > capacity;

const ledgerOf = (unit: string, capacity: number | null): Ledger | null => (capacity === null ? null : createLedger({ unit, capacity, window: FOREVER }));

/**
 * Reserves `need` in a pair of ledgers, all or nothing; the ledgers given are replaced on success.
 * A refusal names the unit that refused, the one that can never fit when there is one.
 */
export function reservePair(a: { tokens: Ledger | null; cost: Ledger | null }, id: string, need: Amounts, now: number, ttlMs: number): Refusal | null {
  const parts: [BudgetUnit, Ledger | null, number | null][] = [['tokens', a.tokens, need.tokens], ['cost', a.cost, need.costNanos]];
  const taken: [BudgetUnit, Ledger][] = [];
  let refused: Refusal | null = null;
  for (const [unit, ledger, amount] of parts) {
    if (!ledger) continue;
    const r = amount === null ? null : reserve(ledger, { id, amount, now, ttlMs });
    if (r?.ok) {
      taken.push([unit, r.ledger]);
      continue;
    }
    const refusal = { unit, limit: ledger.capacity, spent: usedAt(ledger, now), held: heldOf(ledger), need: amount };
    if (!refused || (final(refusal) && !final(refused))) refused = refusal;
  }
  if (refused) return refused;
  for (const [unit, l] of taken) a[unit] = l;
  return null;
}

/** Settles hold `id` in a pair of ledgers with what was spent (an unknown cost: the hold in full). */
export function settlePair(a: { tokens: Ledger | null; cost: Ledger | null }, id: string, spent: Amounts, now: number): void {
  if (a.tokens) a.tokens = settle(a.tokens, id, spent.tokens, now).ledger;
  if (a.cost) {
    const hold = a.cost.holds.find((h) => h.id === id);
    a.cost = settle(a.cost, id, spent.costNanos ?? hold?.amount ?? 0, now).ledger;
  }
}

export class JobBudgets {
  readonly #jobs = new Map<string, Account>();

  /**
   * A job with a budget starts here, having spent `spent` already (its resumed results). Returns
   * the function that ends it. Two runs of one job id in this worker share one budget.
   */
  open(jobId: string, limits: Limits, spent: Amounts): () => void {
    let a = this.#jobs.get(jobId);
    if (!a) {
      a = { tokens: ledgerOf('tokens', limits.tokens), cost: ledgerOf('nanos', limits.costNanos), opened: 0, settles: new Settles() };
      if (a.tokens && spent.tokens > 0) a.tokens = charge(a.tokens, spent.tokens, 0);
      if (a.cost && spent.costNanos) a.cost = charge(a.cost, spent.costNanos, 0);
      this.#jobs.set(jobId, a);
    }
    a.opened++;
    const account = a;
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      if (--account.opened === 0 && this.#jobs.get(jobId) === account) this.#jobs.delete(jobId);
    };
  }

  /** True while job `jobId` runs here with a budget. */
  applies(jobId: string | null): boolean {
    return jobId !== null && this.#jobs.has(jobId);
  }

  /** Holds a call's worst case in its job's budget, or says why it does not fit. */
  reserve(jobId: string, id: string, need: Amounts, now: number): Refusal | null {
    const a = this.#jobs.get(jobId);
    return a ? reservePair(a, id, need, now, Number.POSITIVE_INFINITY) : null;
  }

  settle(jobId: string, id: string, spent: Amounts, now: number): void {
    const a = this.#jobs.get(jobId);
    if (!a) return;
    settlePair(a, id, spent, now);
    a.settles.wake();
  }

  /** Resolves at the next settle of one of job `jobId`'s calls. */
  settled(jobId: string, signal?: AbortSignal): Promise<void> {
    return this.#jobs.get(jobId)?.settles.next(signal) ?? Promise.resolve();
  }

  /** What job `jobId` may still spend per unit (null: no limit in that unit); null when it has no budget here. */
  available(jobId: string, now = Date.now()): { tokens: number | null; costNanos: number | null } | null {
    const a = this.#jobs.get(jobId);
    if (!a) return null;
    return { tokens: a.tokens ? availableAt(a.tokens, now) : null, costNanos: a.cost ? availableAt(a.cost, now) : null };
  }
}
