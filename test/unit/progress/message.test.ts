import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { decodeProgress, encodeProgress, jobProgressFilter, newAttemptId, progressMsgId, progressSubject, splitUtf8, type ProgressMessage } from '../../../src/progress/message.ts';
import { IDENTITY_CODEC, payloadCodec } from '../../../src/security/codec.ts';

const chunk: ProgressMessage = { v: 1, type: 'chunk', job: 'alt.x', alt_seq: 3, deliveries: 2, task: 'loop[1]/t', task_attempt: 1, http_attempt: 2, attempt: 'abc', index: 4, text: 'hi' };
const noHeaders = { set() {} };

describe('progress subjects and ids', () => {
  it('puts a job\'s tasks under one token each, and names a message by its attempt and index', () => {
    expect(progressSubject('progress', 'alt_1', 't1')).toBe('progress.alt_1.t1');
    expect(progressSubject('progress', 'a.b', 'loop[1]/t')).toMatch(/^progress\.a_b-[0-9a-f]{8}\.loop_1__t-[0-9a-f]{8}$/);
    expect(jobProgressFilter('live.progress', 'alt_1')).toBe('live.progress.alt_1.>');
    expect(progressMsgId('abc', 4)).toBe('progress:abc:4');
  });

  it('gives every attempt an id of its own', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newAttemptId()));
    expect(ids.size).toBe(10_000);
    expect([...ids].every((id) => /^[A-Za-z0-9_-]{13,}$/.test(id))).toBe(true);
    // Another process draws another random part.
    const other = execFileSync(process.execPath, ['--input-type=module', '-e', `import { newAttemptId } from '${new URL('../../../src/progress/message.ts', import.meta.url).pathname}'; console.log(newAttemptId());`]).toString().trim();
    expect(other.slice(0, 12)).not.toBe([...ids][0].slice(0, 12));
  });
});

describe('progress bodies', () => {
  it('round-trip, sealed under PAYLOAD_KEYS and naming the key, and refuse to open without it', () => {
    expect(decodeProgress(encodeProgress(chunk, IDENTITY_CODEC, noHeaders), IDENTITY_CODEC)).toEqual(chunk);
    const codec = payloadCodec(`k9:${Buffer.alloc(32, 1).toString('base64')}`);
    const headers = new Map<string, string>();
    const sealed = encodeProgress(chunk, codec, { set: (k, v) => void headers.set(k, v) });
    expect(headers.get('Altlas-Key-Id')).toBe('k9');
    expect(Buffer.from(sealed).toString('latin1')).not.toContain('loop[1]');
    expect(decodeProgress(sealed, codec)).toEqual(chunk);
    expect(() => decodeProgress(sealed, IDENTITY_CODEC)).toThrow(/encrypted with key k9/);
  });

  it('are null when they are not progress of this version', () => {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v));
    for (const bad of [{ ...chunk, v: 2 }, { ...chunk, type: 'other' }, { ...chunk, index: -1 }, { ...chunk, text: 3 }, { ...chunk, type: 'end' }, { ...chunk, alt_seq: '3' }]) {
      expect(decodeProgress(enc(bad), IDENTITY_CODEC)).toBeNull();
    }
    expect(decodeProgress(Buffer.from('not json'), IDENTITY_CODEC)).toBeNull();
    expect(decodeProgress(enc({ ...chunk, type: 'end', outcome: 'ok', failure: null, code: null, bytes: 2 }), IDENTITY_CODEC)).toMatchObject({ type: 'end', bytes: 2 });
  });
});

describe('splitUtf8', () => {
  it('cuts text into pieces of at most maxBytes, between code points, losing nothing', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 400 }), fc.integer({ min: 4, max: 64 }), (text, max) => {
      const pieces = splitUtf8(text, max);
      expect(pieces.join('')).toBe(text);
      for (const p of pieces) {
        expect(Buffer.byteLength(p)).toBeLessThanOrEqual(max);
        expect(p).not.toMatch(/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/);
      }
    }));
    expect(splitUtf8('😀😀😀', 5)).toEqual(['😀', '😀', '😀']);
  });
});
