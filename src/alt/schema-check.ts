/**
 * Compiles the generated JSON Schemas of `schemas/` with ajv once, and turns ajv's errors into
 * problems a person who wrote the file understands, each with its JSON pointer.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import * as ajvFormats from 'ajv-formats';
import type { Problem } from '../errors.ts';
import { NAME_PATTERN } from './forms/words.ts';

/** A JSON Schema as ajv takes it. */
export type JsonSchema = Record<string, unknown>;

/**
 * A schema of `schemas/`, without its `$schema` line. Those files are generated from the TypeBox
 * definitions (`npm run schemas`; test/unit/schemas.test.ts checks they agree), so that a process
 * compiles them without loading TypeBox.
 */
export function schemaFile(file: string): JsonSchema {
  const { $schema: _draft, ...schema } = JSON.parse(readFileSync(new URL(`../../schemas/${file}`, import.meta.url), 'utf8')) as JsonSchema;
  return schema;
}

type FormatsPlugin = (ajv: Ajv) => Ajv;
const addFormats = ((ajvFormats as unknown as { default: FormatsPlugin }).default ?? ajvFormats) as FormatsPlugin;

/**
 * A new ajv instance with the formats of ajv-formats, collecting all errors. It does not check
 * the schemas it compiles against the JSON Schema meta-schema: they are ours, and compiling the
 * meta-schema costs each instance 30–60 ms at start-up; test/unit/schemas.test.ts checks every one.
 */
export function newAjv(options: Options = {}): Ajv {
  return addFormats(new Ajv({ allErrors: true, strict: false, validateSchema: false, ...options }));
}

const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const digits = (s: string, from: number, to: number): number => {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
};

/**
 * ajv-formats' verdict on a `date-time` written `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (upper case, a
 * fraction of 1 to 9 digits), read without its regular expressions, splitting and matching
 * arrays; undefined for any other spelling, which ajv-formats' own check reads. The same rules:
 * a month of 1 to 12, a day within the month (29 February in a leap year), hours to 23, minutes
 * to 59, seconds below 60, and 23:59:60 (a leap second).
 */
export function canonicalDateTime(s: string): boolean | undefined {
  const n = s.length;
  if (n < 20 || n > 30 || s.charCodeAt(n - 1) !== 90 /* Z */) return undefined;
  if (s[4] !== '-' || s[7] !== '-' || s[10] !== 'T' || s[13] !== ':' || s[16] !== ':') return undefined;
  if (n > 20 && (s[19] !== '.' || n === 21 || digits(s, 20, n - 1) < 0)) return undefined;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 7);
  const day = digits(s, 8, 10);
  const hr = digits(s, 11, 13);
  const min = digits(s, 14, 16);
  const sec = digits(s, 17, 19);
  if (year < 0 || month < 0 || day < 0 || hr < 0 || min < 0 || sec < 0) return undefined;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (month < 1 || month > 12 || day < 1 || day > (month === 2 && leap ? 29 : DAYS[month])) return false;
  return (hr <= 23 && min <= 59 && sec < 60) || (hr === 23 && min === 59 && sec === 60);
}

type FormatDef = { validate: (s: string) => boolean; compare: (a: string, b: string) => number | undefined };

/** An instance with ajv-formats' `date-time` replaced by one that reads its usual spelling with {@link canonicalDateTime} first. */
function withFastDateTime(instance: Ajv): Ajv {
  const full = instance.formats['date-time'] as FormatDef;
  return instance.addFormat('date-time', { validate: (s: string) => canonicalDateTime(s) ?? full.validate(s), compare: full.compare });
}

/** The decoder's instance: verbose, for the "got ..." part of messages. */
export const ajv: Ajv = withFastDateTime(newAjv({ verbose: true }));

/** Stops at the first error: the fast path for documents that are valid (most are). */
const fastAjv: Ajv = withFastDateTime(newAjv({ allErrors: false }));

/** A compiled schema: a quick yes/no, then every problem only for a document that fails. */
export interface Checker<T> {
  (doc: unknown): doc is T;
  problems(doc: unknown): Problem[];
}

/**
 * Compiles a schema twice (fast, and all errors with data), each on first use: a process that
 * only ever sees valid 1.0 files never pays for the other validators (start-up time and memory).
 */
export function compile<T>(schema: JsonSchema): Checker<T> {
  let fast: ValidateFunction<T> | null = null;
  let detailed: ValidateFunction<T> | null = null;
  const check = ((doc: unknown) => (fast ??= fastAjv.compile<T>(schema))(doc)) as Checker<T>;
  check.problems = (doc) => {
    detailed ??= ajv.compile<T>(schema);
    return detailed(doc) ? [] : toProblems(detailed.errors);
  };
  return check;
}

/** What a value is, never what it says: schema errors must not carry secrets from the document. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : `a string of ${value.length} character${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'a whole number' : 'a number';
  return `${typeof value} ${String(value)}`;
}

const ARTICLE: Record<string, string> = {
  string: 'a string', number: 'a number', integer: 'an integer', boolean: 'true or false',
  object: 'an object', array: 'a list', null: 'null',
};

function typeMessage(expected: string | string[], data: unknown): string {
  const list = (Array.isArray(expected) ? expected : String(expected).split(',')).map((t) => ARTICLE[t] ?? t);
  return `must be ${list.join(' or ')}, got ${describe(data)}`;
}

function message(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `missing required field "${String(p.missingProperty)}"`;
    case 'type':
      return typeMessage(p.type as string | string[], e.data);
    case 'enum': {
      const allowed = p.allowedValues as unknown[];
      const shown = allowed.filter((v) => v !== null).map((v) => JSON.stringify(v)).join(', ');
      return `must be one of ${shown}${allowed.includes(null) ? ' (or null)' : ''}, got ${describe(e.data)}`;
    }
    case 'pattern':
      if (p.pattern === '\\S') return 'must not be empty';
      if (p.pattern === NAME_PATTERN) return `must be a name (a letter or _ then letters, digits or _), got ${describe(e.data)}`;
      return `must match ${String(p.pattern)}, got ${describe(e.data)}`;
    case 'format':
      return p.format === 'date-time'
        ? `must be an RFC 3339 date-time with a zone, such as 2025-04-26T19:32:00Z, got ${describe(e.data)}`
        : `must be a valid ${String(p.format)}, got ${describe(e.data)}`;
    case 'minLength':
      return 'must not be empty';
    case 'minimum':
    case 'maximum':
      return `must be ${String(p.comparison)} ${String(p.limit)}, got ${describe(e.data)}`;
    case 'anyOf':
      return `must be a well-formed value, got ${describe(e.data)}`;
    case 'additionalProperties':
      return `has an unknown field "${String(p.additionalProperty)}"`;
    default:
      return e.message ?? `breaks the schema rule "${e.keyword}"`;
  }
}

/**
 * Converts ajv errors to problems: one per distinct (pointer, message), in document order. The
 * "must be null" branch of a nullable `anyOf` is dropped when its sibling branch says more.
 */
export function toProblems(errors: readonly ErrorObject[] | null | undefined): Problem[] {
  if (!errors) return [];
  const detailed = new Set(errors.filter((e) => e.keyword !== 'anyOf').map((e) => e.instancePath));
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const e of errors) {
    if (e.keyword === 'anyOf' && detailed.has(e.instancePath)) continue;
    if (e.keyword === 'type' && e.params.type === 'null' && e.schemaPath.includes('/anyOf/')) continue;
    const pointer = e.keyword === 'required' ? `${e.instancePath}/${String(e.params.missingProperty)}` : e.instancePath;
    const text = message(e);
    const key = `${pointer}\u0000${text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ pointer, message: text });
  }
  return out;
}
