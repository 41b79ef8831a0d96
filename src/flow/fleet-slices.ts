/**
 * The fleet's slices at run time: one KV entry per shared limit, written by compare-and-set on
 * its revision (no lock, no request per call). Each worker renews the slices of the limits it
 * uses every `renewMs` (and at once when its demand rose, at most once per `nudgeGapMs`), spends
 * them locally through its ledgers, and returns them on close. A worker whose renewal fails keeps
 * spending its slice until its lease ends and nothing after (its ledger's capacity drops to 0).
 * What to write is decided by {@link planSlice} (slices.ts).
 */
import { planSlice, parseEntry, returnSlice, type Learned, type SliceEntry } from './slices.ts';
import type { Ledger, Window } from './ledger.ts';

/** What the slices need of a KV bucket (the nats.js KV satisfies it). */
export interface SliceStore {
  get(key: string): Promise<{ value: Uint8Array; revision: number; operation?: string } | null>;
  create(key: string, value: Uint8Array): Promise<number>;
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
}

/** A limit this worker shares with the fleet: what it knows and uses of it, and where the grant goes. */
export interface SliceBudget {
  /** The KV key (subject-token characters and dots). */
  readonly key: string;
  readonly unit: string;
  readonly window: Window;
  /** The configured limit for one window; null: none. */
  configured(): number | null;
  /** A limit this worker learned (from a provider's headers), and when; null: none. */
  learned(): Learned | null;
  /** What it would use within one window. */
  want(): number;
  /** Its ledger now. */
  ledger(): Ledger;
  /** A renewal was written: spend `spendable` until `until` (Infinity: no limit known). */
  granted(g: Grant): void;
}

export interface Grant {
  spendable: number;
  until: number;
  /** The fleet's limit (the tighter of configured and learned); null when unknown. */
  limit: number | null;
  learned: Learned | null;
  /** The entry as written (for `altlas limits` and metrics). */
  entry: SliceEntry;
}

export interface FleetSlicesOptions {
  store: SliceStore;
  /** This worker's id in the entries. */
  worker: string;
  /** Milliseconds a slice is leased for (FLOW_SLICE_LEASE_MS). */
  leaseMs: number;
  /** Milliseconds between renewals. Default min(leaseMs / 3, 5,000). */
  renewMs?: number;
  /** Milliseconds within which a reservation is settled or expires (the AI call's longest life). */
  holdTtlMs: number;
  /** Least milliseconds between two early renewals of one budget. Default 1,000. */
  nudgeGapMs?: number;
  now?: () => number;
  onError?: (error: Error, key: string) => void;
}

/** Attempts of one compare-and-set before the renewal gives up until the next one. */
const CAS_ATTEMPTS = 6;
const enc = new TextEncoder();

export class FleetSlices {
  readonly #o: FleetSlicesOptions;
  readonly #now: () => number;
  readonly #budgets = new Map<string, SliceBudget>();
  readonly #busy = new Map<string, Promise<void>>();
  readonly #nudged = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  /** Compare-and-set conflicts met (another worker wrote first). */
  conflicts = 0;

  constructor(options: FleetSlicesOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get renewMs(): number {
    return this.#o.renewMs ?? Math.min(Math.floor(this.#o.leaseMs / 3), 5_000);
  }

  /** Shares `budget` with the fleet from now on (its first slice is asked for at once). */
  add(budget: SliceBudget): Promise<void> {
    this.#budgets.set(budget.key, budget);
    return this.renew(budget.key);
  }

  /** Renews every slice every `renewMs`. */
  start(): void {
    this.#timer ??= setInterval(() => void this.renew(), this.renewMs);
    this.#timer.unref();
  }

  /** Asks for an early renewal of `key` (its demand rose), at most once per `nudgeGapMs`. */
  nudge(key: string): void {
    const now = this.#now();
    if (now - (this.#nudged.get(key) ?? -Infinity) < (this.#o.nudgeGapMs ?? 1_000)) return;
    this.#nudged.set(key, now);
    void this.renew(key);
  }

  /** Renews `key`'s slice, or every slice; one pass at a time per budget. Never rejects. */
  async renew(key?: string): Promise<void> {
    const keys = key === undefined ? [...this.#budgets.keys()] : [key];
    await Promise.all(keys.map((k) => this.#once(k, (b) => this.#renewOne(b))));
  }

  /** Returns every slice (shutdown); idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await Promise.all([...this.#busy.values()]);
    await Promise.all([...this.#budgets.keys()].map((k) => this.#once(k, (b) => this.#write(b, (prev) => returnSlice(prev, this.#o.worker, b.ledger(), this.#now(), this.#o.holdTtlMs)).then(() => {}))));
  }

  #once(key: string, work: (b: SliceBudget) => Promise<void>): Promise<void> {
    const b = this.#budgets.get(key);
    if (!b) return Promise.resolve();
    const running = this.#busy.get(key);
    if (running) return running;
    const p = work(b).catch((e: Error) => this.#o.onError?.(e, key)).finally(() => this.#busy.delete(key));
    this.#busy.set(key, p);
    return p;
  }

  async #renewOne(b: SliceBudget): Promise<void> {
    if (this.#closed) return;
    let plan: ReturnType<typeof planSlice> | null = null;
    const written = await this.#write(b, (prev) => {
      plan = planSlice(prev, {
        worker: this.#o.worker, now: this.#now(), leaseMs: this.#o.leaseMs, window: b.window, unit: b.unit,
        configured: b.configured(), learned: b.learned(), want: b.want(), ledger: b.ledger(), holdTtlMs: this.#o.holdTtlMs,
      });
      return plan.entry;
    });
    const p = plan as ReturnType<typeof planSlice> | null;
    if (written && p) b.granted({ spendable: p.spendable, until: p.until, limit: p.limit, learned: p.learned, entry: p.entry });
  }

  /** Reads the entry, lets `next` decide, and writes it on the revision read; again on a conflict. True once written. */
  async #write(b: SliceBudget, next: (prev: SliceEntry | null) => SliceEntry): Promise<boolean> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const got = await this.#o.store.get(b.key);
      const live = got && got.operation !== 'DEL' && got.operation !== 'PURGE' && got.value.length > 0;
      const prev = live ? parseEntry(got.value) : null;
      const value = enc.encode(JSON.stringify(next(prev)));
      try {
        if (got) await this.#o.store.update(b.key, value, got.revision);
        else await this.#o.store.create(b.key, value);
        return true;
      } catch (e) {
        if (!isConflict(e)) throw e;
        this.conflicts++;
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 20 * (attempt + 1))));
      }
    }
    throw new Error(`the slices of ${b.key} changed under every one of ${CAS_ATTEMPTS} attempts`);
  }
}

/** True for a compare-and-set that lost (wrong last sequence, or the key exists already). */
function isConflict(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 10071 || code === 10164 || /wrong last sequence|key exists/i.test((e as Error)?.message ?? '');
}
