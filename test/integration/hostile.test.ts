/**
 * One bad message must never stall the fleet or stay stuck. Each case observed against a real
 * server: the stable code, the DLQ record, an empty consumer, and a normal job published beside it
 * finishing within seconds.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { Objm } from '@nats-io/obj';
import { main } from '../../src/cli/main.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const run = async (argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
};

/** Publishes `hostile`, then a normal job; expects the code in the DLQ, the normal job's .last within `withinMs`, and an empty consumer. */
async function expectContained(harness: Harness, hostile: string | Uint8Array, code: string, hdrs: Record<string, string> = {}, withinMs = 8_000) {
  const seq = await harness.publish(hostile, hdrs);
  const sentAt = Date.now();
  await harness.publish(job('bystander', 1));
  const lasts = await harness.waitForLasts(1, 30_000);
  const bystander = await eventually(() => harness.lasts(), (l) => l.some(({ last }) => last.alt_file_id === 'bystander'), 'the normal job');
  const mine = bystander.find(({ last }) => last.alt_file_id === 'bystander')!;
  expect(mine.last.status).toBe('success');
  expect(Date.parse(mine.last.end_time) - sentAt).toBeLessThan(withinMs);
  const dlq = await eventually(() => harness.records('ALT_DLQ'), (r) => r.some((x) => x.headers?.get('Dlq-Seq') === String(seq)), 'the dead letter');
  const record = dlq.find((x) => x.headers?.get('Dlq-Seq') === String(seq))!;
  expect(record.headers?.get('Dlq-Code')).toBe(code);
  await eventually(() => harness.consumer(), (c) => c.num_pending === 0 && c.num_ack_pending === 0, 'the consumer to drain');
  expect((await harness.jsm.streams.info('ALT')).state.messages).toBe(0);
  void lasts;
  return record;
}

describe('hostile messages', () => {
  it('refuses a YAML mapping of 40,000 keys while parsing, in one delivery, without stalling a normal job', async () => {
    h = await Harness.start();
    await h.worker();
    const yaml = `id: many-keys\nversion: "1.0"\ncreated_at: "2025-01-01T00:00:00Z"\ntitle: t\ntasks: []\nmetadata:\n${Array.from({ length: 40_000 }, (_, i) => `  k${i}: v${i}`).join('\n')}\n`;
    const record = await expectContained(h, yaml, 'ALT_LIMIT', { 'Content-Type': 'application/yaml' });
    expect(record.headers?.get('Dlq-Error')).toMatch(/limit keys exceeded: 40000 > 1000/);
    expect(record.headers?.get('Dlq-Deliveries')).toBe('1');
  });

  it('refuses YAML nested 100,000 levels as a nesting limit, the same every time', async () => {
    h = await Harness.start();
    await h.worker();
    const deep = `id: deep\ntasks: []\nx: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`;
    const record = await expectContained(h, deep, 'ALT_LIMIT', { 'Content-Type': 'application/yaml' });
    expect(record.headers?.get('Dlq-Error')).toBe('limit nesting exceeded: 65 > 64');
  });

  it('keeps an original too large for a DLQ message in the object store, and dlq show reads it back', async () => {
    h = await Harness.start({ config: 'max_payload: 65536' });
    await h.worker({ ALT_MAX_BYTES: '65536' });
    const big = `{"id": "too-big-for-dlq", "tasks": [${'"x",'.repeat(16_000)}"x"]}`;
    expect(big.length).toBeGreaterThan(60_000);
    // 16,000 tasks: refused for the task count, and the original is too large to travel with its DLQ record.
    const record = await expectContained(h, big, 'ALT_LIMIT');
    expect(record.data.length).toBe(0);
    const ref = record.headers?.get('Dlq-Payload');
    expect(ref).toMatch(/^altlas\+obj:\/\/ALT_BODIES\/dlq\/ALT\/1$/);
    expect(record.headers?.get('Dlq-Payload-Bytes')).toBe(String(big.length));
    const stored = await (await new Objm(h.nc).open('ALT_BODIES')).getBlob('dlq/ALT/1');
    expect(Buffer.from(stored!).toString()).toBe(big);
    const show = await run(['dlq', 'show', String(record.seq), '--server', h.server.url]);
    expect(show.out).toContain('"id": "too-big-for-dlq"');
  });

  it('drops a trace header too large to copy, so the .last and DLQ copies always fit', async () => {
    h = await Harness.start();
    await h.worker();
    const baggage = `k=${'v'.repeat(65_000)}`;
    await h.publish(job('huge-baggage', 1), { baggage, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    const [{ last, headers }] = await h.waitForLasts(1);
    expect(last.status).toBe('success');
    expect(headers?.get('baggage')).toBe('');
    expect(headers?.get('traceparent')).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-/);
    await h.publish('{"id": "broken-with-baggage", "tasks": [', { baggage });
    const dlq = await eventually(() => h!.records('ALT_DLQ'), (r) => r.length === 1, 'the dead letter');
    expect(dlq[0].headers?.get('baggage')).toBe('');
  });

  it('ends a file of 200,000 bad entries with a small failure .last naming the real cause, in one delivery', async () => {
    h = await Harness.start();
    await h.worker({ ALT_MAX_NODES: '1000000' });
    const deps = Array.from({ length: 200_000 }, () => 1);
    const bad = JSON.stringify({ id: 'many-problems', version: '1.0', created_at: '2025-01-01T00:00:00Z', title: 't', tasks: [{ id: 'a', description: 'x', dependencies: deps }] });
    const record = await expectContained(h, bad, 'ALT_SCHEMA', {}, 15_000);
    expect(record.headers?.get('Dlq-Deliveries')).toBe('1');
    const failure = (await h.lasts()).find(({ last }) => last.alt_file_id === 'many-problems')!;
    const size = Buffer.byteLength(JSON.stringify(failure.last));
    expect(size).toBeLessThan(20_000);
    expect(failure.last.metadata).toMatchObject({ error_code: 'ALT_SCHEMA' });
    expect((failure.last.metadata.error_problems as unknown[]).length).toBe(50);
    // One problem per bad entry: 50 listed, the rest counted.
    expect(failure.last.metadata.error_problems_more).toBe(199_950);
  });
});
