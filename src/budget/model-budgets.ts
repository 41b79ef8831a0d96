/**
 * Rate limits per provider and model on the AI call path, shared by the fleet: for each model a
 * call goes to, a ledger of tokens and one of requests over a sliding minute, spent within this
 * worker's slice of the fleet's limit (leased from the KV entries `model.<provider>.<model>.<unit>`
 * of AI_LIMITS_BUCKET by the fleet slices), and a count of calls in flight.
 *
 * The limit is the tighter of the configured one (AI_LIMITS) and the one learned from the
 * provider's headers (x-ratelimit-*, anthropic-ratelimit-*), shared through the entries; with
 * neither known, calls go unrestricted until the first answer tells one. Before each call its
 * tokens (prompt counted, plus max_tokens or the model's p95 output) and one request are reserved;
 * a call that does not fit waits (its job keeps its lease) for room, at most AI_LIMITS_MAX_WAIT_MS,
 * then fails with AI_LIMIT_WAIT (the job is handed back). After the call the tokens are settled
 * with the usage reported, and the requests with the attempts that reached the provider. A 429's
 * Retry-After, or a remaining count below a call's need, stops this worker's calls to the model
 * until the reset.
 */
import type { AiCall, AttemptInfo } from '../ai/call.ts';
import type { CallOutcome, Reservation, ReserveStep, SettleStep } from '../ai/steps.ts';
import { AltlasError } from '../errors.ts';
import type { FleetSlices, SliceBudget } from '../flow/fleet-slices.ts';
import { createLedger, expire, heldOf, reserve, settle, slidingWindow, usedAt, withCapacity, type Ledger } from '../flow/ledger.ts';
import { configuredLimits, limitKey, MINUTE_MS, type AiLimitsDoc, type LimitUnit } from '../flow/model-limits.ts';
import { readRateHeaders, saysAnything, type UnitInfo } from '../flow/rate-headers.ts';
import { effectiveLimit, type Learned, type SliceEntry } from '../flow/slices.ts';
import { OutputStats, promptTokens, reservationOf } from '../flow/token-count.ts';
import { Settles } from './job-budgets.ts';
import { mayHaveCost } from './steps.ts';

/** Milliseconds before a slice's lease ends from which it is not spent (clock skew between workers). */
const LEASE_MARGIN_MS = 1_000;

interface Meter {
  unit: LimitUnit;
  key: string;
  configured: number | null;
  learned: Learned | null;
  ledger: Ledger;
  slice: { spendable: number; until: number } | null;
  needSeen: number;
  waiting: number;
  usedAtGrant: number;
  /** The entry as last written (altlas limits reads the bucket; metrics read this). */
  entry: SliceEntry | null;
  /** An early renewal for when room comes back to the fleet. */
  timer: NodeJS.Timeout | null;
}

interface Account {
  provider: string;
  model: string;
  tokens: Meter;
  requests: Meter;
  concurrent: number | null;
  running: number;
  /** Epoch ms until which no call to the model is sent (Retry-After, a spent window). */
  blockedUntil: number;
  outputs: OutputStats;
  settles: Settles;
  waitingCalls: number;
  /** Live workers in the model's entry at the last grant (the concurrent calls are divided by it). */
  workers: number;
  /** The last reservation made (the pull gate's measure of a typical call). */
  lastNeed: number;
  rateLimited: number;
  waitedMs: number;
  /** Milliseconds a call to the model takes, averaged (reserve to settle); 0: none yet. */
  callMs: number;
  /** Calls this worker's jobs made to the model in the last minute, per tenth of it (the pull gate's mix). */
  recent: CallTally;
}

/** Calls in the last minute in six buckets of ten seconds: O(1) to count, O(6) to read. */
class CallTally {
  static readonly BUCKET_MS = MINUTE_MS / 6;
  readonly #buckets = [0, 0, 0, 0, 0, 0];
  #at = 0;

  #roll(now: number): void {
    const b = Math.floor(now / CallTally.BUCKET_MS);
    for (let i = this.#at + 1; i <= Math.min(b, this.#at + 6); i++) this.#buckets[i % 6] = 0;
    this.#at = Math.max(this.#at, b);
  }

  add(now: number): void {
    this.#roll(now);
    this.#buckets[this.#at % 6]++;
  }

  count(now: number): number {
    this.#roll(now);
    return this.#buckets.reduce((s, n) => s + n, 0);
  }
}

export interface ModelBudgetsOptions {
  /** AI_LIMITS, loaded; null: learned limits only. */
  doc: AiLimitsDoc | null;
  slices?: FleetSlices | null;
  /** Milliseconds within which a call is settled (an unsettled hold is charged in full after it). */
  holdTtlMs: number;
  /** AI_LIMITS_MAX_WAIT_MS: the longest a call waits for room before its job is handed back. */
  maxWaitMs: number;
  /** Output tokens a call without max_tokens is reserved at before its model's p95 is known. */
  defaultOutput: number;
  /** The model a job most likely calls (AI_PROVIDER, AI_MODEL): the pull gate asks it for room until the jobs have called any. */
  defaultModel?: { provider: string; model: string };
  now?: () => number;
  /** Room may have come back (a settle, a grant, a block ended): the worker asks for work again. */
  onRoom?: () => void;
}

/** One model's figures (metrics, the dashboard). */
export interface ModelFigures {
  provider: string;
  model: string;
  unit: LimitUnit;
  /** The fleet's limit per minute; null: none known. */
  limit: number | null;
  configured: number | null;
  learned: number | null;
  /** This worker's slice (Infinity: no limit known). */
  spendable: number;
  reserved: number;
  used: number;
  remaining: number;
  rateLimited: number;
  waitedMs: number;
  running: number;
  waiting: number;
}

/** The tighter of a meter's configured limit and the newest learned by the fleet; null: none known. */
const limitOf = (m: Meter): number | null => effectiveLimit(m.configured, m.learned?.value ?? null);

export class ModelBudgets implements ReserveStep, SettleStep {
  readonly #o: ModelBudgetsOptions;
  readonly #now: () => number;
  #slices: FleetSlices | null;
  readonly #accounts = new Map<string, Account>();
  readonly #held = new WeakMap<AiCall, { id: string; tokens: number; account: Account; at: number }>();
  #seq = 0;

  constructor(options: ModelBudgetsOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#slices = options.slices ?? null;
    if (options.defaultModel) this.#account(options.defaultModel.provider, options.defaultModel.model);
  }

  /** Shares the models' limits with the fleet from now on (before the first call). */
  attach(slices: FleetSlices): void {
    this.#slices = slices;
    for (const a of this.#accounts.values()) for (const m of [a.tokens, a.requests]) this.#share(a, m);
  }

  #account(provider: string, model: string): Account {
    const k = `${provider}\u0000${model}`;
    let a = this.#accounts.get(k);
    if (a) return a;
    const c = configuredLimits(this.#o.doc, provider, model);
    const meter = (unit: LimitUnit, configured: number | null): Meter => ({
      unit, key: limitKey(provider, model, unit), configured, learned: null, slice: null, needSeen: 0, waiting: 0, usedAtGrant: 0, entry: null, timer: null,
      ledger: createLedger({ unit, capacity: 0, window: slidingWindow(MINUTE_MS) }),
    });
    a = {
      provider, model, tokens: meter('tokens', c?.tpm ?? null), requests: meter('requests', c?.rpm ?? null), concurrent: c?.concurrent ?? null,
      running: 0, blockedUntil: 0, outputs: new OutputStats(), settles: new Settles(), waitingCalls: 0, workers: 1, lastNeed: 0, rateLimited: 0, waitedMs: 0, callMs: 0,
      recent: new CallTally(),
    };
    this.#accounts.set(k, a);
    if (this.#slices) for (const m of [a.tokens, a.requests]) this.#share(a, m);
    return a;
  }

  /** What a meter may spend now: its slice while the lease runs, else nothing once a limit is known; no limit known: no bound. */
  #capacity(m: Meter, now: number): number {
    const known = limitOf(m);
    if (!this.#slices) return known ?? Number.POSITIVE_INFINITY;
    if (!m.slice) return known === null ? Number.POSITIVE_INFINITY : 0;
    if (!Number.isFinite(m.slice.spendable)) return known ?? Number.POSITIVE_INFINITY;
    return now < m.slice.until - LEASE_MARGIN_MS ? m.slice.spendable : 0;
  }

  /** Calls in flight this worker may have to the model (the fleet's limit divided among its live workers, at least one). */
  #concurrency(a: Account): number {
    return a.concurrent === null ? Number.POSITIVE_INFINITY : Math.max(1, Math.floor(a.concurrent / Math.max(1, a.workers)));
  }

  /**
   * How many of `free` jobs a worker could start now: none while any call waits for room in a
   * model's limits; else, for each model this worker's jobs called in the last minute, weighted by
   * its share of those calls (the default model, AI_PROVIDER/AI_MODEL, before any call), the jobs
   * its room for calls like its last one (tokens, requests, calls in flight) can serve; the fewest
   * of them (all when no limit is known). O(models), nothing asked of NATS. The worker pulls no more,
   * so waiting jobs stay in NATS; the calls its jobs would make beyond a model's room are demand
   * that model's next renewal asks for.
   */
  room(free = 1): number {
    const now = this.#now();
    let total = 0;
    for (const a of this.#accounts.values()) {
      if (a.waitingCalls > 0) return 0;
      total += a.recent.count(now);
    }
    if (total === 0) {
      const d = this.#o.defaultModel;
      const a = d ? this.#accounts.get(`${d.provider}\u0000${d.model}`) : undefined;
      return a ? this.#callRoom(a, free, now) : free;
    }
    let n = free;
    for (const a of this.#accounts.values()) {
      const share = a.recent.count(now) / total;
      if (share === 0) continue;
      // The calls `free` jobs would make to this model, and how many jobs the room it has serves.
      const want = Math.ceil(free * share);
      const calls = this.#callRoom(a, want, now);
      if (calls < want) n = Math.min(n, Math.floor(calls / share));
    }
    return Math.max(0, n);
  }

  /**
   * Of `want` calls like the model's last one, how many its tokens, requests and calls in flight
   * have room for now; those beyond are demand, asked for at once at the rate its calls take (as
   * many calls a minute as one slot makes).
   */
  #callRoom(a: Account, want: number, now: number): number {
    if (a.blockedUntil > now) return 0;
    const tokens = this.#room(a.tokens, now);
    const requests = Math.floor(this.#room(a.requests, now));
    const calls = this.#concurrency(a) - a.running;
    // A call like the last one, never more than the whole limit (a larger call fails its task at once).
    const per = Math.min(a.lastNeed, limitOf(a.tokens) ?? Number.POSITIVE_INFINITY);
    const n = Math.max(0, Math.min(want, per > 0 ? Math.floor(tokens / per) : tokens > 0 ? want : 0, requests, calls));
    if (n < want && calls > n) {
      const perMinute = (Math.min(want, calls) - n) * Math.max(1, a.callMs > 0 ? MINUTE_MS / a.callMs : 1);
      a.tokens.needSeen = Math.max(a.tokens.needSeen, perMinute * (per || this.#o.defaultOutput));
      a.requests.needSeen = Math.max(a.requests.needSeen, perMinute);
      this.#slices?.nudge(a.tokens.key);
      this.#slices?.nudge(a.requests.key);
    }
    return n;
  }

  /** True while a job pulled now could start its AI calls ({@link room} > 0). */
  admits(): boolean {
    return this.room() > 0;
  }

  #room(m: Meter, now: number): number {
    const l = withCapacity(m.ledger, this.#capacity(m, now));
    return l.capacity - usedAt(l, now) - heldOf(l);
  }

  async reserve(call: AiCall, signal: AbortSignal): Promise<Reservation> {
    const a = this.#account(call.provider, call.model);
    const input = promptTokens(call.model, call.prompt.system, call.prompt.user);
    const need = reservationOf(input, call.maxTokens, a.outputs.quantile(0.95), call.maxTokens ?? this.#o.defaultOutput);
    const id = `m${++this.#seq}`;
    const started = this.#now();
    a.recent.add(started);
    // A call that can never be sent (larger than the model's whole limit) is no measure of the next
    // ones: the pull gate would otherwise find no room for any job again.
    const known = limitOf(a.tokens);
    if (known === null || need.tokens <= known) {
      a.lastNeed = need.tokens;
      a.tokens.needSeen = Math.max(a.tokens.needSeen, need.tokens);
    }
    a.requests.needSeen = Math.max(a.requests.needSeen, 1);
    let waited = false;
    try {
      for (;;) {
        const now = this.#now();
        const limit = limitOf(a.tokens);
        if (limit !== null && need.tokens > limit) {
          throw new AltlasError('AI_LIMIT_EXCEEDED', `a call to ${call.provider}/${call.model} reserves ${need.tokens} tokens (prompt ${input}, output ${need.output} from ${need.outputFrom}), more than the model's whole limit of ${limit} tokens per minute: it can never be sent`, {
            context: { altId: call.jobId ?? undefined, taskId: call.taskKey ?? undefined, provider: call.provider, model: call.model, need: need.tokens, limit },
          });
        }
        const wait = this.#tryReserve(a, id, need.tokens, now);
        if (wait === 0) {
          this.#held.set(call, { id, tokens: need.tokens, account: a, at: now });
          return { held: { tokens: need.tokens, requests: 1 } };
        }
        if (now - started >= this.#o.maxWaitMs) {
          throw new AltlasError('AI_LIMIT_WAIT', `a call to ${call.provider}/${call.model} waited ${now - started} ms for room in the model's rate limits (AI_LIMITS_MAX_WAIT_MS=${this.#o.maxWaitMs}): the job is handed back`, {
            context: { altId: call.jobId ?? undefined, taskId: call.taskKey ?? undefined, provider: call.provider, model: call.model, need: need.tokens },
          });
        }
        if (!waited) {
          waited = true;
          a.waitingCalls++;
          a.tokens.waiting += need.tokens;
          a.requests.waiting += 1;
        }
        // Its demand is in what the renewal asks for (a burst of waiting calls is one renewal).
        if (this.#slices) {
          this.#slices.nudge(a.tokens.key);
          this.#slices.nudge(a.requests.key);
        }
        await this.#pause(a, Math.min(wait, this.#o.maxWaitMs - (now - started)), signal);
      }
    } finally {
      if (waited) {
        a.waitingCalls--;
        a.tokens.waiting -= need.tokens;
        a.requests.waiting -= 1;
        a.waitedMs += this.#now() - started;
        this.#o.onRoom?.();
      }
    }
  }

  /** Holds `tokens` and one request, all or nothing; 0 when held, else milliseconds worth waiting (a settle or a grant may end it sooner). */
  #tryReserve(a: Account, id: string, tokens: number, now: number): number {
    if (a.blockedUntil > now) return a.blockedUntil - now;
    if (a.running >= this.#concurrency(a)) return Math.max(1, this.#o.maxWaitMs);
    const t = reserve(expire(withCapacity(a.tokens.ledger, this.#capacity(a.tokens, now)), now).ledger, { id, amount: tokens, now, ttlMs: this.#o.holdTtlMs });
    const r = reserve(expire(withCapacity(a.requests.ledger, this.#capacity(a.requests, now)), now).ledger, { id, amount: 1, now, ttlMs: this.#o.holdTtlMs });
    if (t.ok && r.ok) {
      a.tokens.ledger = t.ledger;
      a.requests.ledger = r.ledger;
      a.running++;
      return 0;
    }
    const waits = [t, r].flatMap((x) => (x.ok || x.waitMs === null || !Number.isFinite(x.waitMs) ? [] : [x.waitMs]));
    // Only a settle or a renewal can make room: look again at the next renewal at the latest.
    const renewal = this.#slices ? this.#slices.renewMs : 1_000;
    return Math.max(1, Math.min(renewal, ...waits));
  }

  /** Waits `ms`, or less when a call to the model settles or a grant comes. */
  #pause(a: Account, ms: number, signal: AbortSignal): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(1, ms)))),
      a.settles.next(signal),
    ]).finally(() => clearTimeout(timer));
  }

  settle(call: AiCall, _reservation: Reservation, outcome: CallOutcome): void {
    const h = this.#held.get(call);
    const a = h?.account ?? this.#accounts.get(`${call.provider}\u0000${call.model}`);
    if (!h || !a) return;
    this.#held.delete(call);
    const now = this.#now();
    const answer = outcome.ok ? outcome.answer : null;
    const u = answer?.usage;
    let tokens: number;
    if (u && u.input !== null && u.output !== null) {
      tokens = u.input + u.output;
      a.outputs.add(u.output);
    } else tokens = answer || mayHaveCost(call.attempts) ? h.tokens : 0;
    const requests = call.attempts.filter((x) => x.status !== null).length;
    a.tokens.ledger = settle(a.tokens.ledger, h.id, tokens, now).ledger;
    a.requests.ledger = settle(a.requests.ledger, h.id, requests, now).ledger;
    a.running--;
    a.callMs = a.callMs === 0 ? now - h.at : 0.9 * a.callMs + 0.1 * (now - h.at);
    a.settles.wake();
    this.#o.onRoom?.();
  }

  /** Learns from every attempt's headers: the limits, a spent window, a 429's Retry-After. */
  onAttempt(call: AiCall, info: AttemptInfo): void {
    const a = this.#account(call.provider, call.model);
    const now = this.#now();
    const r = readRateHeaders(info.headers, now);
    if (info.status === 429) {
      a.rateLimited++;
      const ms = r.retryAfterMs ?? Math.max(r.tokens.resetMs ?? 0, r.requests.resetMs ?? 0, 1_000);
      this.#block(a, now + ms);
    }
    if (!saysAnything(r)) return;
    this.#learn(a, a.tokens, r.tokens, now, Math.max(1, a.lastNeed));
    this.#learn(a, a.requests, r.requests, now, 1);
  }

  #learn(a: Account, m: Meter, u: UnitInfo, now: number, need: number): void {
    if (u.limit !== undefined) {
      const changed = m.learned?.value !== u.limit;
      m.learned = { value: u.limit, at: now };
      if (changed && this.#slices) void this.#slices.renew(m.key);
    }
    // The provider counts less room than a call needs (other clients of the key, a fleet start): none until its reset.
    if (u.remaining !== undefined && u.remaining < need && u.resetMs !== undefined) this.#block(a, now + u.resetMs);
  }

  #block(a: Account, until: number): void {
    if (until <= a.blockedUntil) return;
    a.blockedUntil = until;
    setTimeout(() => {
      a.settles.wake();
      this.#o.onRoom?.();
    }, Math.max(1, until - this.#now())).unref();
  }

  /** Each model's figures in each unit. */
  figures(): ModelFigures[] {
    const now = this.#now();
    return [...this.#accounts.values()].flatMap((a) => [a.tokens, a.requests].map((m) => {
      const spendable = this.#capacity(m, now);
      const used = usedAt(m.ledger, now);
      const reserved = heldOf(m.ledger);
      return {
        provider: a.provider, model: a.model, unit: m.unit, limit: limitOf(m), configured: m.configured,
        learned: m.entry?.learned ?? m.learned?.value ?? null, spendable, reserved, used, remaining: spendable - used - reserved,
        rateLimited: a.rateLimited, waitedMs: a.waitedMs, running: a.running, waiting: a.waitingCalls,
      };
    }));
  }

  /** Shares a meter of `a` with the fleet. */
  #share(a: Account, m: Meter): void {
    const slices = this.#slices;
    if (!slices) return;
    const budget: SliceBudget = {
      key: m.key, unit: m.unit, window: m.ledger.window,
      configured: () => m.configured,
      learned: () => m.learned,
      // What it spent this window, holds and is asked for by waiting calls, and room ahead for twice
      // its recent demand: a slice much larger would be withheld from the others should this worker die.
      want: () => {
        const now = this.#now();
        const used = usedAt(m.ledger, now);
        const ahead = 2 * Math.max(m.needSeen, used - m.usedAtGrant);
        return used + heldOf(m.ledger) + m.waiting + ahead;
      },
      ledger: () => m.ledger,
      granted: (g) => {
        m.slice = { spendable: g.spendable, until: g.until };
        m.entry = g.entry;
        if (g.learned && (!m.learned || g.learned.at > m.learned.at)) m.learned = g.learned;
        m.needSeen = 0;
        m.usedAtGrant = usedAt(m.ledger, this.#now());
        const now = this.#now();
        a.workers = Math.max(1, Object.values(g.entry.slices).filter((s) => s.until > now).length);
        // Renewed again as soon as room comes back to the fleet (a tail frees, another slice's lease ends), not a renewal later.
        const next = Math.min(...g.entry.tails.map((t) => t.free_at).filter((t) => t > now), ...Object.values(g.entry.slices).map((s) => s.until).filter((t) => t > now && t < g.until));
        if (m.timer) clearTimeout(m.timer);
        m.timer = Number.isFinite(next) && next - now < slices.renewMs ? setTimeout(() => void slices.renew(m.key), next - now + 20) : null;
        m.timer?.unref();
        a.settles.wake();
        this.#o.onRoom?.();
      },
    };
    void slices.add(budget);
  }
}
