/**
 * The intake with priority lanes and tenant fairness (RUNNER_LANES=true), in place of the one
 * pull loop. Every lane of every tenant is its own durable pull consumer on the ALT stream
 * (`<durable>-<lane>-<tenant>`, filtered on `<prefix>.<lane>.<tenant>`, created by the first
 * worker that sees work there); subjects outside lanes go through `<durable>`, filtered on
 * `<prefix>.*`. Filters never overlap, as a work-queue stream requires.
 *
 * Nothing waits in the worker: for each free slot the scheduler ({@link IntakeScheduler}) names
 * a queue, and one no-wait pull request asks that consumer for at most the free slots (one when
 * several tenants wait in the lane); the server answers at once with what it has, or 404. Up to
 * OPEN_MAX requests are open at once, each to a different queue of one lane (or a higher lane's
 * beside lower ones), and together they ask for at most the free slots, so messages in flight never
 * exceed the slots; a light tenant's job does not wait behind other queues' round trips (on a loaded
 * server, a few milliseconds each). The worker learns
 * where work waits from a core subscription to the lane subjects (each publish wakes its queue;
 * bodies are not read), from each answer, and from a scan of the stream's subjects every
 * RUNNER_LANE_SCAN_MS (what a disconnect or a publish that outran its store made it miss; a queue that answered empty is asked again
 * when more is stored, or after min(ack wait, 5 s) while anything is: a dead worker's job or a
 * nak'd one comes due without a publish). A consumer whose subject holds no message
 * and that nothing pulled from here for RUNNER_LANE_IDLE_MS is removed (nothing of it is in
 * flight: a work-queue stream keeps a message until it is acked).
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { Delivery } from '../contract/delivery.ts';
import { deliveryOf } from './pull.ts';
import { IntakeScheduler, LANE_ORDER, type IntakeChoice, type IntakeQueue } from '../flow/intake.ts';
import { NO_TENANT, isLane, laneOf, tenantOf, type Lane } from '../flow/lanes.ts';
import { TenantReserve } from '../flow/tenant-reserve.ts';

/** The queue key of the subjects outside lanes. */
export const REST_QUEUE = 'rest';

/** The consumer of one lane of one tenant. */
export const laneConsumer = (durable: string, lane: Lane, tenant: string): string => `${durable}-${lane}-${tenant}`;

export interface LaneIntakeOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  stream: string;
  durable: string;
  /** The lane prefix (`alt`). */
  prefix: string;
  /** Slots of this worker. */
  concurrency: number;
  inboxPrefix?: string;
  /** Slots in use now. */
  inFlight: () => number;
  /** True while this worker runs message `seq` (a job that is no longer held has freed its slot). */
  holds: (seq: number) => boolean;
  paused: () => boolean;
  /** Of `free` slots, how many jobs could start now (room in the AI rate limits); default: all. */
  room?: (free: number) => number;
  onMessage: (d: Delivery, requestedAt: number) => void;
  onError?: (error: Error) => void;
  /** The clock, read when a request is sent (the worker's stall watch ticks on it). Default `now`. */
  stamp?: () => number;
  /** A job started: where its wait went, the instants this worker knows (a debug line; benchmarks split a job's wait with it). */
  onPulled?: (t: LanePullTiming) => void;
  /** A job started: its lane (null outside lanes), tenant and how long it waited in NATS (ms). */
  onStart?: (lane: Lane | null, tenant: string, waitMs: number) => void;
  /** Settings of the consumers it creates. */
  consumer: { ackWaitMs: number; maxDeliver: number; maxAckPending: number };
  minShare?: number;
  weight?: (tenant: string) => number;
  /** Slots a tenant over its fair share leaves free while other tenants were active recently (RUNNER_TENANT_RESERVE). Default 0: none. */
  tenantReserve?: number;
  /** Milliseconds between scans of the stream's subjects. Default 1,000. */
  scanMs?: number;
  /** Milliseconds an empty consumer stays unused before it is removed. Default 600,000. */
  idleMs?: number;
  /** Milliseconds a no-wait request may go unanswered (no such consumer) before it is forgotten. Default 2,000. */
  answerMs?: number;
  now?: () => number;
}

/** The instants of a job's way in, as this worker saw them (epoch ms). */
export interface LanePullTiming {
  alt_stream_seq: number;
  lane: Lane | null;
  tenant: string;
  /** The server stored it (the message's timestamp). */
  stored_at: number;
  /** Its queue's last doorbell here (a publish on its subject); 0: none. */
  bell_at: number;
  /** A pull request was open here (to any queue) when that doorbell rang: the next waits for its answer. */
  open_at_bell: boolean;
  /** The pull request that brought it was sent. */
  requested_at: number;
  received_at: number;
  /** Pull requests sent to its queue since that doorbell, the one that brought it included. */
  pulls_since_bell: number;
  /** When this worker last made its queue's consumer; 0: never (it was made before, here or by another worker). */
  consumer_made_at: number;
}

interface QueueMeta {
  consumer: string;
  /** Created or seen to exist (a pull may go out). */
  ready: boolean;
  creating: Promise<void> | null;
  /** Last time a request went to it or a job of it ended here. */
  usedAt: number;
  /** Messages on its subject at the last scan. */
  lastCount: number;
  /** Messages on its subject (the last scan's count) when it last answered empty: a scan wakes it only for more; -1: not since it woke. */
  countAtEmpty: number;
  /** When it last answered empty. */
  emptyAt: number;
  /** When a publish on its subject last woke it. */
  bellAt: number;
  /** Re-checks made since that publish. */
  bellTries: number;
  /** A pull request was open when it rang. */
  bellOpen: boolean;
  /** Pull requests sent since it rang. */
  pullsSinceBell: number;
  /** When this worker made its consumer (0: not made here). */
  madeAt: number;
}

interface OpenRequest {
  id: number;
  q: IntakeQueue;
  reason: IntakeChoice['reason'];
  remaining: number;
  sentAt: number;
  timer: NodeJS.Timeout;
}

/** An empty answer this soon after a publish woke the queue may have outrun the store... */
const BELL_RACE_MS = 500;
/** ...and is checked again after this long, at most BELL_TRIES times (three times as long each time). */
const BELL_RECHECK_MS = 20;
const BELL_TRIES = 1;


/** Pull requests open at once, at most (each to its own queue). */
const OPEN_MAX = 8;

/** Consumers made at once, at most. */
const CREATE_PARALLEL = 8;

const NEXT = (stream: string, consumer: string) => `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`;

export class LaneIntake {
  #concurrency: number;
  readonly #o: LaneIntakeOptions;
  readonly #sched: IntakeScheduler;
  readonly #meta = new Map<string, QueueMeta>();
  /** Jobs started here, by stream sequence, and their queue (a slot is free once the worker no longer holds it). */
  readonly #running = new Map<number, IntakeQueue>();
  readonly #inbox: string;
  readonly #now: () => number;
  readonly #subs: Subscription[] = [];
  /** Open pull requests, by id, and by the consumer asked (one per queue). */
  readonly #reqs = new Map<number, OpenRequest>();
  readonly #reqOf = new Map<string, OpenRequest>();
  /** Consumers being made now. */
  #creating = 0;
  #ids = 0;
  #stopped = false;
  #scanTimer: NodeJS.Timeout | null = null;
  #scanning = false;
  /** RUNNER_TENANT_RESERVE: the slots a tenant past its fair share leaves to others. */
  readonly #reserve: TenantReserve;
  /** Pull requests sent (for benchmarks and tests). */
  requestsSent = 0;

  constructor(options: LaneIntakeOptions) {
    this.#o = options;
    this.#concurrency = options.concurrency;
    this.#now = options.now ?? Date.now;
    this.#sched = new IntakeScheduler({ minShare: options.minShare, weight: options.weight });
    this.#reserve = new TenantReserve(options.tenantReserve ?? 0);
    this.#inbox = createInbox(options.inboxPrefix);
  }

  /** The queues it knows: lane, tenant, waiting (known or suspected), running here. */
  get queues(): { lane: Lane; tenant: string; rest: boolean; waiting: boolean; running: number }[] {
    return [...this.#sched.queues].map((q) => ({ lane: q.lane, tenant: q.tenant, rest: q.key === REST_QUEUE, waiting: q.waiting, running: q.running }));
  }

  /** Messages stored per lane and tenant at the last scan (lane `none`: the subjects outside lanes). */
  get stored(): { lane: string; tenant: string; count: number }[] {
    return [...this.#sched.queues].map((q) => ({ lane: q.key === REST_QUEUE ? 'none' : q.lane, tenant: q.tenant, count: this.#metaOf(q).lastCount }));
  }

  start(): void {
    this.#subs.push(this.#o.nc.subscribe(`${this.#inbox}.>`, {
      callback: (err, m) => (err ? this.#o.onError?.(err) : this.#answer(m)),
    }));
    // Doorbells: every job published on a lane (or outside lanes) wakes its queue; only the subject is read.
    this.#subs.push(this.#o.nc.subscribe(`${this.#o.prefix}.*.*`, { callback: (err, m) => {
      if (!err) this.#ring(m.subject);
    } }));
    this.#subs.push(this.#o.nc.subscribe(`${this.#o.prefix}.*`, { callback: (err) => {
      if (!err) this.#ring(null);
    } }));
    this.#scanTimer = setInterval(() => void this.scan(), this.#o.scanMs ?? 1_000);
    this.#scanTimer.unref?.();
    void this.scan();
  }

  /** Reads the stream's subjects: queues with messages wake, empty idle consumers are removed. */
  async scan(): Promise<void> {
    if (this.#scanning || this.#stopped) return;
    this.#scanning = true;
    try {
      const info = await this.#o.jsm.streams.info(this.#o.stream, { subjects_filter: `${this.#o.prefix}.>` });
      const counts = new Map<string, number>();
      let rest = 0;
      for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
        const lane = laneOf(subject);
        const tokens = subject.split('.').length;
        if (lane && tokens === this.#o.prefix.split('.').length + 2) counts.set(`${lane}.${tenantOf(subject)}`, n);
        else if (tokens === this.#o.prefix.split('.').length + 1) rest += n;
      }
      if (rest > 0) this.#wakeIfMore(this.#restQueue(), rest);
      else this.#metaOf(this.#restQueue()).lastCount = 0;
      for (const [key, n] of counts) {
        const [lane, tenant] = [key.slice(0, key.indexOf('.')), key.slice(key.indexOf('.') + 1)];
        if (isLane(lane)) this.#wakeIfMore(this.#sched.queue(lane, tenant), n);
      }
      for (const q of this.#sched.queues) {
        if (q.key === REST_QUEUE || counts.has(q.key)) continue;
        const m = this.#metaOf(q);
        m.lastCount = 0;
        m.countAtEmpty = Math.min(m.countAtEmpty, 0);
      }
      await this.#removeIdle(counts);
    } catch (e) {
      this.#o.onError?.(e as Error);
    } finally {
      this.#scanning = false;
    }
    this.kick();
  }

  /** Milliseconds after an empty answer when a queue whose subject still holds messages is asked again. */
  get #reprobeMs(): number {
    return Math.min(this.#o.consumer.ackWaitMs, 5_000);
  }

  #wakeIfMore(q: IntakeQueue, count: number): void {
    const m = this.#metaOf(q);
    m.lastCount = count;
    // Stored messages include those running (here or elsewhere): after an empty answer, only more than then wake it,
    // or time: a message whose lease ran out (a dead worker's) or whose nak delay passed is due again without a publish.
    if (count > m.countAtEmpty || (count > 0 && this.#now() - m.emptyAt >= this.#reprobeMs)) this.#sched.wake(q);
  }

  async #removeIdle(counts: Map<string, number>): Promise<void> {
    const idleMs = this.#o.idleMs ?? 600_000;
    const now = this.#now();
    for (const q of [...this.#sched.queues]) {
      if (q.key === REST_QUEUE || q.waiting || q.running > 0 || counts.has(q.key)) continue;
      const m = this.#metaOf(q);
      if (now - m.usedAt < idleMs) continue;
      this.#sched.prune((x) => x !== q);
      this.#meta.delete(q.key);
      if (m.ready) await this.#o.jsm.consumers.delete(this.#o.stream, m.consumer).catch(() => false);
    }
  }

  #restQueue(): IntakeQueue {
    return this.#sched.queue('medium', NO_TENANT, REST_QUEUE);
  }

  #ring(subject: string | null): void {
    if (this.#stopped) return;
    let q: IntakeQueue;
    if (subject === null) q = this.#restQueue();
    else {
      const lane = laneOf(subject);
      if (!lane || subject.split('.').length !== this.#o.prefix.split('.').length + 2) return;
      q = this.#sched.queue(lane, tenantOf(subject)!);
    }
    const m = this.#metaOf(q);
    m.bellAt = this.#now();
    m.bellTries = 0;
    m.bellOpen = this.#reqs.size > 0;
    m.pullsSinceBell = 0;
    this.#sched.wake(q);
    this.kick();
  }

  #metaOf(q: IntakeQueue): QueueMeta {
    let m = this.#meta.get(q.key);
    if (!m) {
      m = { consumer: q.key === REST_QUEUE ? this.#o.durable : laneConsumer(this.#o.durable, q.lane, q.tenant), ready: q.key === REST_QUEUE, creating: null, usedAt: this.#now(), lastCount: 0, countAtEmpty: -1, emptyAt: 0, bellAt: 0, bellTries: 0, bellOpen: false, pullsSinceBell: 0, madeAt: 0 };
      this.#meta.set(q.key, m);
    }
    return m;
  }

  /** Creates the consumer of a lane and tenant (an existing one is used as it is). */
  #create(q: IntakeQueue, m: QueueMeta): Promise<void> {
    m.creating ??= (async () => {
      const c = this.#o.consumer;
      try {
        await this.#o.jsm.consumers.add(this.#o.stream, {
          durable_name: m.consumer, filter_subject: `${this.#o.prefix}.${q.lane}.${q.tenant}`, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All,
          ack_wait: nanos(c.ackWaitMs), max_deliver: c.maxDeliver, max_ack_pending: c.maxAckPending,
        });
        m.ready = true;
        m.madeAt = this.#now();
      } catch (e) {
        if (/already (exists|in use)/i.test((e as Error).message)) m.ready = true;
        else {
          this.#o.onError?.(e as Error);
          this.#sched.empty(q);
        }
      } finally {
        m.creating = null;
      }
    })();
    return m.creating;
  }

  /** Frees the slots of jobs that ended; then, while slots are free, pulls from the queue the scheduler names. */
  /** Changes the slots: more are pulled at once; fewer take effect as jobs end. */
  setConcurrency(n: number): void {
    this.#concurrency = n;
    this.kick();
  }

  kick(): void {
    for (const [seq, q] of this.#running) {
      if (this.#o.holds(seq)) continue;
      this.#running.delete(seq);
      this.#sched.ended(q);
      this.#metaOf(q).usedAt = this.#now();
    }
    if (this.#stopped || this.#o.paused() || this.#o.nc.isClosed()) return;
    const ready = (q: IntakeQueue) => this.#metaOf(q).ready;
    const idle = (q: IntakeQueue) => !this.#reqOf.has(this.#metaOf(q).consumer);
    // Where the next slot would go were every consumer made: that queue's consumer is made first.
    const claim = this.#sched.next(idle);
    // Consumers of waiting queues are made in parallel (a few at a time), while the others are served and
    // while every slot is busy: a critical job of a new tenant can then start as soon as one frees.
    if (this.#creating < CREATE_PARALLEL) {
      for (const q of claim && !ready(claim.queue) ? [claim.queue, ...this.#sched.waiting] : this.#sched.waiting) {
        if (this.#creating >= CREATE_PARALLEL) break;
        const m = this.#metaOf(q);
        if (!m.ready && !m.creating) {
          this.#creating++;
          void this.#create(q, m).finally(() => {
            this.#creating--;
            this.kick();
          });
        }
      }
    }
    while (this.#reqs.size < OPEN_MAX && this.#pullOne(ready, idle)) { /* the next request, to another queue */ }
  }

  /** Sends one pull request, to the queue the scheduler names among those with none open; false: none to send. */
  #pullOne(ready: (q: IntakeQueue) => boolean, idle: (q: IntakeQueue) => boolean): boolean {
    let asked = 0;
    // Requests open at once are of one lane, or the next goes to a higher one: a lower lane's job never starts ahead of a higher one's asked for first.
    let top = LANE_ORDER.length;
    for (const r of this.#reqs.values()) {
      asked += r.remaining;
      top = Math.min(top, LANE_ORDER.indexOf(r.q.lane));
    }
    const slots = this.#concurrency - this.#o.inFlight();
    const free = Math.min(slots, this.#o.room?.(slots) ?? slots) - asked;
    if (free <= 0) return false;
    const claim = this.#sched.next(idle);
    const fits = this.#reserve.fits(free, this.#concurrency, this.#now(), this.#sched.waiting, this.#running.values());
    // The tenant reserve holds back the work the slot would go to: what it keeps goes to that lane or a higher one, never lower.
    const floor = Math.min(top, claim && fits(claim.queue) <= 0 ? LANE_ORDER.indexOf(claim.queue.lane) : LANE_ORDER.length);
    const may = (q: IntakeQueue) => idle(q) && fits(q) > 0 && LANE_ORDER.indexOf(q.lane) <= floor;
    const held = claim && fits(claim.queue) > 0 ? claim : this.#sched.next(may);
    const choice = this.#sched.next((q) => ready(q) && may(q));
    if (!choice) return false;
    // A lane known to have work keeps its claim on the slot while its consumer is made (a critical job of a
    // new tenant): no lower lane takes it meanwhile. A failed creation forgets the queue's work, and the claim.
    if (held && LANE_ORDER.indexOf(held.queue.lane) < LANE_ORDER.indexOf(choice.queue.lane)) return false;
    const q = choice.queue;
    const m = this.#metaOf(q);
    let alone = true;
    for (const other of this.#sched.waiting) if (other !== q && other.lane === q.lane) alone = false;
    const batch = Math.min(alone ? free : 1, fits(q));
    const id = ++this.#ids;
    const now = this.#o.stamp?.() ?? this.#now();
    m.usedAt = now;
    m.pullsSinceBell++;
    const r: OpenRequest = { id, q, reason: choice.reason, remaining: batch, sentAt: now, timer: setTimeout(() => this.#unanswered(id), this.#o.answerMs ?? 2_000) };
    r.timer.unref?.();
    this.#reqs.set(id, r);
    this.#reqOf.set(m.consumer, r);
    this.requestsSent++;
    this.#o.nc.publish(NEXT(this.#o.stream, m.consumer), JSON.stringify({ batch, no_wait: true }), { reply: `${this.#inbox}.${id}` });
    return true;
  }

  /** No answer: the consumer is gone (removed, or never made); it is made again when work shows. */
  #unanswered(id: number): void {
    const r = this.#reqs.get(id);
    if (!r) return;
    this.#forget(r);
    const m = this.#metaOf(r.q);
    if (r.q.key !== REST_QUEUE) m.ready = false;
    this.#sched.empty(r.q);
    this.kick();
  }

  #done(r: OpenRequest, empty: boolean): void {
    clearTimeout(r.timer);
    this.#forget(r);
    if (empty) this.#sched.empty(r.q);
    this.kick();
  }

  #answer(m: Msg): void {
    if (!m.reply) {
      // A status comes on the request's own inbox subject; a message keeps its subject and names its consumer in the ack subject.
      const id = Number(m.subject.slice(m.subject.lastIndexOf('.') + 1));
      const r = this.#reqs.get(id) ?? null;
      // 404 no messages, 408 fewer than asked (no-wait), 409 ended (consumer deleted, max ack pending).
      const code = Number(m.headers?.code ?? 0);
      if (code === 100 || !r) return;
      if (code === 409 && /deleted/i.test(m.headers?.description ?? '')) this.#metaOf(r.q).ready = false;
      this.#noteEmpty(r.q, code === 404);
      this.#done(r, true);
      return;
    }
    const d = deliveryOf(this.#o.nc, m, this.#now(), this.#o.onError);
    if (!d) return;
    const consumer = m.reply.split('.')[3];
    const r = this.#reqOf.get(consumer) ?? null;
    // A message for a forgotten request still runs (it is leased to this worker now).
    const q = r?.q ?? this.#queueOf(d.subject);
    if (!this.#running.has(d.seq)) {
      this.#running.set(d.seq, q);
      // A lower lane's share is one start: the rest of a batch counts as priority.
      this.#sched.started(q, r?.reason ?? 'priority');
      if (r) r.reason = 'priority';
      this.#o.onStart?.(q.key === REST_QUEUE ? null : q.lane, q.tenant, Math.max(0, d.receivedAt - d.deliveredAt));
      if (this.#o.onPulled) {
        const m = this.#metaOf(q);
        this.#o.onPulled({
          alt_stream_seq: d.seq, lane: q.key === REST_QUEUE ? null : q.lane, tenant: q.tenant, stored_at: d.deliveredAt, bell_at: m.bellAt, open_at_bell: m.bellOpen,
          requested_at: r?.sentAt ?? d.receivedAt, received_at: d.receivedAt, pulls_since_bell: m.pullsSinceBell, consumer_made_at: m.madeAt,
        });
      }
    }
    this.#o.onMessage(d, r?.sentAt ?? d.receivedAt);
    if (r && --r.remaining <= 0) this.#done(r, false);
  }

  #noteEmpty(q: IntakeQueue, none: boolean): void {
    const m = this.#metaOf(q);
    m.countAtEmpty = m.lastCount;
    m.emptyAt = this.#now();
    // The doorbell can outrun the store (a busy server): an empty answer soon after one is checked again once, 20 ms later
    // (more re-checks cost more than they find: with several workers, most empty answers mean another worker took the job).
    if (none && m.emptyAt - m.bellAt < BELL_RACE_MS && m.bellTries < BELL_TRIES) {
      const delay = BELL_RECHECK_MS * 3 ** m.bellTries++;
      setTimeout(() => {
        if (this.#stopped) return;
        this.#sched.wake(q);
        this.kick();
      }, delay).unref?.();
    }
  }

  #queueOf(subject: string): IntakeQueue {
    const lane = laneOf(subject);
    return lane ? this.#sched.queue(lane, tenantOf(subject)!) : this.#restQueue();
  }

  #forget(r: OpenRequest): void {
    if (this.#reqs.get(r.id) !== r) return;
    this.#reqs.delete(r.id);
    const consumer = this.#metaOf(r.q).consumer;
    if (this.#reqOf.get(consumer) === r) this.#reqOf.delete(consumer);
  }

  /** After a reconnect: the open requests' answers may be lost; forget them and scan. */
  reconnected(): void {
    for (const r of this.#reqs.values()) clearTimeout(r.timer);
    this.#reqs.clear();
    this.#reqOf.clear();
    void this.scan();
  }

  pause(): void {
    this.#stopped = true;
  }

  /** Resolves once no request is open (a no-wait request is answered at once, or forgotten after answerMs). */
  async drained(): Promise<void> {
    const until = this.#now() + (this.#o.answerMs ?? 2_000) + 100;
    while (this.#reqs.size > 0 && this.#now() < until) await new Promise((r) => setTimeout(r, 20));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#scanTimer) clearInterval(this.#scanTimer);
    for (const r of this.#reqs.values()) clearTimeout(r.timer);
    for (const s of this.#subs) s.unsubscribe();
  }
}
