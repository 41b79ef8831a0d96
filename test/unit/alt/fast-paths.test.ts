/**
 * The decoder's shortcuts give the answers of the longer way they skip: the shape walk skipped
 * for small JSON, the date-time format read without regular expressions, the chains measured in
 * file order, the first non-space character found without a regular expression.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { checkShape, chooseSyntax, jsonWithinShape } from '../../../src/alt/parse.ts';
import { canonicalDateTime, newAjv } from '../../../src/alt/schema-check.ts';
import type { DecodeLimits } from '../../../src/alt/limits.ts';
import { DEFAULT_DECODE_LIMITS } from '../../../src/alt/limits.ts';
import { decodeErr, decodeOk, runnerDoc } from '../../helpers/alt.ts';

describe('decoder shortcuts', () => {
  it('a JSON text jsonWithinShape passes never breaks a shape limit (checkShape finds nothing)', () => {
    const limits = fc.record({
      maxNodes: fc.integer({ min: 0, max: 60 }),
      maxStringLength: fc.integer({ min: 0, max: 60 }),
      maxKeys: fc.integer({ min: 0, max: 12 }),
      maxNesting: fc.integer({ min: 0, max: 8 }),
    });
    let passed = 0;
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), limits, fc.boolean(), (value, l, pretty) => {
      const text = pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
      const all: DecodeLimits = { ...DEFAULT_DECODE_LIMITS, ...l };
      if (!jsonWithinShape(text, all)) return;
      passed++;
      expect(() => checkShape(JSON.parse(text), all)).not.toThrow();
    }), { numRuns: 6000 });
    // The property says something only if the shortcut is taken often enough.
    expect(passed).toBeGreaterThan(500);
  });

  it('the small-JSON shortcut is taken for the sample-sized file and not past any bound', () => {
    const text = JSON.stringify(runnerDoc([{ id: 'a' }, { id: 'b', dependencies: ['a'] }]));
    expect(jsonWithinShape(text, DEFAULT_DECODE_LIMITS)).toBe(true);
    expect(jsonWithinShape(text, { ...DEFAULT_DECODE_LIMITS, maxNodes: text.length - 1 })).toBe(false);
    expect(jsonWithinShape(text, { ...DEFAULT_DECODE_LIMITS, maxStringLength: text.length })).toBe(false);
    expect(jsonWithinShape(text, { ...DEFAULT_DECODE_LIMITS, maxKeys: Math.floor((text.length - 1) / 4) })).toBe(false);
    expect(jsonWithinShape('[[[1]]]', { ...DEFAULT_DECODE_LIMITS, maxNesting: 2 })).toBe(false);
    expect(jsonWithinShape('[[[1]]]', { ...DEFAULT_DECODE_LIMITS, maxNesting: 3 })).toBe(true);
  });

  it('a small JSON payload still gets each shape limit, with its pointer', () => {
    const doc = (metadata: unknown) => runnerDoc([{ id: 'a' }], { metadata });
    const cases: [unknown, Partial<DecodeLimits>, string, string][] = [
      [doc({ a: { b: { c: {} } } }), { maxNesting: 3 }, 'nesting', '/metadata/a/b'],
      [doc({ s: 'x'.repeat(40) }), { maxStringLength: 39 }, 'string_length', '/metadata/s'],
      [doc(Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, i]))), { maxKeys: 8 }, 'keys', '/metadata'],
      [doc({ list: Array.from({ length: 40 }, (_, i) => i) }), { maxNodes: 40 }, 'nodes', ''],
    ];
    for (const [d, limits, limit, pointer] of cases) {
      const e = decodeErr(d, 'ALT_LIMIT', { limits });
      expect([limit, e.context.limit, e.problems[0]?.pointer ?? '']).toEqual([limit, limit, pointer]);
    }
  });

  it('the date-time format gives ajv-formats\' own verdict, and reads the usual spelling itself', () => {
    const full = newAjv().formats['date-time'] as { validate: (s: string) => boolean };
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
    const spelt = fc.tuple(
      fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')), two(19), two(39), fc.constantFrom('T', 'T', 't', ' ', 'x'),
      two(29), two(69), two(69), fc.oneof(fc.constant(''), fc.constant('.'), fc.stringMatching(/^\.\d{1,20}$/)), fc.constantFrom('Z', 'Z', 'Z', 'z', '+01:00', '-0530', '', 'ZZ'),
    ).map(([y, mo, d, sep, h, mi, s, frac, zone]) => `${y}-${mo}-${d}${sep}${h}:${mi}:${s}${frac}${zone}`);
    let read = 0;
    fc.assert(fc.property(fc.oneof(spelt, fc.string({ maxLength: 30 })), (s) => {
      const own = canonicalDateTime(s);
      if (own !== undefined) read++;
      expect(own ?? full.validate(s)).toBe(full.validate(s));
    }), { numRuns: 20_000 });
    expect(read).toBeGreaterThan(400);
    for (const s of ['2024-02-29T00:00:00Z', '2025-02-29T00:00:00Z', '1900-02-29T12:00:00Z', '2000-02-29T12:00:00Z', '2025-04-30T23:59:60Z', '2025-04-30T23:58:60Z', '2025-04-31T10:00:00.5Z', '2025-12-31T24:00:00Z', '2025-06-15T10:60:00.123456789Z', '2025-06-15T10:10:59.999999999Z', '2025-06-15T10:10:59.99999999999999999Z']) {
      expect([s, canonicalDateTime(s) ?? full.validate(s)]).toEqual([s, full.validate(s)]);
      // Fractions of up to 9 digits are read here; longer ones (which may round to the next second) by ajv-formats.
      expect([s, canonicalDateTime(s) === undefined]).toEqual([s, s.length > 30]);
    }
  });

  it('the dependency depth is the longest chain whatever the order of the tasks in the file', () => {
    const dag = fc.integer({ min: 1, max: 30 }).chain((n) =>
      fc.tuple(...Array.from({ length: n }, (_, i) => fc.uniqueArray(fc.nat({ max: Math.max(0, i - 1) }), { maxLength: i === 0 ? 0 : Math.min(i, 3) }))));
    fc.assert(fc.property(dag, fc.infiniteStream(fc.nat()), (deps, rand) => {
      const longest: number[] = [];
      deps.forEach((d, i) => { longest[i] = 1 + Math.max(0, ...d.map((j) => longest[j])); });
      const depth = Math.max(...longest);
      const tasks = deps.map((d, i) => ({ id: `t${i}`, dependencies: d.map((j) => `t${j}`) }));
      // The same tasks in file order (every dependency earlier) and shuffled.
      const shuffled = [...tasks];
      const it = rand[Symbol.iterator]();
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = it.next().value % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
      }
      for (const list of [tasks, shuffled]) {
        expect(decodeOk(runnerDoc(list), { limits: { maxDependencyDepth: depth } }).job.tasks).toHaveLength(tasks.length);
        if (depth > 1) expect(decodeErr(runnerDoc(list), 'ALT_LIMIT', { limits: { maxDependencyDepth: depth - 1 } }).context).toMatchObject({ limit: 'dependency_depth', value: depth });
      }
    }), { numRuns: 300 });
  });

  it('a chain listed backwards is measured as one listed forwards', () => {
    const forwards = [{ id: 'a' }, { id: 'b', dependencies: ['a'] }, { id: 'c', dependencies: ['b'] }];
    const backwards = [{ id: 'c', dependencies: ['b'] }, { id: 'b', dependencies: ['a'] }, { id: 'a' }];
    for (const list of [forwards, backwards]) {
      expect(decodeErr(runnerDoc(list), 'ALT_LIMIT', { limits: { maxDependencyDepth: 2 } }).context).toMatchObject({ limit: 'dependency_depth', value: 3, cap: 2 });
    }
    expect(decodeErr(runnerDoc([{ id: 'a', dependencies: ['b'] }, { id: 'b', dependencies: ['a'] }]), 'ALT_CYCLE').context.cycle).toEqual(['a', 'b']);
  });

  it('white space other than ASCII before the document: blank, or sniffed as before', () => {
    decodeErr('\u00a0\u2003\u3000\n', 'ALT_EMPTY');
    expect(chooseSyntax('\u00a0 {"a":1}')).toBe('json');
    expect(chooseSyntax('\u2028[1]')).toBe('json');
    expect(chooseSyntax('\u00a0a: 1')).toBe('yaml');
    expect(chooseSyntax('{"a":1}', '')).toBe('json');
    expect(chooseSyntax('a: 1', 'job.JSON')).toBe('json');
    // Read as JSON, which allows no such space.
    expect(decodeErr(`\u00a0${JSON.stringify(runnerDoc([{ id: 'a' }]))}`, 'ALT_SYNTAX').context.syntax).toBe('json');
  });
});
