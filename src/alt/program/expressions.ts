/**
 * Names, paths, conditions and interpolation of 2.0 programs (control-flow.md §2 and §4). Pure:
 * everything reads values through a {@link Lookup}, so it is tested without an engine.
 */
import { asText, pyContains, pyEquals, pyOrder, pyStr, truthy, walkPath } from './values.ts';

/** What a name gives: a variable's value, or a task's readable value (its output, and the output's text as JSON). */
export type Found = { found: true; value: unknown; json?: unknown } | { found: false };

/** Resolves the first part of a path: variables innermost first, then task values innermost first. */
export interface Lookup {
  name(name: string): Found;
}

const NOT_FOUND: Found = { found: false };

/** Reads a dotted path (`result.title`, `items.0`, `search.results.0`); a task's output is read, then its text as JSON. */
export function resolvePath(path: string, lookup: Lookup): Found {
  const parts = path.split('.');
  const head = lookup.name(parts[0]);
  if (!head.found) return NOT_FOUND;
  if (parts.length === 1) return head;
  const rest = parts.slice(1);
  const direct = walkPath(head.value, rest);
  if (direct.found) return direct;
  if (head.json !== undefined) {
    const viaText = walkPath(head.json, rest);
    if (viaText.found) return viaText;
  }
  return NOT_FOUND;
}

export interface ConditionNode {
  operator: string;
  left: unknown;
  right?: unknown;
}

const isCondition = (v: unknown): v is ConditionNode =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { operator?: unknown }).operator === 'string';

/** An operand: a condition is its boolean, a string that resolves is its value, anything else a literal. */
function operand(v: unknown, lookup: Lookup): unknown {
  if (isCondition(v)) return evaluateCondition(v, lookup);
  if (typeof v === 'string') {
    const r = resolvePath(v, lookup);
    if (r.found) return r.value;
  }
  return v;
}

/** Evaluates a condition with the original evaluator's semantics; any error makes a comparison false. */
export function evaluateCondition(c: ConditionNode, lookup: Lookup): boolean {
  try {
    switch (c.operator) {
      case 'not': {
        if (isCondition(c.left)) return !evaluateCondition(c.left, lookup);
        if (typeof c.left === 'string') {
          const r = resolvePath(c.left, lookup);
          return !truthy(r.found ? r.value ?? false : false);
        }
        return !truthy(c.left);
      }
      case 'and': {
        const a = operand(c.left, lookup);
        const b = operand(c.right, lookup);
        return truthy(a) && truthy(b);
      }
      case 'or': {
        const a = operand(c.left, lookup);
        const b = operand(c.right, lookup);
        return truthy(a) || truthy(b);
      }
    }
    const left = operand(c.left, lookup);
    const right = operand(c.right, lookup);
    switch (c.operator) {
      case 'eq':
        return pyEquals(left, right);
      case 'neq':
        return !pyEquals(left, right);
      case 'gt':
      case 'lt':
      case 'gte':
      case 'lte':
        return pyOrder(c.operator, left, right);
      case 'contains':
        return pyContains(left, right) === true;
      case 'not_contains':
        return pyContains(left, right) === false;
      case 'starts_with':
        return pyStr(left).startsWith(pyStr(right));
      case 'ends_with':
        return pyStr(left).endsWith(pyStr(right));
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** Names a condition reads (variable names and the first part of paths), for W_WHILE_NO_WRITE. */
export function conditionReads(c: unknown, out: Set<string> = new Set()): Set<string> {
  if (isCondition(c)) {
    for (const side of [c.left, c.right]) {
      if (isCondition(side)) conditionReads(side, out);
      else if (typeof side === 'string') out.add(side.split('.')[0]);
    }
  }
  return out;
}

/** A path: a name (letters, digits, `_`, `-`; a segment id may be a uuid) then `.part`s. */
const PATH = '[A-Za-z0-9_][\\w-]*(?:\\.[\\w-]+)*';
const WHOLE = new RegExp(`^\\$(${PATH})$`);
const F_STRING = /^f(["'])([\s\S]*)\1$/;
const EMBEDDED = new RegExp(`\\$\\$|\\$\\{\\s*(${PATH})\\s*\\}`, 'g');
const F_EMBEDDED = new RegExp(`\\{\\s*(${PATH})\\s*\\}`, 'g');

/** Interpolation results: the new value and the references that did not resolve (left as written). */
export interface Interpolated<T> {
  value: T;
  unresolved: string[];
}

/** True when a string may hold a reference (a fast test that skips most text). */
export const mayInterpolate = (s: string): boolean => s.includes('$') || (s.length > 2 && s[0] === 'f' && (s[1] === '"' || s[1] === "'"));

/**
 * Interpolates one string: a whole `$path` gives the typed value; `${path}` inside text is the
 * value as text (string as is, null empty, else JSON); `$$` is `$`; the original's f-string form
 * `f"name_{result.index}.txt"` is read the same way.
 */
export function interpolateString(s: string, lookup: Lookup, unresolved: string[]): unknown {
  if (!mayInterpolate(s)) return s;
  const whole = WHOLE.exec(s);
  if (whole) {
    const r = resolvePath(whole[1], lookup);
    if (r.found) return r.value;
    unresolved.push(whole[1]);
    return s;
  }
  const f = F_STRING.exec(s);
  if (f) {
    return f[2].replace(F_EMBEDDED, (m, path: string) => {
      const r = resolvePath(path, lookup);
      if (r.found) return asText(r.value);
      unresolved.push(path);
      return m;
    });
  }
  return s.replace(EMBEDDED, (m, path: string | undefined) => {
    if (path === undefined) return '$';
    const r = resolvePath(path, lookup);
    if (r.found) return asText(r.value);
    unresolved.push(path);
    return m;
  });
}

/** Interpolates every string inside a value (arrays and objects walked, keys kept). */
export function interpolateValue(v: unknown, lookup: Lookup, unresolved: string[], depth = 0): unknown {
  if (typeof v === 'string') return interpolateString(v, lookup, unresolved);
  if (depth > 64 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => interpolateValue(x, lookup, unresolved, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = interpolateValue(x, lookup, unresolved, depth + 1);
  return out;
}
