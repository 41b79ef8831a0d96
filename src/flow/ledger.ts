/**
 * The ledger of reservations: one account of one unit (tokens, requests, micro-currency, ...)
 * with a capacity per window. A caller reserves its worst case before it acts (a hold), settles
 * with the actual amount once it knows it (the hold becomes a charge: the difference is refunded,
 * or charged beyond the hold), and holds whose holder never settled expire (charged in full).
 * Charges count until their window drops them: a sliding window (tokens per minute) drops a
 * charge one window after it was made, a fixed window (a budget per day) at the end of its
 * period, {@link FOREVER} never (a job's budget).
 *
 * Pure: every function takes a ledger and returns a new one; time is a parameter (epoch ms).
 * Charges are kept in buckets of `bucketMs` (their drop time rounded up, so a charge counts a
 * little longer, never shorter), so a ledger holds at most window / bucketMs charges.
 *
 * The bound it keeps: while every settle charges at most what was held and the capacity does not
 * change, the charges made within any window never add up to more than the capacity (property
 * tested). A settle above its hold (an answer longer than reserved) is charged all the same: the
 * overshoot is that excess, and the next reservations wait for it to drop.
 */

/** When a charge stops counting. */
export interface Window {
  /** Milliseconds of one window (a period for a fixed window; Infinity for {@link FOREVER}). */
  readonly ms: number;
  /** The instant (epoch ms) from which a charge made at `at` no longer counts. */
  dropsAt(at: number): number;
}

/** A sliding window of `ms`: a charge counts for `ms` after it was made (tokens or requests per minute). */
export function slidingWindow(ms: number): Window {
  if (!(ms > 0)) throw new RangeError(`a window must be > 0 ms (got ${ms})`);
  return { ms, dropsAt: (at) => at + ms };
}

/** Fixed periods of `ms` from `originMs` (a budget per day): a charge counts until the end of its period. */
export function fixedWindow(ms: number, originMs = 0): Window {
  if (!(ms > 0)) throw new RangeError(`a period must be > 0 ms (got ${ms})`);
  return { ms, dropsAt: (at) => originMs + (Math.floor((at - originMs) / ms) + 1) * ms };
}

/** Charges never drop (a budget for a job's whole life). */
export const FOREVER: Window = Object.freeze({ ms: Number.POSITIVE_INFINITY, dropsAt: () => Number.POSITIVE_INFINITY });

/** A reservation not settled yet. */
export interface Hold {
  readonly id: string;
  readonly amount: number;
  /** When it was made (epoch ms). */
  readonly at: number;
  /** When it is charged in full if nobody settled it (a dead holder). */
  readonly expiresAt: number;
}

/** Settled amounts that drop at the same instant. */
export interface Charge {
  readonly amount: number;
  readonly dropsAt: number;
}

/** One account. Treat as immutable: every function returns a new one. */
export interface Ledger {
  /** What is counted: `tokens`, `requests`, `usd_micros`, ... (labels only). */
  readonly unit: string;
  /** Most that charges and holds may add up to within a window (may be 0; Infinity: no limit). */
  readonly capacity: number;
  readonly window: Window;
  /** Charge buckets: a charge's drop time is rounded up to a multiple of this. */
  readonly bucketMs: number;
  /** Charges still counting, by drop time ascending. */
  readonly charges: readonly Charge[];
  readonly holds: readonly Hold[];
}

export interface LedgerOptions {
  unit: string;
  capacity: number;
  window: Window;
  /** Default: a sixtieth of the window (1 s for a minute), at least 1 ms; 1 ms for a window without end. */
  bucketMs?: number;
}

/** A new, empty ledger. */
export function createLedger(o: LedgerOptions): Ledger {
  if (!(o.capacity >= 0)) throw new RangeError(`capacity must be >= 0 (got ${o.capacity})`);
  const bucketMs = o.bucketMs ?? (Number.isFinite(o.window.ms) ? Math.max(1, Math.floor(o.window.ms / 60)) : 1);
  return { unit: o.unit, capacity: o.capacity, window: o.window, bucketMs, charges: [], holds: [] };
}

/** Charges counting at `now`. */
export function usedAt(l: Ledger, now: number): number {
  let n = 0;
  for (const c of l.charges) if (c.dropsAt > now) n += c.amount;
  return n;
}

/** Held by reservations not yet settled. */
export function heldOf(l: Ledger): number {
  let n = 0;
  for (const h of l.holds) n += h.amount;
  return n;
}

/** What a new reservation may take at `now` (negative after an overshoot or a lowered capacity). */
export function availableAt(l: Ledger, now: number): number {
  return l.capacity - usedAt(l, now) - heldOf(l);
}

/** The charges still counting at `now`. */
function pruned(l: Ledger, now: number): readonly Charge[] {
  let i = 0;
  while (i < l.charges.length && l.charges[i].dropsAt <= now) i++;
  return i === 0 ? l.charges : l.charges.slice(i);
}

export type ReserveResult =
  | { ok: true; ledger: Ledger; hold: Hold }
  /**
   * Refused. `waitMs`: when the window will have dropped enough charges for it (holds unchanged);
   * null when only settling holds can make room; Infinity when it can never fit at this capacity
   * (the amount exceeds it, or the charges in the way never drop).
   */
  | { ok: false; ledger: Ledger; waitMs: number | null };

export interface ReserveRequest {
  /** Unique among the ledger's holds. */
  id: string;
  amount: number;
  now: number;
  /** Milliseconds until an unsettled hold is charged in full. */
  ttlMs: number;
}

/** Holds `amount` when it fits within the capacity at `now`. */
export function reserve(l: Ledger, r: ReserveRequest): ReserveResult {
  if (!(r.amount >= 0)) throw new RangeError(`a reservation must be >= 0 (got ${r.amount})`);
  const charges = pruned(l, r.now);
  const base = charges === l.charges ? l : { ...l, charges };
  const held = heldOf(base);
  let used = 0;
  for (const c of charges) used += c.amount;
  if (used + held + r.amount <= base.capacity) {
    const hold: Hold = { id: r.id, amount: r.amount, at: r.now, expiresAt: r.now + r.ttlMs };
    return { ok: true, ledger: { ...base, holds: [...base.holds, hold] }, hold };
  }
  if (r.amount > base.capacity) return { ok: false, ledger: base, waitMs: Number.POSITIVE_INFINITY };
  // The earliest drop after which the rest of the charges leave room for it.
  let rest = used;
  for (const c of charges) {
    rest -= c.amount;
    if (rest + held + r.amount <= base.capacity) return { ok: false, ledger: base, waitMs: Math.max(0, c.dropsAt - r.now) };
  }
  return { ok: false, ledger: base, waitMs: null };
}

/** Adds a charge of `amount` made at `at` (its bucket merged with one of the same drop time). */
export function charge(l: Ledger, amount: number, at: number): Ledger {
  const charges = pruned(l, at);
  if (!(amount > 0)) return charges === l.charges ? l : { ...l, charges };
  const raw = l.window.dropsAt(at);
  const dropsAt = Number.isFinite(raw) ? Math.ceil(raw / l.bucketMs) * l.bucketMs : raw;
  const out = charges.slice();
  let i = out.length;
  while (i > 0 && out[i - 1].dropsAt > dropsAt) i--;
  if (i > 0 && out[i - 1].dropsAt === dropsAt) out[i - 1] = { amount: out[i - 1].amount + amount, dropsAt };
  else out.splice(i, 0, { amount, dropsAt });
  return { ...l, charges: out };
}

/**
 * Settles hold `id` with what was actually spent, charged at `now`: the rest of the hold is
 * refunded, or the excess charged. An unknown id (expired, or settled already) charges nothing
 * and returns `hold: null`.
 */
export function settle(l: Ledger, id: string, actual: number, now: number): { ledger: Ledger; hold: Hold | null } {
  const i = l.holds.findIndex((h) => h.id === id);
  if (i < 0) return { ledger: l, hold: null };
  const hold = l.holds[i];
  const holds = l.holds.slice(0, i).concat(l.holds.slice(i + 1));
  return { ledger: charge({ ...l, holds }, Math.max(0, actual), now), hold };
}

/** Charges in full, at `now`, every hold past its expiry (its holder never settled). */
export function expire(l: Ledger, now: number): { ledger: Ledger; expired: Hold[] } {
  const expired = l.holds.filter((h) => h.expiresAt <= now);
  if (expired.length === 0) return { ledger: l, expired };
  let out: Ledger = { ...l, holds: l.holds.filter((h) => h.expiresAt > now) };
  for (const h of expired) out = charge(out, h.amount, now);
  return { ledger: out, expired };
}

/** The same ledger with another capacity (a new slice, a learned limit); charges and holds stay. */
export function withCapacity(l: Ledger, capacity: number): Ledger {
  if (!(capacity >= 0)) throw new RangeError(`capacity must be >= 0 (got ${capacity})`);
  return capacity === l.capacity ? l : { ...l, capacity };
}
