/**
 * Pure checks and orderings of a task graph: duplicate ids, self and unknown dependencies,
 * cycles (naming the tasks of one cycle) and the dependency depth limit.
 */
import { AltlasError, type Problem } from '../errors.ts';
import { limitError } from './limit-error.ts';

export interface GraphNode {
  readonly id: string;
  readonly dependencies: readonly string[];
}

/**
 * Returns the tasks in an order where each comes after its dependencies (Kahn's algorithm, ties
 * in file order), or the ids left over when the graph has a cycle.
 */
export function topologicalOrder(nodes: readonly GraphNode[], index: ReadonlyMap<string, number> = indexOf(nodes)): { order: number[]; leftover: number[] } {
  const indegree = new Array<number>(nodes.length).fill(0);
  const dependents: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    // A dependency listed twice counts twice here and is released twice: the order stays right.
    for (const d of n.dependencies) {
      const j = index.get(d);
      if (j === undefined) continue;
      indegree[i]++;
      dependents[j].push(i);
    }
  });
  const queue: number[] = [];
  indegree.forEach((deg, i) => deg === 0 && queue.push(i));
  const order: number[] = [];
  for (let head = 0; head < queue.length; head++) {
    const i = queue[head];
    order.push(i);
    for (const k of dependents[i]) if (--indegree[k] === 0) queue.push(k);
  }
  const leftover = indegree.flatMap((deg, i) => (deg > 0 ? [i] : []));
  return { order, leftover };
}

/** Finds one cycle among the leftover nodes of {@link topologicalOrder}: ids where each depends on the next. */
export function findCycle(nodes: readonly GraphNode[], leftover: readonly number[]): string[] {
  const remaining = new Set(leftover.map((i) => nodes[i].id));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const seenAt = new Map<string, number>();
  const path: string[] = [];
  let current = nodes[leftover[0]].id;
  while (!seenAt.has(current)) {
    seenAt.set(current, path.length);
    path.push(current);
    // Every leftover node has at least one dependency that is also left over.
    current = byId.get(current)!.dependencies.find((d) => remaining.has(d))!;
  }
  return path.slice(seenAt.get(current));
}

/** Position of each id (the first, where ids repeat). */
export function indexOf(nodes: readonly GraphNode[]): Map<string, number> {
  const index = new Map<string, number>();
  nodes.forEach((n, i) => {
    if (!index.has(n.id)) index.set(n.id, i);
  });
  return index;
}

/** Number of tasks on the longest dependency chain, given a topological order. */
export function dependencyDepth(nodes: readonly GraphNode[], order: readonly number[], index: ReadonlyMap<string, number> = indexOf(nodes)): number {
  const depth = new Array<number>(nodes.length).fill(0);
  let max = 0;
  for (const i of order) {
    let d = 1;
    for (const dep of nodes[i].dependencies) {
      const j = index.get(dep);
      if (j !== undefined && depth[j] + 1 > d) d = depth[j] + 1;
    }
    depth[i] = d;
    if (d > max) max = d;
  }
  return max;
}

/**
 * Checks a graph as the original runner did, then the depth limit. `listKey` is the array the
 * tasks came from (`tasks` or `segments`), for the JSON pointers. Returns null when it is sound.
 */
export function checkGraph(nodes: readonly GraphNode[], listKey: string, maxDepth: number): AltlasError | null {
  const fail = (code: 'ALT_DUPLICATE_TASK' | 'ALT_SELF_DEPENDENCY' | 'ALT_UNKNOWN_DEPENDENCY', problems: Problem[]) =>
    new AltlasError(code, problems.map((p) => p.message).join('; '), { problems });

  const firstAt = new Map<string, number>();
  const dupes: Problem[] = [];
  nodes.forEach((n, i) => {
    const prev = firstAt.get(n.id);
    if (prev === undefined) firstAt.set(n.id, i);
    else dupes.push({ pointer: `/${listKey}/${i}/id`, message: `Duplicate task ID: ${n.id} (first at /${listKey}/${prev})` });
  });
  if (dupes.length) return fail('ALT_DUPLICATE_TASK', dupes);

  const selfs: Problem[] = [];
  const unknown: Problem[] = [];
  nodes.forEach((n, i) => n.dependencies.forEach((d, k) => {
    const pointer = `/${listKey}/${i}/dependencies/${k}`;
    if (d === n.id) selfs.push({ pointer, message: `Task ${n.id} depends on itself` });
    else if (!firstAt.has(d)) unknown.push({ pointer, message: `Dependency '${d}' not found for task ID: ${n.id}` });
  }));
  if (selfs.length) return fail('ALT_SELF_DEPENDENCY', selfs);
  if (unknown.length) return fail('ALT_UNKNOWN_DEPENDENCY', unknown);

  const { order, leftover } = topologicalOrder(nodes, firstAt);
  if (leftover.length) {
    const cycle = findCycle(nodes, leftover);
    const ring = [...cycle, cycle[0]].join(' depends on ');
    return new AltlasError('ALT_CYCLE', `Circular dependency detected involving task ID: ${cycle[0]} (${ring})`, {
      problems: cycle.map((id) => ({ pointer: `/${listKey}/${firstAt.get(id)}/dependencies`, message: `task ${id} is on the cycle ${ring}` })),
      context: { cycle },
    });
  }
  const depth = dependencyDepth(nodes, order, firstAt);
  if (depth > maxDepth) return limitError('dependency_depth', depth, maxDepth, `/${listKey}`);
  return null;
}
