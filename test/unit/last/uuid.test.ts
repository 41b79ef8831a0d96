/** The ids of a `.last`: random version 4 UUIDs written as crypto.randomUUID writes them. */
import { describe, expect, it } from '@jest/globals';
import { uuidV4 } from '../../../src/last/uuid.ts';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidV4', () => {
  it('gives version 4 UUIDs of the RFC variant, each new, across many draws of random bytes', () => {
    const ids = Array.from({ length: 1_000 }, () => uuidV4());
    for (const id of ids) expect(id).toMatch(V4);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('uses every hex digit in the random positions (not a fixed or biased pattern)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) for (const c of uuidV4().replace(/-/g, '')) seen.add(c);
    expect([...seen].sort().join('')).toBe('0123456789abcdef');
  });
});
