/** The text patterns alone (no `:`, `=` or `@` around them to trip the quick pre-check) and the key verdicts. */
import { describe, expect, it } from '@jest/globals';
import { REDACTED, isSecretKey, redactText, redactValue } from '../../../src/security/redact.ts';

const ALONE = [
  'sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234567890', 'sk-ant-api03-ABCDEFGHIJKLMNOPQRSTUVWXyz', 'AKIAIOSFODNN7EXAMPLE', 'ASIAIOSFODNN7EXAMPLE',
  'ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ', 'github_pat_abcdefghijklmnopqrstuvwxyz0123456789', 'glpat-abcdefghijklmnopqrstu',
  'xoxb-123456789012-abcdefghijklmnop', 'AIzaSyA-1234567890abcdefghijklmnopqrstu', 'sk_live_51HabcdefghijklmnopQRSTUvw',
  'rk_test_51HabcdefghijklmnopQRSTUvw', 'pk_live_51HabcdefghijklmnopQRSTUvw',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
  'SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY',
];

describe('redaction', () => {
  it('masks every provider key format standing alone in a text', () => {
    for (const secret of ALONE) expect([secret, redactText(`the value is ${secret} here`)]).toEqual([secret, `the value is ${REDACTED} here`]);
  });

  it('leaves ordinary text as it is', () => {
    const text = 'Summarise the quarterly report of region 3 in one paragraph';
    expect(redactText(text)).toBe(text);
  });

  it('judges keys by their words, remembering verdicts per list of extra fragments', () => {
    expect(isSecretKey('X-Api-Key')).toBe(true);
    expect(isSecretKey('openaiKey')).toBe(true);
    expect(isSecretKey('keyboard')).toBe(false);
    expect(isSecretKey('customer_ref')).toBe(false);
    const extra = ['customer'];
    expect(isSecretKey('customer_ref', extra)).toBe(true);
    expect(isSecretKey('customer_ref')).toBe(false);
    expect(redactValue({ customer_ref: 'c-1', note: 'n' }, extra)).toEqual({ customer_ref: REDACTED, note: 'n' });
  });
});
