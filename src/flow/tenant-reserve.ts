/**
 * The tenant reserve of the lane intake (RUNNER_TENANT_RESERVE): how many free slots a queue's
 * tenant may take now. While more than one tenant had work within TENANT_RECENT_MS in the queue's
 * lane or a higher one (a tenant counts in the highest lane it had work in, and in every lane
 * below), a tenant may fill its fair share (the slots divided among them), and beyond it leaves
 * the last `reserve` slots free, so that another tenant's job starts at once instead of waiting for
 * a flood's job to end. A tenant of a lower lane does not count: it could not take a slot kept from
 * a higher lane (lane order holds). One tenant alone takes every slot.
 *
 * O(queues waiting or running), and O(tenants seen) only when one joins or one's last work is
 * TENANT_RECENT_MS old (with a thousand light tenants, not at every pull).
 */
import { LANE_ORDER, type IntakeQueue } from './intake.ts';

/** A tenant that had work here within this long counts among those sharing the slots. */
export const TENANT_RECENT_MS = 10_000;

export class TenantReserve {
  readonly #reserve: number;
  /** When each queue last had work here (waiting or running), its tenant and lane's rank. */
  readonly #queueSeen = new Map<string, { tenant: string; rank: number; at: number }>();
  /** From #queueSeen: per lane rank, the tenants active recently in that lane or a higher one; how many in all; valid until `until`. */
  #recent: { active: number[]; tenants: number; until: number } | null = null;

  constructor(reserve: number) {
    this.#reserve = reserve;
  }

  /**
   * The slots of `free` (of `concurrency`) each queue's tenant may take at `now`, given the queues
   * with waiting work and one entry per job running here (its queue).
   */
  fits(free: number, concurrency: number, now: number, waiting: Iterable<IntakeQueue>, running: Iterable<IntakeQueue>): (q: IntakeQueue) => number {
    const all = () => free;
    if (this.#reserve <= 0) return all;
    const seen = (q: IntakeQueue) => {
      const was = this.#queueSeen.get(q.key);
      if (was) was.at = now;
      else {
        this.#queueSeen.set(q.key, { tenant: q.tenant, rank: LANE_ORDER.indexOf(q.lane), at: now });
        this.#recent = null;
      }
    };
    for (const q of waiting) seen(q);
    const runs = new Map<string, number>();
    for (const q of running) {
      seen(q);
      runs.set(q.tenant, (runs.get(q.tenant) ?? 0) + 1);
    }
    const { active, tenants } = this.#active(now);
    if (tenants <= 1) return all;
    const reserve = this.#reserve;
    return (q) => {
      const sharing = active[LANE_ORDER.indexOf(q.lane)];
      if (sharing <= 1) return free;
      const fair = concurrency / sharing;
      return Math.max(0, Math.min(free, Math.max(Math.ceil(fair - (runs.get(q.tenant) ?? 0)), free - reserve)));
    };
  }

  /**
   * Each tenant's highest lane (lowest rank) with work recently; active[r]: tenants whose highest
   * lane ranks r or higher. Kept until a tenant joins or the oldest of them is no longer recent.
   */
  #active(now: number): { active: number[]; tenants: number } {
    if (this.#recent && now < this.#recent.until) return this.#recent;
    const highest = new Map<string, number>();
    let until = Infinity;
    for (const [key, x] of this.#queueSeen) {
      if (now - x.at >= TENANT_RECENT_MS) this.#queueSeen.delete(key);
      else {
        highest.set(x.tenant, Math.min(highest.get(x.tenant) ?? LANE_ORDER.length, x.rank));
        until = Math.min(until, x.at + TENANT_RECENT_MS);
      }
    }
    const counts = LANE_ORDER.map(() => 0);
    for (const rank of highest.values()) counts[rank]++;
    for (let r = 1; r < counts.length; r++) counts[r] += counts[r - 1];
    this.#recent = { active: counts, tenants: highest.size, until };
    return this.#recent;
  }
}
