/**
 * What a `.last` copies from the job (title, persona, metadata, tags) goes through the data
 * policy: planted secrets never come through, ordinary content comes through unchanged, and
 * LOG_REDACT's extra key names apply though the worker's callers pass none.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { buildCancelledLast, buildFailureLast, buildLast } from '../../../src/last/index.ts';
import { AltlasError } from '../../../src/errors.ts';
import { configureRedaction, REDACTED } from '../../../src/security/redact.ts';
import { makeJob } from '../../helpers/engine.ts';
import { ORDINARY_KEYS, ORDINARY_TEXTS, PLANTED_SECRETS } from '../../fixtures/redaction-corpus.ts';

const ids = () => ({ id: randomUUID(), executionId: randomUUID(), uuid: randomUUID, now: Date.now() });
const run = { results: [], startMs: 0, endMs: 0, resumed: [], skipped: [], edges: [], stopped: null };
const secrets = PLANTED_SECRETS.flatMap((p) => p.secrets);

afterEach(() => configureRedaction([]));

/** Every way a job's content reaches a `.last`: a run, a cancel, a failure. */
function lastsOf(job: ReturnType<typeof makeJob>) {
  return [
    buildLast({ job, run }, ids()),
    buildCancelledLast({ job, atMs: Date.now() }, ids()),
    buildFailureLast({ altId: job.id, job, error: new AltlasError('ALT_CYCLE', 'broken'), startMs: 0, endMs: 1 }, ids()),
  ];
}

describe('a .last and the job content it copies', () => {
  it('lets no planted secret through the title, persona, metadata or tags', () => {
    const texts = PLANTED_SECRETS.map((p) => p.text);
    const job = makeJob([{ id: 'a' }], {
      title: texts.join(' '), persona: texts.slice(0, 20).join(' '), tags: texts,
      metadata: { notes: texts, nested: { deeper: Object.fromEntries(texts.map((t, i) => [`f${i}`, t])) }, password: 'correct horse battery staple' },
    });
    for (const last of lastsOf(job)) {
      const text = JSON.stringify(last);
      expect(secrets.filter((s) => text.includes(s))).toEqual([]);
      expect(text).not.toContain('horse');
    }
  });

  it('copies ordinary titles, metadata keys and values and tags unchanged', () => {
    const metadata = Object.fromEntries([...ORDINARY_KEYS.map((k, i) => [k, ORDINARY_TEXTS[i % ORDINARY_TEXTS.length]]), ['texts', ORDINARY_TEXTS]]);
    for (const title of ORDINARY_TEXTS) {
      const job = makeJob([{ id: 'a' }], { title, persona: title, tags: [...ORDINARY_TEXTS], metadata });
      for (const last of lastsOf(job)) {
        expect(last.title).toBe(title);
        expect(last.persona).toBe(title);
        expect(last.tags).toEqual(ORDINARY_TEXTS);
        expect(Object.fromEntries(Object.entries(last.metadata).filter(([k]) => k.startsWith('alt_')).map(([k, v]) => [k.slice(4), v]))).toEqual(metadata);
      }
    }
  });

  it('masks LOG_REDACT\'s extra key names in the metadata though the caller passes none', () => {
    configureRedaction(['customer_ref', ' Internal ']);
    const job = makeJob([{ id: 'a' }], { metadata: { customer_ref: 'c-42', internal_note: 'n', region: 'eu' } });
    for (const last of lastsOf(job)) expect([last.metadata.alt_customer_ref, last.metadata.alt_internal_note, last.metadata.alt_region]).toEqual([REDACTED, REDACTED, 'eu']);
  });
});
