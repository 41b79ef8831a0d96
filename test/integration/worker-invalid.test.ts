import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { SAMPLES } from '../helpers/paths.ts';

const valid = JSON.parse(job('x', 2));
const enhanced = readFileSync(join(SAMPLES, 'enhanced-2.0.alt.yaml'), 'utf8');
const doc = (patch: Record<string, unknown>) => JSON.stringify({ ...valid, ...patch });

/** One payload per invalid-input code, with the job id a failure .last should name (null: none recoverable). */
const CASES: { code: string; payload: Uint8Array | string; altId: string | null; headers?: Record<string, string> }[] = [
  { code: 'ALT_EMPTY', payload: '', altId: null },
  { code: 'ALT_ENCODING', payload: Uint8Array.from([0x7b, 0x22, 0x69, 0x64, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), altId: null },
  { code: 'ALT_SYNTAX', payload: '{"id": "syntax-1", "tasks": [', altId: 'syntax-1' },
  { code: 'ALT_UNKNOWN_FORMAT', payload: '{"id": "unknown-1", "steps": []}', altId: 'unknown-1' },
  { code: 'ALT_UNSUPPORTED_VERSION', payload: doc({ id: 'version-1', version: '9.9' }), altId: 'version-1' },
  { code: 'ALT_SCHEMA', payload: doc({ id: 'schema-1', title: '' }), altId: 'schema-1' },
  { code: 'ALT_DUPLICATE_TASK', payload: doc({ id: 'dup-1', tasks: [{ id: 'a', description: 'x' }, { id: 'a', description: 'y' }] }), altId: 'dup-1' },
  { code: 'ALT_UNKNOWN_DEPENDENCY', payload: doc({ id: 'dep-1', tasks: [{ id: 'a', description: 'x', dependencies: ['nope'] }] }), altId: 'dep-1' },
  { code: 'ALT_SELF_DEPENDENCY', payload: doc({ id: 'self-1', tasks: [{ id: 'a', description: 'x', dependencies: ['a'] }] }), altId: 'self-1' },
  { code: 'ALT_CYCLE', payload: readFileSync(join(SAMPLES, 'invalid-cycle.alt.json')), altId: 'invalid-cycle-example' },
  { code: 'ALT_LIMIT', payload: doc({ id: 'limit-1', tasks: Array.from({ length: 1001 }, (_, i) => ({ id: `t${i}`, description: 'x' })) }), altId: 'limit-1' },
  { code: 'ALT_REFERENCE', payload: enhanced.replace('if_body: [s-alert]', 'if_body: [missing]'), altId: '5f0c2a8e-7d1b-4c3e-9a44-0b8e2f6d1c10', headers: { 'Content-Type': 'application/yaml' } },
  { code: 'TASK_KIND_FORBIDDEN', payload: doc({ id: 'kind-1', tasks: [{ id: 'a', description: 'rm -rf /', task_type: 'system_command' }] }), altId: 'kind-1' },
];

let h: Harness;
beforeAll(async () => {
  h = await Harness.start();
  await h.worker();
});
afterAll(async () => {
  await h?.close();
});

describe('invalid input', () => {
  it('gives each invalid-input code a DLQ copy of the original bytes, a failure .last where the id is known, and no redelivery', async () => {
    const seqs: number[] = [];
    for (const c of CASES) seqs.push(await h.publish(c.payload, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', ...(c.headers ?? {}) }));
    const dlq = await eventually(() => h.records('ALT_DLQ'), (r) => r.length >= CASES.length, 'every DLQ record');
    const lasts = await h.waitForLasts(CASES.filter((c) => c.altId !== null).length);
    expect(dlq).toHaveLength(CASES.length);
    for (const [i, c] of CASES.entries()) {
      const record = dlq.find((r) => r.headers?.get('Dlq-Seq') === String(seqs[i]));
      expect({ code: c.code, subject: record?.subject }).toEqual({ code: c.code, subject: `dlq.alt.${c.code}` });
      const original = typeof c.payload === 'string' ? Buffer.from(c.payload) : Buffer.from(c.payload);
      expect(Buffer.from(record!.data).equals(original)).toBe(true);
      expect(record!.headers?.get('Dlq-Code')).toBe(c.code);
      expect(record!.headers?.get('Dlq-Stream')).toBe('ALT');
      expect(record!.headers?.get('Dlq-Subject')).toBe('alt.submit');
      expect(record!.headers?.get('Dlq-Deliveries')).toBe('1');
      expect(record!.headers?.get('Dlq-Error')?.length).toBeGreaterThan(0);
      expect(record!.headers?.get('traceparent')).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-/);
      if (c.altId === null) {
        expect(record!.headers?.get('Alt-Id')).toBe('');
        continue;
      }
      expect(record!.headers?.get('Alt-Id')).toBe(c.altId);
      const last = lasts.find(({ headers }) => headers?.get('Alt-Stream-Seq') === String(seqs[i]));
      expect({ code: c.code, status: last?.last.status, error: last?.last.metadata.error_code }).toEqual({ code: c.code, status: 'failure', error: c.code });
      expect(last!.last.summary.startsWith('Execution Failed:\n')).toBe(true);
      expect(last!.last.metadata.error).toMatch(new RegExp(`^${c.code}: `));
      // A document that parsed but failed its checks keeps what it says about itself.
      if (c.code === 'ALT_CYCLE') expect(last!.last).toMatchObject({ title: JSON.parse(original.toString()).title, summary: expect.stringContaining(`- ALT File: ${JSON.parse(original.toString()).title}`) });
      if (c.code === 'TASK_KIND_FORBIDDEN') expect(last!.last.title).toBe('job x');
    }
    const consumer = await eventually(() => h.consumer(), (x) => x.num_ack_pending === 0 && x.num_pending === 0, 'the consumer to drain');
    expect(consumer.num_redelivered).toBe(0);
    expect((await h.jsm.streams.info('ALT')).state.messages).toBe(0);
  });
});

describe('a result too large to store', () => {
  it('publishes a failure .last with LAST_TOO_LARGE and dead-letters the job instead of retrying it', async () => {
    const small = await Harness.start({ config: 'max_payload: 65536' });
    try {
      small.fake.setFaults({ outputChars: 40_000 });
      // Outputs up to 60,000 bytes stay inside the .last (larger ones would become artifacts): two of 40,000 do not fit.
      await small.worker({ RUNNER_OUTPUT_INLINE_MAX: '60000' });
      await small.publish(job('too-big', 2));
      const dlq = await eventually(() => small.records('ALT_DLQ'), (r) => r.length === 1, 'the DLQ copy');
      expect(dlq[0].subject).toBe('dlq.alt.LAST_TOO_LARGE');
      const [{ last }] = await small.waitForLasts(1);
      expect(last).toMatchObject({ alt_file_id: 'too-big', status: 'failure', metadata: { error_code: 'LAST_TOO_LARGE' } });
      expect((await small.consumer()).num_redelivered).toBe(0);
    } finally {
      await small.close();
    }
  });
});
