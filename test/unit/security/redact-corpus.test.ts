/**
 * The two policies against the corpora: the data policy changes no ordinary text and blanks no
 * ordinary key; neither policy lets a planted secret through, in any context, as a value under
 * a secret key name, or as an object key.
 */
import { describe, expect, it } from '@jest/globals';
import { REDACTED, isSecretKey, isSecretKeyName, redactData, redactDataText, redactText, redactValue } from '../../../src/security/redact.ts';
import { CONTEXTS, ORDINARY_KEYS, ORDINARY_TEXTS, ORDINARY_VALUES, PLANTED_SECRETS, SECRET_KEYS } from '../../fixtures/redaction-corpus.ts';

const leaks = (out: string, secrets: readonly string[]) => secrets.filter((s) => out.includes(s));

describe('the data policy on ordinary content', () => {
  it(`changes none of ${ORDINARY_TEXTS.length} ordinary texts, alone or in a document`, () => {
    const changed = ORDINARY_TEXTS.filter((t) => redactDataText(t) !== t);
    expect(changed).toEqual([]);
    const doc = { title: ORDINARY_TEXTS[0], notes: [...ORDINARY_TEXTS], nested: { deeper: Object.fromEntries(ORDINARY_TEXTS.map((t, i) => [`note_${i}`, t])) } };
    expect(redactData(doc)).toEqual(doc);
  });

  it(`names no secret with any of ${ORDINARY_KEYS.length} ordinary keys, and keeps their values`, () => {
    expect(ORDINARY_KEYS.filter((k) => isSecretKeyName(k))).toEqual([]);
    const doc = Object.fromEntries(ORDINARY_KEYS.map((k, i) => [k, ORDINARY_VALUES[i % ORDINARY_VALUES.length]]));
    expect(redactData(doc)).toEqual(doc);
  });

  it('keeps an ordinary text used as a key', () => {
    const doc = Object.fromEntries(ORDINARY_TEXTS.map((t) => [t, 1]));
    expect(Object.keys(redactData(doc) as object)).toEqual(Object.keys(doc));
  });
});

describe('planted secrets', () => {
  it(`has a broad corpus (${PLANTED_SECRETS.length} formats in ${CONTEXTS.length} contexts)`, () => {
    expect(PLANTED_SECRETS.length).toBeGreaterThan(90);
    // The sizes the README gives.
    expect([ORDINARY_TEXTS.length >= 300, ORDINARY_KEYS.length >= 100, CONTEXTS.length >= 12]).toEqual([true, true, true]);
    for (const p of PLANTED_SECRETS) expect({ name: p.name, secrets: p.secrets.length > 0 && p.secrets.every((s) => s.length >= 6 && p.text.includes(s)) }).toEqual({ name: p.name, secrets: true });
  });

  it('leaves none through the data policy, in any context', () => {
    const left: string[] = [];
    for (const p of PLANTED_SECRETS) {
      for (const [i, ctx] of CONTEXTS.entries()) if (leaks(redactDataText(ctx(p.text)), p.secrets).length) left.push(`${p.name} (context ${i}): ${redactDataText(ctx(p.text))}`);
    }
    expect(left).toEqual([]);
  });

  it('leaves none through the logs policy, in any context', () => {
    const left: string[] = [];
    for (const p of PLANTED_SECRETS) {
      for (const [i, ctx] of CONTEXTS.entries()) if (leaks(redactText(ctx(p.text)), p.secrets).length) left.push(`${p.name} (context ${i}): ${redactText(ctx(p.text))}`);
    }
    expect(left).toEqual([]);
  });

  it('leaves none in a document: as values, in lists, deep down, as keys', () => {
    const doc = {
      title: PLANTED_SECRETS.map((p) => p.text).join(' | '),
      metadata: Object.fromEntries(PLANTED_SECRETS.map((p, i) => [`field_${i}`, { text: p.text, list: [p.text] }])),
      keyed: Object.fromEntries(PLANTED_SECRETS.filter((p) => !p.text.includes('\n')).map((p, i) => [p.text, `value ${i}`])),
    };
    const all = PLANTED_SECRETS.flatMap((p) => p.secrets);
    for (const redact of [redactData, redactValue]) {
      const out = JSON.stringify(redact(doc));
      expect(leaks(out, all)).toEqual([]);
    }
    // Keys that were secrets stay distinct.
    const keyed = (redactData(doc) as { keyed: Record<string, string> }).keyed;
    expect(Object.keys(keyed).length).toBe(Object.keys(doc.keyed).length);
    expect(Object.keys(keyed).every((k) => k.startsWith(REDACTED))).toBe(true);
  });

  it(`masks the whole value under each of ${SECRET_KEYS.length} secret key names, at any depth, in both policies`, () => {
    expect(SECRET_KEYS.filter((k) => !isSecretKeyName(k))).toEqual([]);
    expect(SECRET_KEYS.filter((k) => !isSecretKey(k))).toEqual([]);
    const value = 'correct horse battery staple';
    for (const k of SECRET_KEYS) {
      for (const doc of [{ [k]: value }, { a: { b: [{ [k]: value }] } }, { [k]: { user: 'u', pass: value } }, { [k]: [value] }]) {
        expect({ k, data: JSON.stringify(redactData(doc)).includes('horse'), logs: JSON.stringify(redactValue(doc)).includes('horse') }).toEqual({ k, data: false, logs: false });
      }
    }
  });

  it('masks a text assignment under each secret key name', () => {
    for (const k of SECRET_KEYS) {
      for (const text of [`${k}=Xy7pQ2wLm9`, `"${k}": "correct horse battery"`, `${k}: Xy7pQ2wLm9`, `${k} = 'Xy7pQ2wLm9'`]) {
        expect({ text, data: redactDataText(text).includes('Xy7pQ2wLm9') || redactDataText(text).includes('horse') }).toEqual({ text, data: false });
      }
    }
  });
});

describe('the logs policy', () => {
  it('is stricter than the data policy: whatever data masks, logs mask', () => {
    for (const p of PLANTED_SECRETS) expect({ name: p.name, logs: leaks(redactText(p.text), p.secrets) }).toEqual({ name: p.name, logs: [] });
    // And it masks aggressively what data keeps: a secret-named field's whole multi-word value.
    expect(redactText('Password: must be at least 12 characters')).toBe(`Password: ${REDACTED}`);
    expect(redactValue({ token_limit: 4096 })).toEqual({ token_limit: REDACTED });
  });
});
