/**
 * Values of 2.0 programs with the semantics of the original evaluator (Python): truthiness,
 * equality, ordering, `str()`, variable type checks and the conversion of a function's return
 * value. Pure; every function here is total (it never throws).
 */
import { VARIABLE_TYPES } from '../forms/words.ts';

export type VariableType = (typeof VARIABLE_TYPES)[number];

export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Python truthiness: "", 0, [], {}, null and false are false. */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (typeof v === 'number' && Number.isNaN(v)) return true;
  if (Array.isArray(v)) return v.length > 0;
  if (isPlainObject(v)) return Object.keys(v).length > 0;
  return true;
}

const isNumeric = (v: unknown): v is number | boolean => typeof v === 'number' || typeof v === 'boolean';

/** Python `==`: 1 == 1.0, true == 1, deep equality of lists and dicts, "1" != 1. */
export function pyEquals(a: unknown, b: unknown): boolean {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (isNumeric(a) && isNumeric(b)) return Number(a) === Number(b);
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  if (a === null || b === null) return a === b;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => pyEquals(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && pyEquals(a[k], b[k]));
  }
  return false;
}

/** Compares strings by code point (Python), not by UTF-16 unit (JavaScript's `<`). */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

class Incomparable extends Error {}

/** Python ordering: -1, 0 or 1; throws {@link Incomparable} for pairs Python refuses to order. */
function pyCompare(a: unknown, b: unknown): number {
  if (isNumeric(a) && isNumeric(b)) {
    const x = Number(a);
    const y = Number(b);
    return x === y ? 0 : x < y ? -1 : 1;
  }
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b);
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (!pyEquals(a[i], b[i])) return pyCompare(a[i], b[i]);
    return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
  }
  throw new Incomparable();
}

/** Ordering as a predicate: any pair Python would refuse (null included) is false. */
export function pyOrder(op: 'gt' | 'lt' | 'gte' | 'lte', a: unknown, b: unknown): boolean {
  let c: number;
  try {
    c = pyCompare(a, b);
  } catch {
    return false;
  }
  return op === 'gt' ? c > 0 : op === 'lt' ? c < 0 : op === 'gte' ? c >= 0 : c <= 0;
}

/** `right in left`: true / false, or null where Python raises (the pair makes no sense). */
export function pyContains(left: unknown, right: unknown): boolean | null {
  if (typeof left === 'string') return typeof right === 'string' ? left.includes(right) : null;
  if (Array.isArray(left)) return left.some((x) => pyEquals(x, right));
  if (isPlainObject(left)) {
    if (Array.isArray(right) || isPlainObject(right)) return null; // unhashable
    return typeof right === 'string' && Object.hasOwn(left, right);
  }
  return null;
}

function pyRepr(v: unknown): string {
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return pyStr(v);
}

/**
 * Python's `repr()` of a float, which `str()` gives too: the shortest digits that read back the
 * same, in fixed notation for exponents -4 to 15 (`0.0001`, `1.5`, `5.0`), else in exponent
 * notation with a sign and at least two digits (`1e-05`, `1.5e+16`).
 */
export function pyFloat(x: number): string {
  const [mantissa, e] = x.toExponential().split('e');
  const exp = Number(e);
  if (exp < -4 || exp >= 16) return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  // JavaScript writes these exponents in fixed notation with the same shortest digits.
  const fixed = String(x);
  return fixed.includes('.') ? fixed : `${fixed}.0`;
}

/**
 * Python `str()`: None, True, 5, 0.5, 1e-05, 1e+16, [1, 'a'], {'k': 1}. A number with a fraction
 * is a float (`pyFloat`); a whole number below 10^16 prints as an int, since JSON and YAML values
 * reach the program as plain numbers and a whole float (`5.0`) cannot be told from an int; from
 * 10^16 on a number is a float in JavaScript and prints as Python prints a float (`1e+16`).
 */
export function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'nan';
    if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
    return Number.isInteger(v) && Math.abs(v) < 1e16 ? String(v) : pyFloat(v);
  }
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (isPlainObject(v)) return `{${Object.entries(v).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  return String(v);
}

/** A value as text inside a string: a string as it is, null as empty, anything else as JSON. */
export function asText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return String(v);
  }
}

/** True when `value` may be held by a variable of `type` (null fits every type; number also takes a boolean). */
export function fitsType(type: VariableType, value: unknown): boolean {
  if (value === null || value === undefined || type === 'any') return true;
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean';
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isPlainObject(value);
  }
}

const tryJson = (text: string): { ok: true; value: unknown } | { ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
};

/**
 * Converts a function's return value by its `return_type`: `string` trimmed text, `number` a
 * finite number, `boolean` true/false in any case, `array`/`object` by JSON, `any` JSON when the
 * text parses, else the text. `{ok: false}` when it does not convert (FUNCTION_RETURN).
 */
export function convertReturn(type: VariableType, value: unknown): { ok: true; value: unknown } | { ok: false } {
  switch (type) {
    case 'string':
      return { ok: true, value: asText(value).trim() };
    case 'number': {
      if (typeof value === 'number') return Number.isFinite(value) ? { ok: true, value } : { ok: false };
      if (typeof value === 'string' && value.trim() !== '') {
        const n = Number(value.trim());
        return Number.isFinite(n) ? { ok: true, value: n } : { ok: false };
      }
      return { ok: false };
    }
    case 'boolean': {
      if (typeof value === 'boolean') return { ok: true, value };
      const t = typeof value === 'string' ? value.trim().toLowerCase() : '';
      return t === 'true' ? { ok: true, value: true } : t === 'false' ? { ok: true, value: false } : { ok: false };
    }
    case 'array':
    case 'object': {
      const parsed = typeof value === 'string' ? tryJson(value.trim()) : { ok: true as const, value };
      if (!parsed.ok) return { ok: false };
      return (type === 'array' ? Array.isArray(parsed.value) : isPlainObject(parsed.value)) ? parsed : { ok: false };
    }
    case 'any': {
      if (typeof value !== 'string') return { ok: true, value };
      const parsed = tryJson(value.trim());
      return parsed.ok ? parsed : { ok: true, value };
    }
  }
}

/**
 * The elements a `for_each` iterates: an array's elements; for a string, the elements of a JSON
 * array when it parses as one, else its non-blank lines; null for anything else (LOOP_ITERABLE).
 */
export function iterableItems(value: unknown): unknown[] | null {
  if (Array.isArray(value)) return value;
  if (typeof value === 'string') {
    const parsed = tryJson(value.trim());
    if (parsed.ok && Array.isArray(parsed.value)) return parsed.value;
    return value.split(/\r?\n/).filter((l) => l.trim() !== '').map((l) => l.trim());
  }
  return null;
}

/** Reads `parts` below `value`: object keys and array indexes; a string that holds JSON is read as that JSON. */
export function walkPath(value: unknown, parts: readonly string[]): { found: true; value: unknown } | { found: false } {
  let v = value;
  for (const part of parts) {
    if (typeof v === 'string') {
      const parsed = tryJson(v);
      if (!parsed.ok) return { found: false };
      v = parsed.value;
    }
    if (Array.isArray(v)) {
      if (!/^\d+$/.test(part)) return { found: false };
      const i = Number(part);
      if (i >= v.length) return { found: false };
      v = v[i];
    } else if (isPlainObject(v)) {
      if (!Object.hasOwn(v, part)) return { found: false };
      v = v[part];
    } else return { found: false };
  }
  return { found: true, value: v };
}
