/**
 * Leases of the messages this worker holds. One timer renews them all every third of the ack
 * wait while the connection is up; a renewal (`+WPI`) counts only once the server confirmed it,
 * and from the moment it was sent. A lease not renewed for most of the ack wait (LEASE_LOST_RATIO:
 * the worker was disconnected, the server was down, or the process stalled) is lost: JetStream
 * may have handed the message to another worker, so the run holding it must stop before its next
 * AI call and send nothing on the message. The check is synchronous against the clock (see
 * {@link Leases.valid}), so it holds right after a stall, before any timer has fired. A
 * redelivery of a message held here is adopted: the lease continues on the newest delivery.
 *
 * A lease is one state machine:
 *
 *   held ──(unrenewed ≥ lostAfterMs)──▶ lost
 *   held ──(run ended)──▶ released      lost ──(run ended)──▶ released
 */
import type { LeaseTiming } from './lease-timing.ts';

export { LEASE_LOST_RATIO } from './lease-timing.ts';

/** What a lease needs of a delivery. */
export interface LeasedDelivery {
  seq: number;
  deliveries: number;
  /** Epoch ms when this process read it. */
  readonly receivedAt: number;
  /** Extends the server's lease; resolves true once the server confirmed it. */
  renew(timeoutMs: number): Promise<boolean>;
}

/** A lease's state: held (renewed at, suspect), lost (when), released (after being lost or not). */
export type LeaseState =
  | { readonly phase: 'held'; readonly renewedAt: number; readonly suspect: boolean }
  | { readonly phase: 'lost'; readonly renewedAt: number; readonly lostAt: number }
  | { readonly phase: 'released'; readonly renewedAt: number; readonly wasLost: boolean };

/** The lease of one held message, on its newest delivery. */
export class Lease<D extends LeasedDelivery = LeasedDelivery> {
  #delivery: D;
  #state: LeaseState;
  readonly #onLost: (lease: Lease<D>) => void;

  /**
   * `startedAt`: when the server's lease began, on this process's clock, at the earliest it can
   * have (when it was read; for a delivery that may have waited through a stall, earlier).
   */
  constructor(delivery: D, onLost: (lease: Lease<D>) => void, startedAt = delivery.receivedAt, suspect = false) {
    this.#delivery = delivery;
    this.#state = { phase: 'held', renewedAt: startedAt, suspect };
    this.#onLost = onLost;
  }

  get state(): LeaseState {
    return this.#state;
  }

  /** The newest delivery of the message (verbs go to it). */
  get delivery(): D {
    return this.#delivery;
  }

  /** When the server last surely renewed the lease (the send time of the last confirmed renewal). */
  get renewedAt(): number {
    return this.#state.renewedAt;
  }

  /** True once the lease went unrenewed for half the ack wait, or the delivery may have waited through a stall: the run checks its claim before publishing. */
  get suspect(): boolean {
    return this.#state.phase === 'held' ? this.#state.suspect : true;
  }

  get lost(): boolean {
    return this.#state.phase === 'lost' || (this.#state.phase === 'released' && this.#state.wasLost);
  }

  get held(): boolean {
    return this.#state.phase === 'held';
  }

  /** Milliseconds since the last confirmed renewal. */
  age(now: number): number {
    return now - this.#state.renewedAt;
  }

  markSuspect(): void {
    if (this.#state.phase === 'held' && !this.#state.suspect) this.#state = { ...this.#state, suspect: true };
  }

  /** The server confirmed a renewal sent at `sentAt`. */
  confirmed(sentAt: number): void {
    // Stryker disable next-line EqualityOperator: a renewal confirmed as sent at the time already held sets that same time.
    if (this.#state.phase === 'held' && sentAt > this.#state.renewedAt) this.#state = { ...this.#state, renewedAt: sentAt };
  }

  /** A redelivery of the same message arrived here: continue on it (its lease is fresh). False when the lease is lost already. */
  adopt(d: D, now: number): boolean {
    if (this.#state.phase !== 'held') return false;
    this.#delivery = d;
    this.#state = { phase: 'held', renewedAt: Math.max(now, this.#state.renewedAt), suspect: true };
    return true;
  }

  markLost(now: number): void {
    if (this.#state.phase !== 'held') return;
    this.#state = { phase: 'lost', renewedAt: this.#state.renewedAt, lostAt: now };
    this.#onLost(this);
  }

  release(): void {
    if (this.#state.phase === 'released') return;
    this.#state = { phase: 'released', renewedAt: this.#state.renewedAt, wasLost: this.#state.phase === 'lost' };
  }
}

export interface LeasesOptions {
  timing: LeaseTiming;
  /** True while the connection to NATS is up. */
  connected: () => boolean;
  now?: () => number;
}

/** Every lease this worker holds, renewed by one timer and judged against the clock. */
export class Leases<D extends LeasedDelivery = LeasedDelivery> {
  readonly #o: LeasesOptions;
  readonly #now: () => number;
  readonly #held = new Set<Lease<D>>();
  #timer: NodeJS.Timeout | null = null;
  #lastTick = 0;

  constructor(options: LeasesOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get timing(): LeaseTiming {
    return this.#o.timing;
  }

  get size(): number {
    return this.#held.size;
  }

  /** Milliseconds between renewals: a third of the ack wait (at least 250). */
  get intervalMs(): number {
    return this.#o.timing.renewEveryMs;
  }

  start(): void {
    this.#lastTick = this.#now();
    this.#timer = setInterval(() => this.tick(), this.intervalMs);
  }

  stop(): void {
    // Stryker disable next-line ConditionalExpression: clearInterval(null) does nothing.
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  hold(delivery: D, onLost: (lease: Lease<D>) => void, startedAt?: number, suspect = false): Lease<D> {
    const lease = new Lease(delivery, onLost, startedAt, suspect);
    this.#held.add(lease);
    return lease;
  }

  release(lease: Lease<D>): void {
    lease.release();
    this.#held.delete(lease);
  }

  /**
   * False once the lease is lost or has gone unrenewed too long: synchronous, against the clock
   * (checked immediately before every AI request and before anything is sent on the message).
   */
  valid(lease: Lease<D>): boolean {
    if (!lease.held) return false;
    const now = this.#now();
    if (lease.age(now) >= this.#o.timing.lostAfterMs) {
      lease.markLost(now);
      return false;
    }
    return true;
  }

  /**
   * True while a verb (ack, nak, term) may still be sent on the lease's delivery: the connection
   * is up and the server's lease surely still runs (a verb sent later could settle a delivery
   * the server has handed to someone else). Holds for a lease lost moments ago too.
   */
  maySettle(lease: Lease<D>): boolean {
    return this.#o.connected() && lease.age(this.#now()) < this.#o.timing.settleWithinMs;
  }

  /** Sends a confirmed renewal now; the lease counts as renewed from now once the server answers. */
  renew(lease: Lease<D>): void {
    const sentAt = this.#now();
    const d = lease.delivery;
    d.renew(this.intervalMs).then((ok) => {
      if (ok) lease.confirmed(sentAt);
    }, () => {});
  }

  /** Renews every lease (first declaring lost those that went unrenewed too long). */
  tick(): void {
    const now = this.#now();
    const late = now - this.#lastTick > 1.5 * this.intervalMs;
    this.#lastTick = now;
    const up = this.#o.connected();
    for (const lease of this.#held) {
      if (!this.valid(lease)) continue;
      if (late || lease.age(now) > this.#o.timing.suspectAfterMs) lease.markSuspect();
      if (up) this.renew(lease);
    }
  }
}

export interface Stall {
  /** The last time the watch saw the loop alive before the stall. */
  start: number;
  /** When it saw it alive again. */
  end: number;
}

/** What becomes of a delivery just read: it runs (its lease began at `startedAt`), or it lost its lease before it ran. */
export type Admission =
  | { verdict: 'run'; startedAt: number; heldAcrossStall: boolean }
  | { verdict: 'nak' | 'release'; startedAt: number; unrenewedMs: number };

/**
 * Admits a delivery read at `receivedAt` that answers a pull request sent at `requestedAt`. One
 * held across a stall of this process (the stall overlaps the two) may have waited through it in
 * the socket buffer: its lease is taken to have begun when the stall began (or when it was
 * requested, if later). It runs while its lease holds; else it is handed back (a nak) while the
 * server's lease surely runs and the connection is up, and released (left to its redelivery)
 * otherwise. A delivery requested after the stall ended owns a full lease.
 */
export function admit(o: { requestedAt: number; receivedAt: number; now: number; stall: Stall | null; timing: LeaseTiming; connected: boolean }): Admission {
  const startedAt = o.stall ? Math.min(Math.max(o.requestedAt, o.stall.start), o.receivedAt) : o.receivedAt;
  const age = o.now - startedAt;
  if (age < o.timing.lostAfterMs) return { verdict: 'run', startedAt, heldAcrossStall: o.stall !== null };
  return { verdict: o.connected && age < o.timing.settleWithinMs ? 'nak' : 'release', startedAt, unrenewedMs: age };
}

export interface StallWatchOptions {
  now?: () => number;
  /** A gap between two ticks longer than this is a stall. Default 500 ms. */
  thresholdMs?: number;
  /** Milliseconds between ticks; 0: no timer (the caller ticks). Default 100. */
  everyMs?: number;
}

/**
 * Notices when this process's event loop stalled (a long GC pause, SIGSTOP): a timer that should
 * fire every 100 ms did not. It remembers the recent stalls, so that a delivery read after one can
 * be told apart: one requested before the stall ended may have waited through it in the socket
 * buffer (its lease ran meanwhile), one requested after it owns a full lease.
 */
export class StallWatch {
  readonly #now: () => number;
  readonly #threshold: number;
  #at: number;
  // Stryker disable next-line ArrayDeclaration: an entry without start and end overlaps no window, and the cap of 16 drops the oldest first.
  readonly #stalls: Stall[] = [];
  readonly #timer: NodeJS.Timeout | null;

  constructor(options: StallWatchOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#threshold = options.thresholdMs ?? 500;
    this.#at = this.#now();
    const every = options.everyMs ?? 100;
    this.#timer = every > 0 ? setInterval(() => this.tick(), every) : null;
    // Stryker disable next-line OptionalChaining: Node's timers always have unref.
    this.#timer?.unref?.();
  }

  /** The loop is alive now: a gap since the last tick longer than the threshold is recorded as a stall. */
  tick(now = this.#now()): void {
    if (now - this.#at > this.#threshold) {
      this.#stalls.push({ start: this.#at, end: now });
      if (this.#stalls.length > 16) this.#stalls.shift();
    }
    this.#at = now;
  }

  /**
   * The latest stall that overlaps `[from, to]` (a request sent at `from`, its message read at
   * `to`), the current one included (a message read before the watch's timer fired after a
   * stall); null when there was none.
   */
  overlapping(from: number, to: number = this.#now()): Stall | null {
    if (to - this.#at > this.#threshold && to > from) return { start: this.#at, end: to };
    for (let i = this.#stalls.length - 1; i >= 0; i--) {
      const s = this.#stalls[i];
      if (s.end > from && s.start < to) return s;
    }
    return null;
  }

  /** Milliseconds the loop has not ticked now (the current gap). */
  sinceLastTick(now = this.#now()): number {
    return now - this.#at;
  }

  stop(): void {
    // Stryker disable next-line ConditionalExpression: clearInterval(null) does nothing.
    if (this.#timer) clearInterval(this.#timer);
  }
}
