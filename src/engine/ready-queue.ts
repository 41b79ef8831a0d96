/** The ready tasks of a job, ordered by priority (critical first) and then by their place in the file. */
import { PRIORITIES, type Priority } from '../alt/job.ts';

const RANK: Record<Priority, number> = Object.fromEntries(PRIORITIES.map((p, i) => [p, i])) as Record<Priority, number>;

/** A small sorted queue of task indexes; insertion keeps (rank, index) order. */
export class ReadyQueue {
  readonly #items: { rank: number; index: number }[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(index: number, priority: Priority): void {
    const item = { rank: RANK[priority], index };
    let lo = 0;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = this.#items[mid];
      if (m.rank < item.rank || (m.rank === item.rank && m.index < item.index)) lo = mid + 1;
      else hi = mid;
    }
    this.#items.splice(lo, 0, item);
  }

  shift(): number | undefined {
    return this.#items.shift()?.index;
  }
}
