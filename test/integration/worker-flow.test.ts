import { afterEach, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LastSchema, type Last } from '../../src/last/schema.ts';
import { compile } from '../../src/alt/schema-check.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { SAMPLES } from '../helpers/paths.ts';

const validLast = compile<Last>(LastSchema);
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const countBy = (values: string[]) => values.reduce<Record<string, number>>((a, v) => ({ ...a, [v]: (a[v] ?? 0) + 1 }), {});

describe('worker end to end on a real nats-server', () => {
  it('turns N .alt into N .last, then leaves nothing pending', async () => {
    h = await Harness.start();
    await h.worker();
    const files = ['runner-example.alt.json', 'segmentation-0.alt.yaml', 'segmentation-1.alt.yaml', 'plain-2.0.alt.json'];
    for (const f of files) await h.publish(readFileSync(join(SAMPLES, f)));
    for (let i = 0; i < 16; i++) await h.publish(job(`job-${i}`));
    const lasts = await h.waitForLasts(20);
    for (const { last } of lasts) expect(validLast.problems(last)).toEqual([]);
    expect(lasts.every(({ last }) => last.status === 'success')).toBe(true);
    const example = lasts.find(({ last }) => last.alt_file_id === 'alt_example_001')!;
    expect(example.subject).toBe('last.alt_example_001');
    expect(example.headers?.get('Alt-Id')).toBe('alt_example_001');
    expect(example.headers?.get('Last-Status')).toBe('success');
    expect(example.headers?.get('Nats-Msg-Id')).toBe('last:ALT:1');
    expect(example.headers?.get('Alt-Stream-Seq')).toBe('1');
    const seg = lasts.find(({ last }) => last.alt_file_id === 'a6deb67c-255d-442c-be10-baf2fee257ec')!;
    expect(seg.last.task_results['7727f885-67ad-4625-bec8-256cedbe6bc5'].output?.text).toContain('Dosyaları sırala');
    const c = await eventually(() => h!.consumer(), (i) => i.num_pending === 0 && i.num_ack_pending === 0, 'the consumer to drain');
    expect([c.num_pending, c.num_ack_pending, c.num_redelivered]).toEqual([0, 0, 0]);
    expect((await h.jsm.streams.info('ALT')).state.messages).toBe(0);
  });

  it('acks only after the .last is stored: without the LAST stream the job comes back, then ends with exactly one .last', async () => {
    h = await Harness.start();
    await h.worker();
    const lastConfig = (await h.jsm.streams.info('LAST')).config;
    await h.jsm.streams.delete('LAST');
    for (let i = 0; i < 3; i++) await h.publish(job(`held-${i}`, 1));
    await eventually(() => h!.consumer(), (c) => c.num_redelivered >= 3, 'redeliveries while LAST is missing');
    expect((await h.jsm.streams.info('ALT')).state.messages).toBe(3);
    // On busy cores the request can time out while the server is slow: adding the same stream again is harmless.
    await eventually(() => h!.jsm.streams.add(lastConfig).then(() => true, () => false), (ok) => ok, 'the LAST stream created');
    const lasts = await h.waitForLasts(3);
    await eventually(() => h!.consumer(), (c) => c.num_pending === 0 && c.num_ack_pending === 0, 'the consumer to drain');
    expect(countBy((await h.lasts()).map(({ last }) => last.alt_file_id))).toEqual({ 'held-0': 1, 'held-1': 1, 'held-2': 1 });
    expect(lasts.every(({ last }) => (last.metadata.deliveries as number) >= 2)).toBe(true);
  });

  it('completes a job longer than three ack waits on its first delivery', async () => {
    h = await Harness.start();
    h.fake.setFaults({ latencyMs: 3_500 });
    await h.worker({ RUNNER_ACK_WAIT_MS: '1000' });
    await h.publish(job('long', 1));
    const [{ last }] = await h.waitForLasts(1, 20_000);
    expect(last.status).toBe('success');
    expect(last.metadata.deliveries).toBe(1);
    expect(h.fake.stats.requests).toBe(1);
    expect((await h.consumer()).num_redelivered).toBe(0);
  });

  it('shares one durable consumer between two workers without running a job twice', async () => {
    h = await Harness.start();
    h.fake.setFaults({ latencyMs: 100 });
    const a = await h.worker({ RUNNER_CONCURRENCY: '2' });
    const b = await h.worker({ RUNNER_CONCURRENCY: '2' });
    for (let i = 0; i < 20; i++) await h.publish(job(`shared-${i}`, 1, `unique-${i}`));
    await h.waitForLasts(20);
    expect(Object.values(h.fake.stats.byPrompt).every((n) => n === 1)).toBe(true);
    expect(h.fake.stats.requests).toBe(20);
    // A worker logs a job's line just after its .last is stored: wait for the lines, then count them.
    await eventually(async () => a.logs('job finished').length + b.logs('job finished').length, (n) => n >= 20, 'the job finished lines');
    expect(a.logs('job finished').length).toBeGreaterThan(0);
    expect(b.logs('job finished').length).toBeGreaterThan(0);
    expect(a.logs('job finished').length + b.logs('job finished').length).toBe(20);
  });
});
