/**
 * Bytes to a plain JSON-like value: UTF-8 check, syntax choice (JSON or YAML 1.2), a safe YAML
 * schema and the size limits. Throws only {@link AltlasError}.
 */
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import { AltlasError } from '../errors.ts';
import { locateJsonError } from './json-locate.ts';
import type { DecodeLimits } from './limits.ts';
import { YamlLexemeGuard, prescanJson, walkYamlCst } from './bounded.ts';
import { limitError } from './limit-error.ts';

export { limitError };

export type Syntax = 'json' | 'yaml';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Chooses the syntax from a hint (a content type such as `application/yaml`, or a file name) and
 * else from the first character: `{` or `[` is JSON, anything else YAML.
 */
export function chooseSyntax(text: string, hint?: string): Syntax {
  if (hint) {
    const h = hint.toLowerCase();
    if (/json/.test(h) || h.endsWith('.json')) return 'json';
    if (/ya?ml/.test(h)) return 'yaml';
  }
  const first = firstNonSpace(text);
  return first === '{' || first === '[' ? 'json' : 'yaml';
}

/** The first character that is not white space (as `\s` reads it), or undefined. */
function firstNonSpace(text: string): string | undefined {
  // A printable ASCII character other than the space is not white space: no regular expression.
  const c = text.charCodeAt(0);
  if (c > 32 && c < 127) return text[0];
  return /\S/.exec(text)?.[0];
}

/** Decodes UTF-8 strictly (a BOM is dropped). */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch (cause) {
    const at = firstInvalidUtf8(bytes);
    throw new AltlasError('ALT_ENCODING', `the payload is not valid UTF-8 (first bad byte at offset ${at})`, {
      cause,
      problems: [{ pointer: '', message: `invalid UTF-8 sequence at byte ${at}` }],
      context: { offset: at },
    });
  }
}

function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i];
    const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (n === 0 || i + n > bytes.length) return i;
    try {
      utf8.decode(bytes.subarray(i, i + n));
    } catch {
      return i;
    }
    i += n;
  }
  return bytes.length;
}

function lineCol(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

function syntaxError(syntax: Syntax, detail: string, line?: number, column?: number, cause?: unknown): AltlasError {
  const where = line === undefined ? '' : ` at line ${line}, column ${column}`;
  return new AltlasError('ALT_SYNTAX', `invalid ${syntax.toUpperCase()}${where}: ${detail}`, {
    cause,
    problems: [{ pointer: '', message: `${detail}${where}` }],
    context: { syntax, line, column },
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    const found = locateJsonError(text);
    const offset = found < 0 ? text.length : found;
    const { line, column } = lineCol(text, offset);
    const detail = message.split('\n')[0].replace(/, (".*|\.\.\.)[\s\S]*$/, '').replace(/ (in JSON )?at position \d+.*$/, '');
    throw syntaxError('json', detail, line, column, cause);
  }
}

/** The yaml package, loaded with the first YAML payload: a worker that only ever sees JSON skips its 76 modules at start-up. */
let yamlModule: typeof Yaml | null = null;
const yaml = (): typeof Yaml => (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof Yaml);

const YAML_OPTIONS: ConstructorParameters<typeof Yaml.Composer>[0] = { version: '1.2', schema: 'core', customTags: [], merge: false, uniqueKeys: false, strict: true, prettyErrors: false, keepSourceTokens: false };

/** The line and column of an offset, 1-based. */
function linePos(text: string, offset: number): { line: number; col: number } {
  const { line, column } = lineCol(text, offset);
  return { line, col: column };
}

/**
 * YAML 1.2 (core schema, no custom tags, no merge keys), bounded: the concrete syntax tree is
 * walked for the limits before the composer builds anything, duplicate keys are found with one
 * set per mapping (linear), and alias dereferences are capped while converting.
 */
function parseYaml(text: string, limits: DecodeLimits): unknown {
  const { Composer, Lexer, Parser, isMap, isPair, isScalar, isSeq } = yaml();
  const docs: Document.Parsed[] = [];
  const composer = new Composer(YAML_OPTIONS);
  const parser = new Parser();
  const guard = new YamlLexemeGuard(limits);
  const take = (token: ReturnType<Yaml.Parser['next']> extends Generator<infer T> ? T : never) => {
    if (token.type === 'document') walkYamlCst(token, limits);
    for (const doc of composer.next(token)) docs.push(doc);
  };
  for (const lexeme of new Lexer().lex(text)) {
    guard.see(lexeme);
    for (const token of parser.next(lexeme)) take(token);
  }
  for (const token of parser.end()) take(token);
  for (const doc of composer.end()) docs.push(doc);
  if (docs.length > 1) {
    const at = docs[1].range?.[0] ?? 0;
    const pos = linePos(text, at);
    throw syntaxError('yaml', 'Source contains multiple documents; please use YAML.parseAllDocuments()', pos.line, pos.col);
  }
  const doc = docs[0];
  if (!doc) throw syntaxError('yaml', 'no YAML document');
  const problem = doc.errors[0] ?? doc.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
  if (problem) {
    const pos = linePos(text, problem.pos[0]);
    const detail = problem.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw syntaxError('yaml', detail, pos.line, pos.col, problem);
  }
  // Duplicate keys, one set per mapping (the yaml package's own check is quadratic in the keys).
  const stack: unknown[] = [doc.contents];
  while (stack.length) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (isScalar(pair.key)) {
          const k = String(pair.key.value);
          if (seen.has(k)) {
            const pos = linePos(text, (pair.key as YamlNode).range?.[0] ?? 0);
            throw syntaxError('yaml', 'Map keys must be unique', pos.line, pos.col);
          }
          seen.add(k);
        }
        stack.push(pair.key, pair.value);
      }
    } else if (isSeq(node)) stack.push(...node.items);
    else if (isPair(node)) stack.push(node.key, node.value);
  }
  try {
    return doc.toJS({ maxAliasCount: limits.maxYamlAliases });
  } catch (cause) {
    if (cause instanceof ReferenceError && /alias/i.test(cause.message)) {
      throw limitError('yaml_aliases', limits.maxYamlAliases + 1, limits.maxYamlAliases);
    }
    throw cause;
  }
}

/**
 * Walks the value without recursion and enforces the nesting, string-length, keys and nodes
 * limits, so that nothing later (schema, normalisation, logging) meets an unbounded structure.
 * The fast pass keeps no paths; only when it finds a breach does a second pass work out the
 * JSON pointer.
 */
export function checkShape(value: unknown, limits: DecodeLimits): void {
  const values: unknown[] = [value];
  const depths: number[] = [0];
  let nodes = 0;
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (++nodes > limits.maxNodes) throw limitError('nodes', nodes, limits.maxNodes);
    if (typeof v === 'string') {
      if (v.length > limits.maxStringLength) throw breach(value, limits);
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= limits.maxNesting) throw breach(value, limits);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        values.push(v[i]);
        depths.push(depth + 1);
      }
    } else {
      let keys = 0;
      for (const key in v) {
        if (key.length > limits.maxStringLength || ++keys > limits.maxKeys) throw breach(value, limits);
        values.push((v as Record<string, unknown>)[key]);
        depths.push(depth + 1);
      }
    }
  }
}

/** The slow pass of {@link checkShape}: finds the first breach again, with its pointer. */
function breach(value: unknown, limits: DecodeLimits): AltlasError {
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: '' }];
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop()!;
    if (typeof v === 'string') {
      if (v.length > limits.maxStringLength) return limitError('string_length', v.length, limits.maxStringLength, path);
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= limits.maxNesting) return limitError('nesting', depth + 1, limits.maxNesting, path);
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v as Record<string, unknown>);
    if (!Array.isArray(v) && entries.length > limits.maxKeys) return limitError('keys', entries.length, limits.maxKeys, path);
    for (const [key, x] of entries) {
      if (key.length > limits.maxStringLength) return limitError('string_length', key.length, limits.maxStringLength, path);
      stack.push({ v: x, depth: depth + 1, path: `${path}/${escapePointer(key)}` });
    }
  }
  return limitError('nesting', limits.maxNesting + 1, limits.maxNesting);
}

/** Escapes one JSON pointer token (RFC 6901). */
export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Characters of JSON from which the text is scanned for the limits before it is parsed. */
const PRESCAN_FROM = 16_384;

/** Parses a payload into a value; `hint` is a content type or a file name. */
export function parsePayload(bytes: Uint8Array, limits: DecodeLimits, hint?: string): { value: unknown; syntax: Syntax } {
  if (bytes.length > limits.maxBytes) throw limitError('bytes', bytes.length, limits.maxBytes);
  const text = decodeUtf8(bytes);
  if (firstNonSpace(text) === undefined) {
    throw new AltlasError('ALT_EMPTY', 'the payload is empty', { problems: [{ pointer: '', message: 'no content' }] });
  }
  const syntax = chooseSyntax(text, hint);
  let value: unknown;
  try {
    // Small JSON is parsed first and checked after (checkShape); larger JSON is scanned before
    // anything is built, so that a limit is refused without the memory of the parse.
    if (syntax === 'json' && text.length > PRESCAN_FROM) prescanJson(text, limits);
    value = syntax === 'json' ? parseJson(text) : parseYaml(text, limits);
  } catch (cause) {
    if (cause instanceof RangeError) throw limitError('nesting', limits.maxNesting + 1, limits.maxNesting);
    throw cause;
  }
  if (syntax === 'yaml' || !jsonWithinShape(text, limits)) checkShape(value, limits);
  return { value, syntax };
}

/**
 * True when a JSON text cannot break a shape limit, so that {@link checkShape} (a walk of every
 * value) is not needed: every value takes at least one character of the text, every key of one
 * object at least four (`"":0`), every string its length and its quotes, and every level of
 * nesting an opening bracket. Not for YAML, where an alias repeats a value without its text.
 */
export function jsonWithinShape(text: string, limits: DecodeLimits): boolean {
  const n = text.length;
  if (n > limits.maxNodes || n >= limits.maxStringLength || n > 4 * limits.maxKeys) return false;
  let brackets = 0;
  for (let i = text.indexOf('{'); i >= 0; i = text.indexOf('{', i + 1)) if (++brackets > limits.maxNesting) return false;
  for (let i = text.indexOf('['); i >= 0; i = text.indexOf('[', i + 1)) if (++brackets > limits.maxNesting) return false;
  return true;
}
