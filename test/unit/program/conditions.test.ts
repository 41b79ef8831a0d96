/** Condition operators against Python's behaviour (the original evaluator's semantics). */
import { describe, expect, it } from '@jest/globals';
import { evaluateCondition, interpolateString, type Lookup } from '../../../src/alt/program/expressions.ts';
import { pyEquals, pyStr, truthy } from '../../../src/alt/program/values.ts';

const scope = (vars: Record<string, unknown>, outputs: Record<string, { text: string }> = {}): Lookup => ({
  name: (n) => (Object.hasOwn(vars, n) ? { found: true, value: vars[n] }
    : Object.hasOwn(outputs, n) ? { found: true, value: outputs[n], json: (() => { try { return JSON.parse(outputs[n].text); } catch { return undefined; } })() }
      : { found: false }),
});
const cond = (operator: string, left: unknown, right?: unknown) => ({ operator, left, ...(right === undefined ? {} : { right }) });
const empty = scope({});

describe('conditions (Python semantics)', () => {
  // [operator, left, right, expected]: literals on both sides, as Python would evaluate `left <op> right`.
  const table: [string, unknown, unknown, boolean][] = [
    ['eq', 1, 1.0, true], ['eq', true, 1, true], ['eq', false, 0, true], ['neq', '1', 1, true], ['eq', '1', 1, false],
    ['eq', [1, [2, 3]], [1, [2, 3]], true], ['eq', { a: 1, b: [1] }, { b: [1], a: 1 }, true], ['eq', [1], [1, 2], false], ['eq', null, null, true],
    ['gt', 3, 2.5, true], ['gt', true, 0, true], ['lt', 'apple', 'banana', true], ['lt', 'Z', 'a', true], ['gt', [1, 2], [1, 1, 9], true],
    ['gt', 'b', 1, false], ['lt', 1, 'b', false], ['gt', null, 0, false], ['lte', 'x', null, false], ['gte', [1], ['a'], false],
    ['lt', '\uffff', '\u{10000}', true],
    ['contains', 'hello world', 'lo w', true], ['contains', [1, 2, 3], 2.0, true], ['contains', { k: 1 }, 'k', true], ['contains', { k: 1 }, 'v', false],
    ['not_contains', 'abc', 'z', true], ['contains', 'abc5', 5, false], ['not_contains', 'abc5', 5, false], ['contains', 42, 4, false], ['not_contains', 42, 4, false],
    ['not_contains', { k: 1 }, 'v', true], ['contains', { k: 1 }, ['k'], false], ['not_contains', { k: 1 }, ['k'], false],
    ['starts_with', 'None of it', null, true], ['ends_with', 'is True', true, true], ['starts_with', 5, 5, true], ['ends_with', [1, 'a'], "'a']", true],
  ];
  it.each(table)('%s(%j, %j) is %s', (op, left, right, expected) => {
    // Operands are literals: the left side as a value is wrapped so that it cannot be read as a name.
    const s = scope({ L: left });
    expect(evaluateCondition(cond(op, 'L', right), s)).toBe(expected);
  });

  it('reads names, dotted paths, and then literals', () => {
    const s = scope({ audience: 'tr', result: { title: 'Hello', items: ['x', 'y'] } }, { search: { text: '{"results": ["first"]}' } });
    expect(evaluateCondition(cond('eq', 'audience', 'tr'), s)).toBe(true);
    expect(evaluateCondition(cond('eq', 'result.title', 'Hello'), s)).toBe(true);
    expect(evaluateCondition(cond('eq', 'result.items.1', 'y'), s)).toBe(true);
    expect(evaluateCondition(cond('eq', 'search.results.0', 'first'), s)).toBe(true);
    expect(evaluateCondition(cond('eq', 'result.missing', 'result.missing'), s)).toBe(true); // unresolved: a literal on both sides
    expect(evaluateCondition(cond('eq', 'audience', 'audience'), s)).toBe(true); // the right side resolves too
  });

  it('not: a condition negated, a name by its truthiness, an unknown name true', () => {
    const s = scope({ yes: 'x', empty: '', zero: 0, list: [], obj: {} });
    expect(evaluateCondition(cond('not', cond('eq', 'yes', 'x')), s)).toBe(false);
    expect(evaluateCondition(cond('not', 'yes'), s)).toBe(false);
    for (const falsy of ['empty', 'zero', 'list', 'obj', 'unknown_name']) expect(evaluateCondition(cond('not', falsy), s)).toBe(true);
  });

  it('and / or on conditions, both sides evaluated', () => {
    expect(evaluateCondition(cond('and', cond('eq', 'L', 1), cond('gt', 'L', 0)), scope({ L: 1 }))).toBe(true);
    expect(evaluateCondition(cond('or', cond('eq', 'L', 2), cond('lt', 'L', 0)), scope({ L: 1 }))).toBe(false);
    expect(evaluateCondition(cond('and', cond('not', 'x'), cond('gt', 'L', 0)), scope({ L: 1 }))).toBe(true);
  });

  it('a comparison that fails in evaluation is false', () => {
    const s: Lookup = { name: () => { throw new Error('boom'); } };
    expect(evaluateCondition(cond('eq', 'a', 'b'), s)).toBe(false);
  });
});

describe('values', () => {
  it('truthiness and str() as Python', () => {
    expect(['', 0, [], {}, null, false].map(truthy)).toEqual([false, false, false, false, false, false]);
    expect(['x', 1, [0], { a: 0 }, true].map(truthy)).toEqual([true, true, true, true, true]);
    expect([null, true, false, 5, [1, 'a'], { k: 'v' }].map(pyStr)).toEqual(['None', 'True', 'False', '5', "[1, 'a']", "{'k': 'v'}"]);
    // Floats as Python's str() writes them (repr: shortest digits, exponent below 1e-4 and from 1e16).
    expect([0.5, 1e-5, 1.5e-7, 0.0001, 1e16, 1.5e16, 123456.789, -2.5e-10, 1e21, [0.1, 1e-5]].map(pyStr))
      .toEqual(['0.5', '1e-05', '1.5e-07', '0.0001', '1e+16', '1.5e+16', '123456.789', '-2.5e-10', '1e+21', '[0.1, 1e-05]']);
    expect(evaluateCondition({ operator: 'starts_with', left: 'x', right: '1e-05' }, scope({ x: 0.00001 }))).toBe(true);
    expect(evaluateCondition({ operator: 'ends_with', left: 'x', right: 'e+16' }, scope({ x: 1e16 }))).toBe(true);
    expect(pyEquals(1, true)).toBe(true);
  });

  it('interpolates ${path} as text, $path as the typed value, $$ as $, and the f-string form', () => {
    const s = scope({ n: 120, who: 'tr', obj: { a: 1 }, nothing: null, result: { index: 3 } });
    const unresolved: string[] = [];
    expect(interpolateString('at most ${n} words for ${who}: ${obj} ${nothing}|', s, unresolved)).toBe('at most 120 words for tr: {"a":1} |');
    expect(interpolateString('$obj', s, unresolved)).toEqual({ a: 1 });
    expect(interpolateString('costs $$5', s, unresolved)).toBe('costs $5');
    expect(interpolateString('f"name_{result.index}.txt"', s, unresolved)).toBe('name_3.txt');
    expect(interpolateString('${missing.part}', s, unresolved)).toBe('${missing.part}');
    expect(unresolved).toEqual(['missing.part']);
  });
});
