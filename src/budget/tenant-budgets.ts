/**
 * Tenant budgets per period (hour, day, month; UTC), shared by the fleet: for each tenant, period
 * and unit with a limit, a ledger whose charges count until the period ends, spent within this
 * worker's slice of the period, leased from a KV entry (`budget.<tenant>.<period>.<unit>` in
 * BUDGET_BUCKET) by the fleet slices. The entry never lets the slices and the spending of dead or
 * departed workers add up to more than the limit, so the fleet's spend in a period stays within
 * it. Without a fleet (no bucket), this worker holds each whole limit.
 */
import { Type, type Static } from '@sinclair/typebox';
import { readConfigFile } from '../config/file.ts';
import { createLedger, expire, fixedWindow, heldOf, usedAt, withCapacity, type Ledger, type Window } from '../flow/ledger.ts';
import type { FleetSlices, SliceBudget } from '../flow/fleet-slices.ts';
import { NO_TENANT } from '../flow/lanes.ts';
import { toNanos } from '../usage/prices.ts';
import { reservePair, settlePair, type Amounts, type BudgetUnit, type Refusal } from './job-budgets.ts';

export const PERIODS = ['hour', 'day', 'month'] as const;
export type Period = (typeof PERIODS)[number];

const PeriodLimitsSchema = Type.Object({
  tokens: Type.Optional(Type.Integer({ minimum: 0, description: 'Input and output tokens per period.' })),
  cost: Type.Optional(Type.Number({ minimum: 0, description: 'Money per period, in the currency of AI_PRICES.' })),
}, { additionalProperties: false });

const TenantLimitsSchema = Type.Object({
  hour: Type.Optional(PeriodLimitsSchema),
  day: Type.Optional(PeriodLimitsSchema),
  month: Type.Optional(PeriodLimitsSchema),
}, { additionalProperties: false });

export const TenantBudgetsSchema = Type.Object({
  default: Type.Optional(TenantLimitsSchema),
  tenants: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]+$' }), TenantLimitsSchema, { additionalProperties: false, description: 'By tenant, as its subject token (letters, digits, - and _).' })),
}, { additionalProperties: false, title: 'BUDGET_TENANTS' });

export type TenantBudgetsDoc = Static<typeof TenantBudgetsSchema>;
type TenantLimits = Static<typeof TenantLimitsSchema>;

/** Reads and checks the file BUDGET_TENANTS names (at start). Throws CONFIG_INVALID. */
export function loadTenantBudgets(path: string): TenantBudgetsDoc {
  return readConfigFile<TenantBudgetsDoc>(path, TenantBudgetsSchema, 'BUDGET_TENANTS');
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

/** A tenant's refusal: which budget, and when its period ends. */
export interface TenantRefusal extends Refusal {
  tenant: string;
  period: Period;
  /** Epoch ms when the period turns and the budget is whole again. */
  turnsAt: number;
}

/** Milliseconds before a slice's lease ends from which it is not spent (clock skew between workers). */
const LEASE_MARGIN_MS = 1_000;

export interface TenantBudgetsOptions {
  doc: TenantBudgetsDoc;
  /** The fleet's slices of the periods (a KV bucket shared by the workers); none: this worker alone. */
  slices?: FleetSlices | null;
  /** Milliseconds within which a call is settled (an unsettled hold is charged in full after it). */
  holdTtlMs: number;
  now?: () => number;
}

export class TenantBudgets {
  readonly #o: TenantBudgetsOptions;
  #slices: FleetSlices | null;
  readonly #now: () => number;
  /** By tenant: its accounts (empty when it has no limit). */
  readonly #tenants = new Map<string, Account[]>();
  /** Tenants refused after a renewal, until their period turns. */
  readonly #exhausted = new Map<string, number>();

  constructor(options: TenantBudgetsOptions) {
    this.#o = options;
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
   * in NATS), or null. Cleared when the period turns.
   */
  exhaustedUntil(tenant: string | null): number | null {
    const t = tenant ?? NO_TENANT;
    const until = this.#exhausted.get(t);
    if (until === undefined) return null;
    if (until <= this.#now()) {
      this.#exhausted.delete(t);
      return null;
    }
    return until;
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
        const window = PERIOD_WINDOWS[period];
        list.push({
          key: `budget.${tenant}.${period}.${unit}`, period, unit, limit, slice: null, needSeen: 0, waiting: 0, usedAtGrant: 0,
          // A fixed period: every charge drops at its end exactly (no rounding up).
          ledger: createLedger({ unit: unit === 'cost' ? 'nanos' : 'tokens', capacity: 0, window, bucketMs: 1 }),
        });
      }
    }
    this.#tenants.set(tenant, list);
    for (const a of list) this.#share(a);
    return list;
  }

  /** What an account may spend now: its slice while the lease runs (0 after), or the whole limit without a fleet. */
  #capacity(a: Account, now: number): number {
    if (!this.#slices) return a.limit;
    if (!a.slice) return 0;
    return now < a.slice.until - LEASE_MARGIN_MS ? Math.min(a.slice.spendable, a.limit) : 0;
  }

  /**
   * Holds `need` in every budget of the tenant, all or nothing. When a slice is too small, asks
   * the fleet for a fair share once and tries again; a refusal after that means the tenant's
   * period is spent as far as this worker can tell (it is marked exhausted until the period turns).
   */
  async reserve(tenant: string | null, id: string, need: Amounts): Promise<TenantRefusal | null> {
    const t = tenant ?? NO_TENANT;
    const accounts = this.#accounts(t);
    if (accounts.length === 0) return null;
    const amount = (a: Account) => (a.unit === 'tokens' ? need.tokens : need.costNanos) ?? 0;
    for (const a of accounts) a.needSeen = Math.max(a.needSeen, amount(a));
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
    if (refused) this.#exhausted.set(t, Math.max(this.#exhausted.get(t) ?? 0, refused.turnsAt));
    return refused;
  }

  #tryReserve(tenant: string, accounts: Account[], id: string, need: Amounts): TenantRefusal | null {
    const now = this.#now();
    const taken: [Account, Ledger][] = [];
    for (const a of accounts) {
      const pair = { tokens: null as Ledger | null, cost: null as Ledger | null };
      pair[a.unit] = expire(withCapacity(a.ledger, this.#capacity(a, now)), now).ledger;
      const r = reservePair(pair, id, a.unit === 'tokens' ? { tokens: need.tokens, costNanos: null } : { tokens: 0, costNanos: need.costNanos }, now, this.#o.holdTtlMs);
      if (r) {
        // The refusal shows the tenant's whole limit, not this worker's slice of it.
        const turnsAt = a.ledger.window.dropsAt(now);
        return { ...r, limit: a.limit, tenant, period: a.period, turnsAt };
      }
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
  }

  /** Each tenant budget this worker knows: limit, this worker's slice, spent and held here (metrics, the dashboard). */
  figures(): { tenant: string; period: Period; unit: BudgetUnit; limit: number; spendable: number; used: number; held: number }[] {
    const now = this.#now();
    return [...this.#tenants].flatMap(([tenant, list]) => list.map((a) => ({
      tenant, period: a.period, unit: a.unit, limit: a.limit, spendable: this.#capacity(a, now), used: usedAt(a.ledger, now), held: heldOf(a.ledger),
    })));
  }

  /** Shares an account with the fleet. */
  #share(a: Account): void {
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
      },
    };
    void slices.add(budget);
  }
}
