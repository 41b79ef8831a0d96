/**
 * Which waiting queue a worker pulls its next job from (pure: no I/O, no clock). A queue is one
 * lane of one tenant (one consumer on the ALT stream); the worker tells the scheduler what it
 * learns (a queue has work, a queue answered empty, a job started, a job ended) and asks it, for
 * each free slot, where to pull.
 *
 * Lanes: the highest lane with waiting work goes first, so a `critical` or `high` job starts at
 * the next free slot whatever waits below it. Minimum share: every lower lane with waiting work
 * earns `minShare` of a credit per job started; a lane holding a whole credit goes first (and
 * spends it), so a lower lane gets at least `minShare` of the starts while higher ones saturate
 * the worker, one start at a time (no burst).
 *
 * Tenants: inside a lane, start-time fair queuing across queues weighted by their tenant's
 * weight: each queue carries a virtual time that grows by 1 / weight per job started; the queue
 * with the least goes first (ties: fewer running here, then the order it became active); a queue
 * that becomes active starts at the lane's current virtual time, so an idle tenant banks no
 * credit and a new one does not wait behind a flood's history. O(active queues of the lane) per
 * choice.
 */
import { LANES, type Lane } from './lanes.ts';

/** The lanes in the order they are served, highest first. */
export const LANE_ORDER: readonly Lane[] = LANES;

export interface IntakeQueue {
  readonly key: string;
  readonly lane: Lane;
  readonly tenant: string;
  /** Waiting work known or suspected (a doorbell, a scan, a delivery's pending count): pull from it. */
  waiting: boolean;
  /** Jobs of this queue running on this worker. */
  running: number;
  /** Virtual time (fair queuing inside the lane). */
  vtime: number;
  /** Order of becoming active (ties). */
  activeSince: number;
}

export interface IntakeOptions {
  /** Share of the starts each lower lane with waiting work keeps, 0–1/(lanes − 1). Default 0.1. */
  minShare?: number;
  /** A tenant's weight (default 1); more weight, more of the lane's starts. */
  weight?: (tenant: string) => number;
}

export interface IntakeChoice {
  queue: IntakeQueue;
  /** Why this lane: `priority` (the highest with work) or `share` (a lower lane's minimum share). */
  reason: 'priority' | 'share';
}

export class IntakeScheduler {
  readonly #queues = new Map<string, IntakeQueue>();
  /** The queues with waiting work (a choice looks at these only: with many idle tenants, O(waiting)). */
  readonly #waiting = new Set<IntakeQueue>();
  readonly #credit = new Map<Lane, number>();
  /** Per lane: the virtual time of the last queue served (where a newly active queue starts). */
  readonly #laneTime = new Map<Lane, number>();
  readonly #minShare: number;
  readonly #weight: (tenant: string) => number;
  #seq = 0;

  constructor(options: IntakeOptions = {}) {
    this.#minShare = options.minShare ?? 0.1;
    this.#weight = options.weight ?? (() => 1);
  }

  /** The queue of `lane` and `tenant` (created idle on first use); `key` names it (default `<lane>.<tenant>`). */
  queue(lane: Lane, tenant: string, key = `${lane}.${tenant}`): IntakeQueue {
    let q = this.#queues.get(key);
    if (!q) {
      q = { key, lane, tenant, waiting: false, running: 0, vtime: 0, activeSince: 0 };
      this.#queues.set(key, q);
    }
    return q;
  }

  get queues(): IterableIterator<IntakeQueue> {
    return this.#queues.values();
  }

  /** The queues with waiting work, in the order they became active. */
  get waiting(): ReadonlySet<IntakeQueue> {
    return this.#waiting;
  }

  /** The queue has (or may have) waiting work. */
  wake(q: IntakeQueue): void {
    if (q.waiting) return;
    q.waiting = true;
    this.#waiting.add(q);
    q.activeSince = ++this.#seq;
    q.vtime = Math.max(q.vtime, this.#laneTime.get(q.lane) ?? 0);
  }

  /** The queue answered that nothing waits in it. */
  empty(q: IntakeQueue): void {
    q.waiting = false;
    this.#waiting.delete(q);
  }

  /** A job of `q` started on this worker (one slot taken). */
  started(q: IntakeQueue, reason: IntakeChoice['reason']): void {
    q.running++;
    q.vtime += 1 / Math.max(1e-6, this.#weight(q.tenant));
    this.#laneTime.set(q.lane, Math.max(this.#laneTime.get(q.lane) ?? 0, q.vtime - 1 / Math.max(1e-6, this.#weight(q.tenant))));
    const top = this.#topLane();
    for (const lane of LANE_ORDER) {
      if (!this.#hasWork(lane) || lane === top) {
        this.#credit.delete(lane);
        continue;
      }
      this.#credit.set(lane, (this.#credit.get(lane) ?? 0) + this.#minShare);
    }
    if (reason === 'share') this.#credit.set(q.lane, Math.max(0, (this.#credit.get(q.lane) ?? 0) - 1));
  }

  /** A job of `q` ended on this worker (its slot is free). */
  ended(q: IntakeQueue): void {
    q.running = Math.max(0, q.running - 1);
  }

  /** Forgets idle queues with nothing running (their consumer may be gone); returns their keys. */
  prune(keep: (q: IntakeQueue) => boolean = () => false): string[] {
    const gone: string[] = [];
    for (const [key, q] of this.#queues) {
      if (!q.waiting && q.running === 0 && !keep(q)) {
        this.#queues.delete(key);
        gone.push(key);
      }
    }
    return gone;
  }

  /**
   * Where the next free slot pulls from; null when no queue has waiting work. `eligible` leaves
   * out queues that cannot be pulled from yet (their consumer is being made): the choice is made
   * among the others as if those did not wait.
   */
  next(eligible: (q: IntakeQueue) => boolean = () => true): IntakeChoice | null {
    let shareLane: Lane | null = null;
    let best = 1 - 1e-9;
    for (const lane of LANE_ORDER) {
      const c = this.#credit.get(lane) ?? 0;
      if (c >= best && this.#hasWork(lane, eligible) && (shareLane === null || c > best)) {
        shareLane = lane;
        best = c;
      }
    }
    const lane = shareLane ?? this.#topLane(eligible);
    if (lane === null) return null;
    return { queue: this.#fairest(lane, eligible)!, reason: shareLane ? 'share' : 'priority' };
  }

  #hasWork(lane: Lane, eligible: (q: IntakeQueue) => boolean = () => true): boolean {
    for (const q of this.#waiting) if (q.lane === lane && eligible(q)) return true;
    return false;
  }

  #topLane(eligible?: (q: IntakeQueue) => boolean): Lane | null {
    for (const lane of LANE_ORDER) if (this.#hasWork(lane, eligible)) return lane;
    return null;
  }

  #fairest(lane: Lane, eligible: (q: IntakeQueue) => boolean): IntakeQueue | null {
    let best: IntakeQueue | null = null;
    for (const q of this.#waiting) {
      if (q.lane !== lane || !eligible(q)) continue;
      if (!best || q.vtime < best.vtime || (q.vtime === best.vtime && (q.running < best.running || (q.running === best.running && q.activeSince < best.activeSince)))) best = q;
    }
    return best;
  }
}
