/**
 * Leases of the messages this worker holds: one timer renews them all (`+WPI`) every third of
 * the ack wait while the connection is up. A lease not renewed for most of the ack wait
 * (LEASE_LOST_RATIO: the worker was disconnected, or its timer fired far too late after a stalled
 * event loop or a SIGSTOP) is lost: JetStream may have handed the message to another worker, so
 * the run holding it must stop before it makes another AI call or publishes anything. A
 * redelivery of a message held here is adopted: the lease continues on the newest delivery.
 */
import type { Delivery } from '../contract/delivery.ts';

/** Share of the ack wait after which an unrenewed lease counts as lost. */
export const LEASE_LOST_RATIO = 0.8;

export class Lease {
  #delivery: Delivery;
  renewedAt: number;
  /** True once the lease was not renewed for half the ack wait: its run checks its claim before publishing. */
  suspect = false;
  lost = false;
  readonly #onLost: (lease: Lease) => void;

  /** `startedAt`: when the server's lease began, on this process's clock (at the latest, when it was read). */
  constructor(delivery: Delivery, onLost: (lease: Lease) => void, startedAt = delivery.receivedAt) {
    this.#delivery = delivery;
    this.renewedAt = startedAt;
    this.#onLost = onLost;
  }

  /** The newest delivery of the message (acks go to it). */
  get delivery(): Delivery {
    return this.#delivery;
  }

  /** A redelivery of the same message arrived here: continue on it (its lease is fresh). */
  adopt(d: Delivery, now = Date.now()): void {
    this.#delivery = d;
    this.renewedAt = now;
    this.suspect = true;
    d.working();
  }

  /** @internal */
  markLost(): void {
    if (this.lost) return;
    this.lost = true;
    this.#onLost(this);
  }
}

export interface LeasesOptions {
  ackWaitMs: number;
  /** True while the connection to NATS is up. */
  connected: () => boolean;
  now?: () => number;
}

export class Leases {
  readonly #o: LeasesOptions;
  readonly #now: () => number;
  readonly #held = new Set<Lease>();
  #timer: NodeJS.Timeout | null = null;
  #lastTick = 0;

  constructor(options: LeasesOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#held.size;
  }

  /** Milliseconds between renewals: a third of the ack wait (at least 250). */
  get intervalMs(): number {
    return Math.max(250, Math.floor(this.#o.ackWaitMs / 3));
  }

  start(): void {
    this.#lastTick = this.#now();
    this.#timer = setInterval(() => this.tick(), this.intervalMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  hold(delivery: Delivery, onLost: (lease: Lease) => void, startedAt?: number): Lease {
    const lease = new Lease(delivery, onLost, startedAt);
    this.#held.add(lease);
    return lease;
  }

  release(lease: Lease): void {
    this.#held.delete(lease);
  }

  /** False once the lease is lost or has gone unrenewed too long (checked before every AI call and publish). */
  valid(lease: Lease): boolean {
    if (lease.lost) return false;
    if (this.#now() - lease.renewedAt > LEASE_LOST_RATIO * this.#o.ackWaitMs) {
      lease.markLost();
      return false;
    }
    return true;
  }

  /** Renews every lease (first declaring lost those that went unrenewed too long). */
  tick(): void {
    const now = this.#now();
    const late = now - this.#lastTick > 1.5 * this.intervalMs;
    this.#lastTick = now;
    const up = this.#o.connected();
    for (const lease of this.#held) {
      if (!this.valid(lease)) continue;
      if (late || now - lease.renewedAt > this.#o.ackWaitMs / 2) lease.suspect = true;
      if (!up) continue;
      lease.delivery.working();
      lease.renewedAt = now;
    }
  }
}

/**
 * Notices when this process's event loop stalled (a long GC pause, SIGSTOP): a timer that should
 * fire every 100 ms did not. A delivery read right after such a stall may have waited in the
 * socket buffer through it, its lease already run out, and it is treated as a redelivery would be.
 */
export class StallWatch {
  #at = Date.now();
  #stall = { end: 0, ms: 0 };
  readonly #timer: NodeJS.Timeout;

  constructor() {
    this.#timer = setInterval(() => {
      const now = Date.now();
      // Fired late: remember the stall for a moment, whichever phase the loop resumed in.
      if (now - this.#at > 500) this.#stall = { end: now, ms: now - this.#at };
      this.#at = now;
    }, 100);
    this.#timer.unref?.();
  }

  /** Milliseconds the loop was stalled just now: the current gap, or a stall that ended within the last 2 s. */
  sinceLastTick(now = Date.now()): number {
    const recent = now - this.#stall.end < 2_000 ? this.#stall.ms : 0;
    return Math.max(now - this.#at, recent);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
