/**
 * Tenant budgets per period (hour, day, month; UTC), shared by the fleet: for each tenant, period
 * and unit with a limit, a ledger whose charges count until the period ends, spent within this
 * worker's slice of the period, leased from a KV entry (`budget.<tenant>.<period>.<unit>` in
 * BUDGET_BUCKET) by the fleet slices. The entry never lets the slices and the spending of dead or
 * departed workers add up to more than the limit, so the fleet's spend in a period stays within
 * it. Without a fleet (no bucket), this worker holds each whole limit.
 */
import type { Static } from '@sinclair/typebox';
import { schemaFile } from '../alt/schema-check.ts';
import { readConfigFile } from '../config/file.ts';
import { createLedger, expire, fixedWindow, heldOf, usedAt, withCapacity, type Ledger, type Window } from '../flow/ledger.ts';
import type { FleetSlices, SliceBudget } from '../flow/fleet-slices.ts';
import { NO_TENANT } from '../flow/lanes.ts';
import { toNanos } from '../usage/prices.ts';
import { Settles, final, reservePair, settlePair, type Amounts, type BudgetUnit, type Refusal } from './job-budgets.ts';
import type { TenantBudgetsSchema, TenantLimitsSchema } from '../config/tenant-budgets-schema.ts';

export const PERIODS = ['hour', 'day', 'month'] as const;
export type Period = (typeof PERIODS)[number];

export type TenantBudgetsDoc = Static<typeof TenantBudgetsSchema>;
type TenantLimits = Static<typeof TenantLimitsSchema>;

/** The tenants' budgets file's schema, as generated into `schemas/` from src/config/tenant-budgets-schema.ts. */
const TENANT_BUDGETS_SCHEMA = schemaFile('tenant-budgets.schema.json');

/** Reads and checks the file BUDGET_TENANTS names (at start). Throws CONFIG_INVALID. */
export function loadTenantBudgets(path: string): TenantBudgetsDoc {
  return readConfigFile<TenantBudgetsDoc>(path, TENANT_BUDGETS_SCHEMA, 'BUDGET_TENANTS');
}

/** The limits of one tenant: its own, else the default. */
export function limitsOf(doc: TenantBudgetsDoc, tenant: string): TenantLimits | null {
  return (Object.hasOwn(doc.tenants ?? {}, tenant) ? doc.tenants![tenant] : doc.default) ?? null;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

/** UTC calendar months: a charge counts until the first instant of the next month. */
export const MONTH: Window = Object.freeze({
  ms: 31 * DAY,
  dropsAt: (at: number) => {
    const d = new Date(at);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  },
});

export const PERIOD_WINDOWS: Record<Period, Window> = { hour: fixedWindow(HOUR), day: fixedWindow(DAY), month: MONTH };

/** One tenant's limit in one period and unit, and this worker's part of it. */
interface Account {
  key: string;
  period: Period;
  unit: BudgetUnit;
  limit: number;
  ledger: Ledger;
  /** From this worker's slice; null without a fleet (the whole limit is this worker's). */
  slice: { spendable: number; until: number } | null;
  /** The largest worst case asked for since the last grant. */
  needSeen: number;
  /** The worst cases of the calls waiting for a renewal of this slice. */
  waiting: number;
  /** What this worker had spent in the period at the last grant. */
  usedAtGrant: number;
}

/** A tenant's refusal: which budget, and when its period ends. `spent` and `held` are this worker's, within its slice. */
export interface TenantRefusal extends Refusal {
  tenant: string;
  period: Period;
  /** What this worker may spend of the limit in the period now: its slice (the whole limit without a fleet). */
  capacity: number;
  /** Epoch ms when the period turns and the budget is whole again. */
  turnsAt: number;
}

/** Milliseconds a worker remembers a tenant it found spent (its jobs are handed back at once meanwhile). */
const EXHAUSTED_MS = 30_000;

/** Milliseconds before a slice's lease ends from which it is not spent (clock skew between workers). */
const LEASE_MARGIN_MS = 1_000;

export interface TenantBudgetsOptions {
  doc: TenantBudgetsDoc;
  /** The fleet's slices of the periods (a KV bucket shared by the workers); none: this worker alone. */
  slices?: FleetSlices | null;
  /** Milliseconds within which a call is settled (an unsettled hold is charged in full after it). */
  holdTtlMs: number;
  /** Milliseconds of the `hour` period (BUDGET_HOUR_MS; shorter in tests); default an hour. */
  hourMs?: number;
  now?: () => number;
}

export class TenantBudgets {
  readonly #o: TenantBudgetsOptions;
  #slices: FleetSlices | null;
  readonly #now: () => number;
  /** By tenant: its accounts (empty when it has no limit). */
  readonly #tenants = new Map<string, Account[]>();
  /** Tenants found spent: when to look again, and when their period turns. */
  readonly #exhausted = new Map<string, { recheckAt: number; turnsAt: number }>();
  /** Calls of a tenant waiting for a settle or a grant. */
  readonly #settles = new Map<string, Settles>();
  readonly #windows: Record<Period, Window>;

  constructor(options: TenantBudgetsOptions) {
    this.#o = options;
    this.#windows = options.hourMs && options.hourMs !== HOUR ? { ...PERIOD_WINDOWS, hour: fixedWindow(options.hourMs) } : PERIOD_WINDOWS;
    this.#now = options.now ?? Date.now;
    this.#slices = options.slices ?? null;
  }

  /** Shares the tenants' budgets with the fleet from now on (before the first call). */
  attach(slices: FleetSlices): void {
    this.#slices = slices;
  }

  /** True when `tenant` (a token; none is `_`) has a limit. */
  applies(tenant: string | null): boolean {
    return this.#accounts(tenant ?? NO_TENANT).length > 0;
  }

  /**
   * Epoch ms until which `tenant` is known to be over a period's budget (its jobs are better left
   * in NATS), or null: set when a call was refused, for 30 s at most (within the period).
   */
  exhaustedUntil(tenant: string | null): number | null {
    const t = tenant ?? NO_TENANT;
    const e = this.#exhausted.get(t);
    if (e === undefined) return null;
    if (Math.min(e.recheckAt, e.turnsAt) <= this.#now()) {
      this.#exhausted.delete(t);
      return null;
    }
    return e.turnsAt;
  }

  #accounts(tenant: string): Account[] {
    let list = this.#tenants.get(tenant);
    if (list) return list;
    list = [];
    const limits = limitsOf(this.#o.doc, tenant);
    for (const period of PERIODS) {
      const p = limits?.[period];
      if (!p) continue;
      for (const [unit, limit] of [['tokens', p.tokens], ['cost', p.cost === undefined ? undefined : toNanos(p.cost)]] as const) {
        if (limit === undefined) continue;
        const window = this.#windows[period];
        list.push({
          key: `budget.${tenant}.${period}.${unit}`, period, unit, limit, slice: null, needSeen: 0, waiting: 0, usedAtGrant: 0,
          // A fixed period: every charge drops at its end exactly (no rounding up).
          ledger: createLedger({ unit: unit === 'cost' ? 'nanos' : 'tokens', capacity: 0, window, bucketMs: 1 }),
        });
      }
    }
    this.#tenants.set(tenant, list);
    for (const a of list) this.#share(tenant, a);
    return list;
  }

  /** What an account may spend now: its slice while the lease runs (0 after), or the whole limit without a fleet. */
  #capacity(a: Account, now: number): number {
    if (!this.#slices) return a.limit;
    if (!a.slice) return 0;
    return now < a.slice.until - LEASE_MARGIN_MS ? Math.min(a.slice.spendable, a.limit) : 0;
  }

  /**
   * Holds `need` in every budget of the tenant, all or nothing. When this worker's slice is too
   * small, it renews it at once with the call's demand; when only this worker's calls in flight
   * stand in the way, the call waits for them to settle; when the slice is spent, it waits two
   * renewals for the room the other workers do not use. A refusal after that means the tenant's
   * period is spent as far as this worker can tell (remembered for 30 s, see exhaustedUntil).
   */
  async reserve(tenant: string | null, id: string, need: Amounts, signal?: AbortSignal): Promise<TenantRefusal | null> {
    const t = tenant ?? NO_TENANT;
    const accounts = this.#accounts(t);
    if (accounts.length === 0) return null;
    const amount = (a: Account) => (a.unit === 'tokens' ? need.tokens : need.costNanos) ?? 0;
    for (const a of accounts) a.needSeen = Math.max(a.needSeen, amount(a));
    let starveUntil = 0;
    for (;;) {
      let refused = this.#tryReserve(t, accounts, id, need);
      if (refused && this.#slices) {
        // Waiting calls add up in the demand the renewal asks for (a burst of calls is one renewal).
        for (const a of accounts) a.waiting += amount(a);
        try {
          // Twice at most: a renewal already running when the call was refused may have asked for less.
          for (let i = 0; refused && i < 2; i++) {
            await this.#slices.renew(accounts.find((a) => a.period === refused!.period && a.unit === refused!.unit)!.key);
            refused = this.#tryReserve(t, accounts, id, need);
          }
        } finally {
          for (const a of accounts) a.waiting -= amount(a);
        }
      }
      if (!refused) return null;
      if (!final(refused, refused.capacity)) {
        // Only this worker's calls in flight stand in the way: wait for one to settle.
        await this.#settlesOf(t).next(signal);
        continue;
      }
      // This worker's slice is spent. The others may hold room they do not use, which they give
      // back at their next renewals (their wants follow their use; this worker's its demand), so
      // the call waits two renewals for it, unless this worker found the tenant spent lately.
      const now = this.#now();
      const worthWaiting = refused.need !== null && refused.need <= refused.limit && this.exhaustedUntil(t) === null;
      if (this.#slices && starveUntil === 0 && worthWaiting) starveUntil = now + 2 * this.#slices.renewMs + 1_000;
      if (now < starveUntil) {
        // Its demand stays in what the renewals ask for while it waits.
        for (const a of accounts) a.waiting += amount(a);
        try {
          await this.#pause(t, Math.min(this.#slices!.renewMs / 2, starveUntil - now), signal);
          await this.#slices!.renew(accounts.find((x) => x.period === refused!.period && x.unit === refused!.unit)!.key);
        } finally {
          for (const a of accounts) a.waiting -= amount(a);
        }
        continue;
      }
      // Remembered a while (not to the period's end: the others' slices may shrink meanwhile).
      this.#exhausted.set(t, { recheckAt: now + EXHAUSTED_MS, turnsAt: refused.turnsAt });
      return refused;
    }
  }

  /** Waits `ms`, or less when a call of `tenant` settles or a grant comes. */
  #pause(tenant: string, ms: number, signal?: AbortSignal): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
      this.#settlesOf(tenant).next(signal),
    ]).finally(() => clearTimeout(timer));
  }

  #settlesOf(tenant: string): Settles {
    let s = this.#settles.get(tenant);
    if (!s) this.#settles.set(tenant, (s = new Settles()));
    return s;
  }

  #tryReserve(tenant: string, accounts: Account[], id: string, need: Amounts): TenantRefusal | null {
    const now = this.#now();
    const taken: [Account, Ledger][] = [];
    for (const a of accounts) {
      const pair = { tokens: null as Ledger | null, cost: null as Ledger | null };
      pair[a.unit] = expire(withCapacity(a.ledger, this.#capacity(a, now)), now).ledger;
      const capacity = pair[a.unit]!.capacity;
      const r = reservePair(pair, id, a.unit === 'tokens' ? { tokens: need.tokens, costNanos: null } : { tokens: 0, costNanos: need.costNanos }, now, this.#o.holdTtlMs);
      if (r) return { ...r, limit: a.limit, capacity, tenant, period: a.period, turnsAt: a.ledger.window.dropsAt(now) };
      taken.push([a, pair[a.unit]!]);
    }
    for (const [a, l] of taken) a.ledger = l;
    return null;
  }

  /** Settles hold `id` with what the call spent (an unknown cost: its hold). */
  settle(tenant: string | null, id: string, spent: Amounts): void {
    const now = this.#now();
    for (const a of this.#tenants.get(tenant ?? NO_TENANT) ?? []) {
      const pair = { tokens: null as Ledger | null, cost: null as Ledger | null };
      pair[a.unit] = a.ledger;
      settlePair(pair, id, spent, now);
      a.ledger = pair[a.unit]!;
    }
    this.#settles.get(tenant ?? NO_TENANT)?.wake();
  }

  /** Each tenant budget this worker knows: limit, this worker's slice, spent and held here (metrics, the dashboard). */
  figures(): { tenant: string; period: Period; unit: BudgetUnit; limit: number; spendable: number; used: number; held: number }[] {
    const now = this.#now();
    return [...this.#tenants].flatMap(([tenant, list]) => list.map((a) => ({
      tenant, period: a.period, unit: a.unit, limit: a.limit, spendable: this.#capacity(a, now), used: usedAt(a.ledger, now), held: heldOf(a.ledger),
    })));
  }

  /** Shares an account of `tenant` with the fleet. */
  #share(tenant: string, a: Account): void {
    const slices = this.#slices;
    if (!slices) return;
    const budget: SliceBudget = {
      key: a.key, unit: a.ledger.unit, window: a.ledger.window,
      configured: () => a.limit,
      learned: () => null,
      // What it spent this period, holds and is asked for by waiting calls, and room ahead for
      // twice its recent demand: the larger of the largest call asked for and what it spent since
      // the last grant. A slice much larger would be lost for the rest of the period should this
      // worker die.
      want: () => {
        const used = usedAt(a.ledger, this.#now());
        const ahead = 2 * Math.max(a.needSeen, used - a.usedAtGrant);
        return Math.min(a.limit, used + heldOf(a.ledger) + a.waiting + ahead);
      },
      ledger: () => a.ledger,
      granted: (g) => {
        a.slice = { spendable: g.spendable, until: g.until };
        a.needSeen = 0;
        a.usedAtGrant = usedAt(a.ledger, this.#now());
        this.#settles.get(tenant)?.wake();
      },
    };
    void slices.add(budget);
  }
}
