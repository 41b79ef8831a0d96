/**
 * Usage records added up over a window, in all and per group (tenant, model, UTC day): what
 * `altlas usage` prints. Pure. Tokens and cost are those of the answered calls; a failed call
 * reports no usage and is counted in `calls_failed`. A total is null when one answered call's
 * count is unknown, and the cost is null when one answered call's cost is (an unpriced model) or
 * the window mixes currencies.
 */
import { NO_TENANT, type UsageRecord } from './record.ts';
import { addCall, emptyTotals, type UsageTotals } from './totals.ts';
import { toNanos } from './prices.ts';

export const GROUPINGS = ['tenant', 'model', 'day'] as const;
export type Grouping = (typeof GROUPINGS)[number];

export interface WindowTotals extends UsageTotals {
  /** Distinct jobs whose calls are in the window. */
  jobs: number;
  /** Calls that reached the provider and got no answer (usage unknown, not in the totals). */
  calls_failed: number;
}

export interface UsageSummary extends WindowTotals {
  since: string;
  until: string;
  by: Grouping | null;
  groups: Record<string, WindowTotals>;
}

/** The running totals of one group. */
class Group {
  readonly totals: UsageTotals = emptyTotals(null);
  readonly jobs = new Set<string>();
  failed = 0;
  #currency: string | null | undefined = undefined;

  add(r: UsageRecord): void {
    if (r.job) this.jobs.add(r.job);
    if (r.outcome !== 'ok') {
      this.failed++;
      return;
    }
    addCall(this.totals, { model: r.model, usage: r.tokens, costNanos: r.cost === null ? null : toNanos(r.cost) });
    if (r.cost === null) return;
    // One currency per window: a price table changed to another currency makes the sum meaningless.
    if (this.#currency === undefined) this.#currency = r.currency;
    else if (this.#currency !== r.currency) this.#currency = null;
  }

  result(): WindowTotals {
    const mixed = this.#currency === null;
    return {
      tokens: { ...this.totals.tokens }, cost: mixed ? null : this.totals.cost, currency: this.#currency ?? null,
      calls: this.totals.calls, jobs: this.jobs.size, calls_failed: this.failed,
    };
  }
}

const keyOf = (r: UsageRecord, by: Grouping): string => (by === 'tenant' ? r.tenant ?? NO_TENANT : by === 'model' ? r.model : r.at.slice(0, 10));

/** Adds records of `[since, until)` up. */
export class UsageWindow {
  readonly #since: Date;
  readonly #until: Date;
  readonly #by: Grouping | null;
  readonly #all = new Group();
  readonly #groups = new Map<string, Group>();

  constructor(since: Date, until: Date, by: Grouping | null) {
    this.#since = since;
    this.#until = until;
    this.#by = by;
  }

  /** Adds a record when it falls in the window; returns whether it did. */
  add(r: UsageRecord): boolean {
    const at = Date.parse(r.at);
    if (!(at >= this.#since.getTime() && at < this.#until.getTime())) return false;
    this.#all.add(r);
    if (this.#by) {
      const key = keyOf(r, this.#by);
      let g = this.#groups.get(key);
      if (!g) this.#groups.set(key, (g = new Group()));
      g.add(r);
    }
    return true;
  }

  summary(): UsageSummary {
    const groups: Record<string, WindowTotals> = {};
    for (const key of [...this.#groups.keys()].sort()) groups[key] = this.#groups.get(key)!.result();
    return { ...this.#all.result(), since: this.#since.toISOString(), until: this.#until.toISOString(), by: this.#by, groups };
  }
}
