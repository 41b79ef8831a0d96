/**
 * The decoder's shortcuts give the answers of the longer way they skip: the chains measured in
 * file order.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { decodeErr, decodeOk, runnerDoc } from '../../helpers/alt.ts';

describe('decoder shortcuts', () => {
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
});
