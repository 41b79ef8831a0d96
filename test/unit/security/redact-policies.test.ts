/** The redaction policies' entry points: the operator's fragments, errors and deep values, secrets used as keys, and the data policy's one-word credentials. */
import { afterEach, describe, expect, it } from '@jest/globals';
import { REDACTED, configureRedaction, isSecretKey, redactData, redactDataText, redactText, redactValue } from '../../../src/security/redact.ts';

afterEach(() => configureRedaction([]));

describe('configureRedaction', () => {
  it('takes the operator\'s fragments trimmed and in lower case, empty ones dropped, for every call not given its own', () => {
    expect(isSecretKey('tenant_ref')).toBe(false);
    configureRedaction([' Tenant ', '', '  ']);
    expect(isSecretKey('tenant_ref')).toBe(true);
    expect(isSecretKey('other')).toBe(false);
    expect(redactText('tenant_ref=abc')).toBe(`tenant_ref=${REDACTED}`);
    configureRedaction([]);
    expect(isSecretKey('tenant_ref')).toBe(false);
  });
});

describe('fragments in a text', () => {
  it('a fragment counts only before = or :, and only when one is given', () => {
    expect(redactText('tenant_ref=abc', ['tenant'])).toBe(`tenant_ref=${REDACTED}`);
    expect(redactText('tenant_ref=abc', [])).toBe('tenant_ref=abc');
    expect(redactText('tenant_ref=abc', ['zzz', 'tenant'])).toBe(`tenant_ref=${REDACTED}`);
    expect(redactDataText('tenant_ref=abc', ['TENANT'])).toBe(`tenant_ref=${REDACTED}`);
    expect(redactDataText('tenant ref abc', ['tenant'])).toBe('tenant ref abc');
  });
});

describe('values', () => {
  it('an error becomes its name and its redacted message', () => {
    const e = new TypeError('password=hunter2secret');
    expect(redactValue(e)).toEqual({ name: 'TypeError', message: `password=${REDACTED}` });
    expect(redactValue({ err: e })).toEqual({ err: { name: 'TypeError', message: `password=${REDACTED}` } });
  });

  it('stops at depth 200', () => {
    let deep: Record<string, unknown> = { leaf: 'x' };
    for (let i = 0; i < 205; i++) deep = { next: deep };
    let out = redactValue(deep) as Record<string, unknown>;
    let depth = 0;
    while (typeof out === 'object' && out !== null && 'next' in out) {
      out = out.next as Record<string, unknown>;
      depth++;
    }
    expect(out).toBe(REDACTED);
    expect(depth).toBe(201);
    expect(redactValue([1, null, true, 'x'])).toEqual([1, null, true, 'x']);
  });

  it('secrets used as keys are masked and numbered apart; ordinary keys stay', () => {
    const k1 = 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234567890';
    const k2 = 'sk-proj-ZyXwVuTsRqPoNmLkJiHgFeDc0987654321';
    expect(redactData({ [k1]: 'a', [k2]: 'b', plain: 'c' })).toEqual({ [REDACTED]: 'a', [`${REDACTED}-2`]: 'b', plain: 'c' });
    expect(redactValue({ [k1]: 'a' })).toEqual({ [REDACTED]: 'a' });
  });

  it('a maybe-secret key masks a credential-like value of 6 or more characters only', () => {
    expect(redactData({ auth: 'hunter2x' })).toEqual({ auth: REDACTED });
    expect(redactData({ auth: 'basic' })).toEqual({ auth: 'basic' });
    expect(redactData({ auth: 'oauth2' })).toEqual({ auth: REDACTED });
    expect(redactData({ auth: 'a1b2c' })).toEqual({ auth: 'a1b2c' });
    expect(redactData({ pass: 'P@ssword' })).toEqual({ pass: REDACTED });
    expect(redactData({ pass: 'P@sswrd' })).toEqual({ pass: 'P@sswrd' });
    expect(redactData({ pass: 'no-symbols-here' })).toEqual({ pass: 'no-symbols-here' });
    expect(redactData({ auth: 'dXNlcjpwYXNz' })).toEqual({ auth: REDACTED });
    // Judged trimmed; a value that is no text is walked, not judged.
    expect(redactData({ auth: '  dXNlcjpwYXNz  ' })).toEqual({ auth: REDACTED });
    expect(redactData({ auth: 12345678, pass: ['x'] })).toEqual({ auth: 12345678, pass: ['x'] });
  });

  it('stops at depth 200 in arrays and errors too', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 205; i++) deep = [deep];
    let out = redactValue(deep);
    let depth = 0;
    while (Array.isArray(out)) {
      out = out[0];
      depth++;
    }
    expect([out, depth]).toEqual([REDACTED, 201]);
    let nested: unknown = 'leaf';
    for (let i = 0; i < 205; i++) nested = { e: Object.assign(new Error('m'), {}), next: nested };
    expect(JSON.stringify(redactValue(nested))).toContain(REDACTED);
  });
});

describe('the data policy on name: value', () => {
  it('masks one credential-like word after a maybe-secret name', () => {
    expect(redactDataText('auth: P@ssword1 for the box')).toBe(`auth: ${REDACTED} for the box`);
    expect(redactDataText('auth: required.')).toBe('auth: required.');
    expect(redactDataText('auth: dXNlcjpwYXNz')).toBe(`auth: ${REDACTED}`);
    expect(redactDataText('auth: P@sswrd')).toBe('auth: P@sswrd');
    expect(redactDataText('auth: abcdefgh@')).toBe(`auth: ${REDACTED}`);
    expect(redactDataText('auth: 12345678@')).toBe('auth: 12345678@');
  });

  it('masks a quoted value, and one in escaped quotes inside a JSON string', () => {
    expect(redactDataText('{"password": "hunter2"}')).toBe(`{"password": "${REDACTED}"}`);
    expect(redactDataText('{\\"password\\": \\"hunter2\\"}')).toBe(`{\\"password\\": \\"${REDACTED}\\"}`);
    expect(redactDataText("{\\'password\\': \\'hunter2\\'}")).toBe(`{\\'password\\': \\'${REDACTED}\\'}`);
    expect(redactDataText("password='hunter2'")).toBe(`password='${REDACTED}'`);
  });
});
