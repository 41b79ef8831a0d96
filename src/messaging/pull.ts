/**
 * The pull loop: requests messages from the durable consumer for the free slots only, so that
 * messages in flight plus messages requested never exceed the worker's concurrency and no job
 * waits in this worker's buffer while another worker is idle. Requests are batched (a new one
 * goes out when a quarter of the slots are free, or when nothing is requested), so under load
 * one round trip serves many messages. A request the server ends (408 with the count it did not
 * fill, 409) or that outlives its expiry is forgotten; after a reconnect no request goes out
 * until the old ones have surely expired on the server, so the worker never receives more than
 * it asked for.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { Delivery } from '../contract/delivery.ts';

export interface PullOptions {
  nc: NatsConnection;
  stream: string;
  durable: string;
  /** Slots: messages this worker holds at most (in flight plus requested). */
  concurrency: number;
  /** Milliseconds a pull request waits on the server. Default 5,000. */
  expiresMs?: number;
  /** The inbox prefix of this connection (replies must arrive where the user may subscribe). */
  inboxPrefix?: string;
  /** Slots in use by this worker right now (jobs in flight, held ones included). */
  inFlight: () => number;
  /** True while the worker should take no new work (AI side down, shutting down). */
  paused: () => boolean;
  /** Of `free` slots, how many jobs could start now (room in the AI rate limits), requested ones included; default: all. */
  room?: (free: number) => number;
  /** A message arrived; `requestedAt`: when the request it answers was sent (the earliest its lease can have begun). */
  onMessage: (d: Delivery, requestedAt: number) => void;
  onError?: (error: Error) => void;
  /** The clock, read when a request is sent (the worker's stall watch ticks on it). Default `now`. */
  stamp?: () => number;
  /** The clock. Default Date.now. */
  now?: () => number;
}

interface Request {
  remaining: number;
  expiresAt: number;
  sentAt: number;
}

const NEXT = (stream: string, durable: string) => `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`;

export class PullLoop {
  readonly #o: PullOptions;
  readonly #expiresMs: number;
  readonly #inbox: string;
  readonly #requests: Request[] = [];
  #sub: Subscription | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** No request goes out before this time (after a reconnect). */
  #quietUntil = 0;
  #stopped = false;
  #lastRequestAt = 0;
  /** When the newest request forgotten by its expiry here was sent (a message may still come for it). */
  #forgottenSentAt = 0;
  #lastExpireRun = 0;
  /** Pull requests sent (for benchmarks and tests). */
  requestsSent = 0;
  /** Slots now (altlas workers set changes them live). */
  #concurrency: number;

  readonly #now: () => number;

  constructor(options: PullOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#expiresMs = options.expiresMs ?? 5_000;
    this.#concurrency = options.concurrency;
    this.#inbox = createInbox(options.inboxPrefix);
  }

  /** Messages requested and not yet received. */
  get outstanding(): number {
    let n = 0;
    for (const r of this.#requests) n += r.remaining;
    return n;
  }

  start(): void {
    this.#sub = this.#o.nc.subscribe(this.#inbox, {
      callback: (err, m) => {
        if (err) {
          this.#o.onError?.(err);
          return;
        }
        this.#receive(m);
      },
    });
    // A request the server dropped without telling (leader change, restart) expires here too.
    this.#lastExpireRun = this.#now();
    this.#timer = setInterval(() => this.expire(), this.#expireEveryMs);
    this.#timer.unref?.();
    this.kick();
  }

  get #expireEveryMs(): number {
    return Math.max(250, Math.floor(this.#expiresMs / 2));
  }

  /** Called after a reconnect: old requests may or may not live on; wait until they have expired. */
  reconnected(): void {
    this.#quietUntil = this.#now() + this.#expiresMs + 1_000;
    setTimeout(() => this.kick(), this.#expiresMs + 1_100).unref?.();
  }

  /** Sends a request when enough slots are free (called when a slot frees, on start, on reconnect). */
  kick(): void {
    if (this.#stopped || this.#o.paused() || this.#o.nc.isClosed()) return;
    const now = this.#o.stamp?.() ?? this.#now();
    if (now < this.#quietUntil) return;
    if (this.#quietUntil) {
      this.#quietUntil = 0;
      this.#requests.length = 0;
    }
    const slots = this.#concurrency - this.#o.inFlight();
    const free = Math.min(slots, this.#o.room?.(slots) ?? slots) - this.outstanding;
    const threshold = Math.max(1, Math.floor(this.#concurrency / 4));
    if (free <= 0 || (free < threshold && this.#requests.length > 0)) return;
    this.#requests.push({ remaining: free, expiresAt: now + this.#expiresMs + 2_000, sentAt: now });
    this.#lastRequestAt = now;
    this.requestsSent++;
    this.#o.nc.publish(NEXT(this.#o.stream, this.#o.durable), JSON.stringify({ batch: free, expires: this.#expiresMs * 1_000_000 }), { reply: this.#inbox });
  }

  /** Changes the slots: more are asked for at once; fewer take effect as jobs end (nothing running is stopped). */
  setConcurrency(n: number): void {
    this.#concurrency = n;
    this.kick();
  }

  /** Sends no more requests; messages for requests still waiting on the server keep arriving (see {@link drained}). */
  pause(): void {
    this.#stopped = true;
  }

  /**
   * Resolves once every request sent has expired on the server. A request outlives the
   * subscription that would receive it, and nats-server 2.9 does not count a delivery made to a
   * request nobody hears: the message would come back to another worker as delivery 1 again.
   */
  async drained(): Promise<void> {
    const wait = this.#lastRequestAt + this.#expiresMs + 500 - this.#now();
    if (wait > 0 && this.#requests.length > 0) await new Promise((r) => setTimeout(r, wait));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#sub?.unsubscribe();
  }

  /** Forgets the requests that have surely expired on the server (the timer calls it). */
  expire(): void {
    const now = this.#now();
    // Fired late (the process stalled): the server's answers to those requests (messages, 408s) are
    // still to be read; forget nothing this round, so that each message is matched to its request.
    const late = now - this.#lastExpireRun > 2 * this.#expireEveryMs;
    this.#lastExpireRun = now;
    if (late) return;
    let changed = false;
    while (this.#requests.length && this.#requests[0].expiresAt <= now) {
      this.#forgottenSentAt = this.#requests.shift()!.sentAt;
      changed = true;
    }
    if (changed || this.#requests.length === 0) this.kick();
  }

  #receive(m: Msg): void {
    if (!m.reply) {
      // A status message: 100 heartbeat, 404/408 no messages or expired (with the count left), 409 ended.
      const code = m.headers?.code ?? 0;
      if (code === 100) return;
      const left = Number(m.headers?.get('Nats-Pending-Messages') || 0);
      const head = this.#requests[0];
      if (head && (code === 408 || code === 409 || code === 404)) {
        if (left > 0 && left < head.remaining) head.remaining = left;
        this.#requests.shift();
      }
      if (code === 409 && !/Exceeded Max/i.test(m.headers?.description ?? '')) this.#o.onError?.(new Error(`pull request ended: ${code} ${m.headers?.description ?? ''}`));
      this.kick();
      return;
    }
    const head = this.#requests[0];
    // Requests are served in order: the message answers the oldest one open (or one forgotten here).
    const requestedAt = head?.sentAt ?? (this.#forgottenSentAt || this.#now());
    if (head && --head.remaining <= 0) this.#requests.shift();
    const d = deliveryOf(this.#o.nc, m, this.#now(), this.#o.onError);
    if (d) this.#o.onMessage(d, requestedAt);
  }
}

/** The delivery a pulled message is, or null (told to `onError`) when it is not a JetStream delivery. */
export function deliveryOf(nc: ConstructorParameters<typeof Delivery>[0], m: ConstructorParameters<typeof Delivery>[1], now: number, onError?: (e: Error) => void): Delivery | null {
  try {
    return new Delivery(nc, m, now);
  } catch (e) {
    onError?.(e as Error);
    return null;
  }
}
