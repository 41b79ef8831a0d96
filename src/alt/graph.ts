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
  const n = nodes.length;
  const indegree = new Array<number>(n).fill(0);
  const dependents: (number[] | undefined)[] = new Array<number[] | undefined>(n);
  for (let i = 0; i < n; i++) {
    // A dependency listed twice counts twice here and is released twice: the order stays right.
    const deps = nodes[i].dependencies;
    for (let k = 0; k < deps.length; k++) {
      const j = index.get(deps[k]);
      if (j === undefined) continue;
      indegree[i]++;
      (dependents[j] ??= []).push(i);
    }
  }
  const order: number[] = [];
  for (let i = 0; i < n; i++) if (indegree[i] === 0) order.push(i);
  for (let head = 0; head < order.length; head++) {
    const next = dependents[order[head]];
    if (next) for (const k of next) if (--indegree[k] === 0) order.push(k);
  }
  const leftover: number[] = [];
  if (order.length < n) for (let i = 0; i < n; i++) if (indegree[i] > 0) leftover.push(i);
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

type GraphCode = 'ALT_DUPLICATE_TASK' | 'ALT_SELF_DEPENDENCY' | 'ALT_UNKNOWN_DEPENDENCY';
const fail = (code: GraphCode, problems: Problem[]) => new AltlasError(code, problems.map((p) => p.message).join('; '), { problems });

/**
 * Checks a graph as the original runner did, then the depth limit. `listKey` is the array the
 * tasks came from (`tasks` or `segments`), for the JSON pointers. Returns null when it is sound.
 * Plain loops, and the pointers and lists of problems made only when there is one: every job
 * decoded goes through here.
 */
export function checkGraph(nodes: readonly GraphNode[], listKey: string, maxDepth: number): AltlasError | null {
  const n = nodes.length;
  const firstAt = new Map<string, number>();
  let dupes: Problem[] | null = null;
  for (let i = 0; i < n; i++) {
    const id = nodes[i].id;
    const prev = firstAt.get(id);
    if (prev === undefined) firstAt.set(id, i);
    else (dupes ??= []).push({ pointer: `/${listKey}/${i}/id`, message: `Duplicate task ID: ${id} (first at /${listKey}/${prev})` });
  }
  if (dupes) return fail('ALT_DUPLICATE_TASK', dupes);

  let selfs: Problem[] | null = null;
  let unknown: Problem[] | null = null;
  // While every dependency names an earlier task (the usual file), the chains are measured in
  // this same pass, in file order; else in a topological order, which also finds a cycle.
  let forward = true;
  const chain: number[] = [];
  let longest = 0;
  for (let i = 0; i < n; i++) {
    const { id, dependencies } = nodes[i];
    let length = 1;
    for (let k = 0; k < dependencies.length; k++) {
      const d = dependencies[k];
      const j = firstAt.get(d);
      if (d === id) (selfs ??= []).push({ pointer: `/${listKey}/${i}/dependencies/${k}`, message: `Task ${id} depends on itself` });
      else if (j === undefined) (unknown ??= []).push({ pointer: `/${listKey}/${i}/dependencies/${k}`, message: `Dependency '${d}' not found for task ID: ${id}` });
      else if (j > i) forward = false;
      else if (chain[j] + 1 > length) length = chain[j] + 1;
    }
    chain.push(length);
    if (length > longest) longest = length;
  }
  if (selfs) return fail('ALT_SELF_DEPENDENCY', selfs);
  if (unknown) return fail('ALT_UNKNOWN_DEPENDENCY', unknown);

  const depth = forward ? longest : orderedDepth(nodes, listKey, firstAt);
  if (typeof depth !== 'number') return depth;
  if (depth > maxDepth) return limitError('dependency_depth', depth, maxDepth, `/${listKey}`);
  return null;
}

/** The longest chain of a graph whose dependencies all name a task, or ALT_CYCLE naming one cycle. */
function orderedDepth(nodes: readonly GraphNode[], listKey: string, firstAt: ReadonlyMap<string, number>): number | AltlasError {
  const { order, leftover } = topologicalOrder(nodes, firstAt);
  if (leftover.length) {
    const cycle = findCycle(nodes, leftover);
    const ring = [...cycle, cycle[0]].join(' depends on ');
    return new AltlasError('ALT_CYCLE', `Circular dependency detected involving task ID: ${cycle[0]} (${ring})`, {
      problems: cycle.map((id) => ({ pointer: `/${listKey}/${firstAt.get(id)}/dependencies`, message: `task ${id} is on the cycle ${ring}` })),
      context: { cycle },
    });
  }
  return dependencyDepth(nodes, order, firstAt);
}
