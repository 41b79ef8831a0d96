/**
 * Slices of a fleet's window (pure). A limit shared by every worker on one NATS (a model's tokens
 * per minute, a tenant's budget per day) is one KV entry: each worker leases a slice of the
 * window, spends it through its own {@link Ledger}, and renews it before the lease ends (or
 * returns it). The entry is written by compare-and-set on its revision (see fleet-slices.ts); this
 * module decides what a worker writes.
 *
 * The invariant: at every instant, the slices and tails in the entry add up to at most the limit,
 * and each worker's spending within the window is covered by its slice plus its tails. So the
 * fleet's spending within any window stays within the limit, as each ledger's does within its slice.
 *
 * - A worker's slice is its max-min fair share of the limit among the wants of the live slices,
 *   taken only from what no other slice or tail occupies (the others give back at their next
 *   renewal). It spends that much, and nothing once its lease ran out unrenewed.
 * - When a worker's spending in the window is above its new slice (it shrank), the excess is
 *   written as tails of its own that free as its charges drop out of the window.
 * - A slice whose lease ended (a dead worker) becomes a tail of its whole amount that frees when a
 *   charge made at the lease's end would drop: one window after it for a sliding window, the
 *   period's end for a fixed one. So a dead worker's slice is back in use by the others at most
 *   one lease plus one window after it died (within 2 × the lease when the lease is at least the window).
 * - A returned slice (shutdown) leaves tails for what its worker still has in the window.
 */
import { heldOf, type Ledger, type Window } from './ledger.ts';

/** One worker's lease on a slice (wire names in snake_case). */
export interface SliceLease {
  /** What it may spend within one window. */
  amount: number;
  /** Epoch ms when the lease ends unless renewed. */
  until: number;
  /** What it would use within one window (its demand); max-min fairness divides by these. */
  want: number;
}

/** Part of the window still occupied by past spending: it frees at `free_at` (epoch ms). */
export interface Tail {
  amount: number;
  free_at: number;
  /** The worker whose spending it is. */
  of: string;
}

/** The KV value of one shared limit. */
export interface SliceEntry {
  v: 1;
  unit: string;
  window_ms: number;
  /** The newest limit a provider told any worker (null: none yet), and when it was learned. */
  learned: number | null;
  learned_at: number | null;
  /** The fleet's limit as its last writer knew it (the tighter of configured and learned); null or absent: none known. */
  limit?: number | null;
  slices: Record<string, SliceLease>;
  tails: Tail[];
}

/** A limit a worker learned from a provider, and when. */
export interface Learned {
  value: number;
  at: number;
}

export interface PlanInput {
  worker: string;
  now: number;
  /** Milliseconds a slice is leased for. */
  leaseMs: number;
  window: Window;
  unit: string;
  /** The configured limit for one window; null: none. */
  configured: number | null;
  /** A limit this worker learned; it replaces the entry's when newer. */
  learned: Learned | null;
  /** What this worker would use within one window. */
  want: number;
  /** This worker's ledger for the limit (its charges and holds now). */
  ledger: Ledger;
  /** Milliseconds within which a hold is settled or expires. */
  holdTtlMs: number;
}

export interface Plan {
  /** What to write. */
  entry: SliceEntry;
  /** What this worker may spend within the window until `until` (its ledger's capacity); Infinity when no limit is known. */
  spendable: number;
  until: number;
  /** The fleet's limit: the tighter of configured and learned; null when neither is known. */
  limit: number | null;
  /** The learned limit the fleet knows. */
  learned: Learned | null;
}

/** Tails kept per worker at most (older ones merged: their sum, freeing at the latest). */
const MAX_TAILS = 16;

/** An entry with nothing in it yet. */
export function emptyEntry(unit: string, windowMs: number): SliceEntry {
  return { v: 1, unit, window_ms: windowMs, learned: null, learned_at: null, slices: {}, tails: [] };
}

/** The tighter of a configured and a learned limit; null when neither is known. */
export function effectiveLimit(configured: number | null, learned: number | null): number | null {
  const l = Math.min(configured ?? Number.POSITIVE_INFINITY, learned ?? Number.POSITIVE_INFINITY);
  return Number.isFinite(l) ? l : null;
}

/**
 * Max-min fair shares of `total` among `wants` (water-filling): nobody gets more than it wants,
 * and what the modest leave is divided equally among the rest. Whole units, rounded down.
 */
export function fairShares(total: number, wants: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  const order = [...wants].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  let left = Math.max(0, total);
  order.forEach(([who, want], i) => {
    const give = Math.floor(Math.min(Math.max(0, want), left / (order.length - i)));
    out.set(who, give);
    left -= give;
  });
  return out;
}

/**
 * Tails for the part of a ledger's spending above `keep`: charges that drop first are the excess
 * first; what holds are beyond that frees one window after the holds must have been settled.
 */
export function excessTails(ledger: Ledger, keep: number, worker: string, now: number, holdTtlMs: number): Tail[] {
  const live = ledger.charges.filter((c) => c.dropsAt > now);
  let excess = live.reduce((s, c) => s + c.amount, 0) + heldOf(ledger) - keep;
  const tails: Tail[] = [];
  for (const c of live) {
    if (excess <= 0) break;
    const amount = Math.min(c.amount, excess);
    tails.push({ amount, free_at: c.dropsAt, of: worker });
    excess -= amount;
  }
  if (excess > 0) tails.push({ amount: excess, free_at: ledger.window.dropsAt(now + holdTtlMs), of: worker });
  return merged(tails);
}

/** At most MAX_TAILS tails: the earliest ones kept, the rest merged into one that frees last. */
function merged(tails: Tail[]): Tail[] {
  if (tails.length <= MAX_TAILS) return tails;
  const rest = tails.slice(MAX_TAILS - 1);
  return [...tails.slice(0, MAX_TAILS - 1), { amount: rest.reduce((s, t) => s + t.amount, 0), free_at: Math.max(...rest.map((t) => t.free_at)), of: rest[0].of }];
}

/** The entry at `now`: freed tails gone, ended leases turned into tails. */
function settled(prev: SliceEntry | null, unit: string, window: Window, now: number): SliceEntry {
  const e = prev ?? emptyEntry(unit, window.ms);
  const tails = e.tails.filter((t) => t.free_at > now);
  const slices: Record<string, SliceLease> = {};
  for (const [who, s] of Object.entries(e.slices)) {
    if (s.until > now) slices[who] = s;
    else if (s.amount > 0) tails.push({ amount: s.amount, free_at: window.dropsAt(s.until), of: who });
  }
  return { ...e, slices, tails };
}

const sum = (xs: Iterable<number>) => {
  let n = 0;
  for (const x of xs) n += x;
  return n;
};

/** What `worker` writes when it takes or renews its slice. */
export function planSlice(prev: SliceEntry | null, p: PlanInput): Plan {
  const e = settled(prev, p.unit, p.window, p.now);
  if (p.learned && (e.learned_at === null || p.learned.at > e.learned_at)) {
    e.learned = p.learned.value;
    e.learned_at = p.learned.at;
  }
  const learned = e.learned === null || e.learned_at === null ? null : { value: e.learned, at: e.learned_at };
  const limit = effectiveLimit(p.configured, e.learned);
  const until = p.now + p.leaseMs;
  const othersTails = e.tails.filter((t) => t.of !== p.worker);
  const others = Object.entries(e.slices).filter(([who]) => who !== p.worker);
  if (limit === null) {
    // No limit known: nothing to divide; what this worker spends stays visible as its tails.
    const slices = Object.fromEntries(others);
    return { entry: { ...e, limit, slices, tails: [...othersTails, ...excessTails(p.ledger, 0, p.worker, p.now, p.holdTtlMs)] }, spendable: Number.POSITIVE_INFINITY, until, limit, learned };
  }
  const occupied = sum(others.map(([, s]) => s.amount)) + sum(othersTails.map((t) => t.amount));
  const wants = new Map<string, number>(others.map(([who, s]) => [who, Math.min(s.want, limit)]));
  wants.set(p.worker, Math.min(Math.max(0, p.want), limit));
  const fair = fairShares(limit - sum(othersTails.map((t) => t.amount)), wants).get(p.worker) ?? 0;
  const spendable = Math.max(0, Math.min(fair, limit - occupied));
  const slices = { ...Object.fromEntries(others), [p.worker]: { amount: spendable, until, want: Math.max(0, p.want) } };
  const tails = [...othersTails, ...excessTails(p.ledger, spendable, p.worker, p.now, p.holdTtlMs)];
  return { entry: { ...e, limit, slices, tails }, spendable, until, limit, learned };
}

/** What `worker` writes when it returns its slice: none left, tails for what it still has in the window. */
export function returnSlice(prev: SliceEntry | null, worker: string, ledger: Ledger, now: number, holdTtlMs: number): SliceEntry {
  const e = settled(prev, ledger.unit, ledger.window, now);
  const { [worker]: _mine, ...slices } = e.slices;
  return { ...e, slices, tails: [...e.tails.filter((t) => t.of !== worker), ...excessTails(ledger, 0, worker, now, holdTtlMs)] };
}

/** What the fleet holds of an entry at `now`: every live slice and every tail not freed yet. */
export function occupiedAt(e: SliceEntry, now: number): number {
  return sum(Object.values(e.slices).filter((s) => s.until > now).map((s) => s.amount)) + sum(e.tails.filter((t) => t.free_at > now).map((t) => t.amount));
}

/** Reads an entry; null when it is not one (written by something else, or an older format). */
export function parseEntry(bytes: Uint8Array): SliceEntry | null {
  try {
    const e = JSON.parse(new TextDecoder().decode(bytes)) as SliceEntry;
    if (e?.v !== 1 || typeof e.slices !== 'object' || e.slices === null || !Array.isArray(e.tails)) return null;
    return e;
  } catch {
    return null;
  }
}
