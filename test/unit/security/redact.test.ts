/** The text patterns (alone and in context), the quick pre-check that spares ordinary texts, and the key verdicts. */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { REDACTED, applyPatterns, isSecretKey, redactDataText, redactText, redactValue } from '../../../src/security/redact.ts';

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
    for (const text of ['Summarise the quarterly report of region 3 in one paragraph', 'Benchmark job 7: summarise the sales report', 'ratio = 0.5; see https://example.com/a:b', 'Sunday sales: up', 'Asia and AKA'])
      expect(redactText(text)).toBe(text);
  });

  it('masks credentials in URLs, secret key=value pairs, authorization schemes and PEM keys inside a text', () => {
    const cases: [string, string][] = [
      ['connect to postgres://app:s3cr3t@db:5432/x now', `connect to postgres://app:${REDACTED}@db:5432/x now`],
      ['GET https://ABCDEFGHIJKLMNOPQRSTUV@api.example.com/v1', `GET https://${REDACTED}@api.example.com/v1`],
      ['Authorization: Bearer abc.def.ghi123', `Authorization: Bearer ${REDACTED}`],
      ['header Basic dXNlcjpwYXNz', `header Basic ${REDACTED}`],
      ['password=hunter22&user=bob', `password=${REDACTED}&user=bob`],
      ['db_pwd: topsecret', `db_pwd: ${REDACTED}`],
      ['{"api-key": "k-123456"}', `{"api-key": "${REDACTED}"}`],
      ['AWS_ACCESS_KEY_ID=AKXX1234 region=eu', `AWS_ACCESS_KEY_ID=${REDACTED} region=eu`],
      ['password=correct horse battery staple', `password=${REDACTED}`],
      ['client_secret = xyz789', `client_secret = ${REDACTED}`],
      ['Credentials: user1', `Credentials: ${REDACTED}`],
      ['-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- tail', `${REDACTED} tail`],
    ];
    for (const [text, masked] of cases) expect([text, redactText(text)]).toEqual([text, masked]);
  });

  it('the pre-check never spares a text the patterns would change', () => {
    // Texts built from the pieces the patterns look for, in any order and case, between ordinary words.
    const pieces = ['@', ':', '=', '://', ' ', '"', 'user', 'pass', 'word', 'Password', 'pwd', 'token', 'TOKEN', 'Bearer ', 'basic ', 'api', '_', '-', 'key',
      'secret', 'access', 'private', 'PRIVATE KEY', '-----BEGIN ', '-----END ', 'credential', 'auth', 'eyJ', 'eyJabcdefghij.', 'sk-', 'sk_live_', 'AKIA', 'ASIA',
      'AIza', 'ghp_', 'github_pat_', 'glpat-', 'xoxb-', 'SU', 'SA', 'ABCDEFGHIJKLMNOP', 'abcdefghijklmnop0123', '234567', 'https', 'db', 'x',
      'https://u:p@', 'x://ABCDEFGHIJKLMNOPQRSTUV@', '-----BEGIN RSA PRIVATE KEY-----', '-----BEGIN PGP PRIVATE KEY BLOCK-----', 'Cookie: ', 'Set-Cookie:', 'a=b',
      'AccountKey=', 'SharedAccessKey=', '&sig=', '?X-Amz-Signature=', 'hooks.slack.com/services/', 'discord.com/api/webhooks/', 'npm_', 'hf_', 'pypi-AgE', 'gsk_', 'xai-',
      'SG.', 'SK', '0123456789abcdef0123456789abcdef', 'key-', 'shpat_', 'dop_v1_', 'dapi', 'hvs.', 'ATATT3', 'secret_', 'glsa_', 'AGE-SECRET-KEY-1', 'ApiKey ', 'Authorization: ',
      'sk-proj-', 'sk-ant-api03-', 'AKIAIOSFODNN7EXAMPLE', 'passphrase', 'pass=', 'auth: ', 'dXNlcjpwYXNz', '12345678:AA', 'abc8Q~', '\\n', '"', '\\"', 'MTIzNDU2Nzg5MDEyMzQ1Njc4.',
      'correct horse', '${X}', '<p>', 'null', 'x.y(', 'SECRET_KEY_BASE='];
    fc.assert(fc.property(fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 4 })), { maxLength: 30 }), fc.boolean(), (parts, upper) => {
      const text = upper ? parts.join('').toUpperCase() : parts.join('');
      expect(redactText(text)).toBe(applyPatterns(text));
    }), { numRuns: 5_000 });
    const seed = `SU${'A'.repeat(56)}`;
    expect(redactText(`seed ${seed} end`)).toBe(applyPatterns(`seed ${seed} end`));
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
    // In a text too, in both policies, whatever the case of the fragment.
    for (const fragments of [extra, ['Customer']]) {
      expect(redactText('ref: customer_ref=c-1; ok', fragments)).toBe(`ref: customer_ref=${REDACTED}; ok`);
      expect(redactDataText('customer_ref=c-1', fragments)).toBe(`customer_ref=${REDACTED}`);
    }
  });
});
