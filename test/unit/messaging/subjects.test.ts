import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { headerValue, lastMsgId, subjectToken } from '../../../src/contract/subjects.ts';
import { covers } from '../../../src/messaging/topology.ts';
import { versionAtLeast } from '../../../src/messaging/worker.ts';

describe('subjectToken', () => {
  it('keeps safe ids as they are', () => {
    expect(subjectToken('alt_example_001')).toBe('alt_example_001');
    expect(subjectToken('a6deb67c-255d-442c-be10-baf2fee257ec')).toBe('a6deb67c-255d-442c-be10-baf2fee257ec');
  });

  it('replaces unsafe characters and adds a digest so distinct ids stay distinct', () => {
    expect(subjectToken('a.b')).toMatch(/^a_b-[0-9a-f]{8}$/);
    expect(subjectToken('a.b')).not.toBe(subjectToken('a*b'));
    expect(subjectToken('')).toBe('_unknown');
  });

  it('always gives one valid token of at most 128 characters', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (id) => {
      const t = subjectToken(id);
      expect(t).toMatch(/^[A-Za-z0-9_-]{1,128}$/);
    }));
  });

  it('derives the .last message id from the stream sequence', () => {
    expect(lastMsgId('ALT', 42)).toBe('last:ALT:42');
  });

  it('makes header values single lines of bounded length', () => {
    expect(headerValue('a\r\nb\tc')).toBe('a b c');
    expect(headerValue('x'.repeat(600)).length).toBe(512);
  });
});

describe('covers', () => {
  it('tells whether stream subjects match every subject of a filter', () => {
    expect(covers(['alt.>'], 'alt.>')).toBe(true);
    expect(covers(['alt.>'], 'alt.submit')).toBe(true);
    expect(covers(['alt.*'], 'alt.>')).toBe(false);
    expect(covers(['alt.submit'], 'alt.>')).toBe(false);
    expect(covers(['>'], 'last.>')).toBe(true);
    expect(covers(['last.*'], 'last.x')).toBe(true);
  });
});

describe('versionAtLeast', () => {
  it('compares server versions', () => {
    expect(versionAtLeast('2.9.10', [2, 10, 4])).toBe(false);
    expect(versionAtLeast('2.10.4', [2, 10, 4])).toBe(true);
    expect(versionAtLeast('2.11.0-beta', [2, 10, 4])).toBe(true);
  });
});
