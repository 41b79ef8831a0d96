import { afterEach, describe, expect, it } from '@jest/globals';
import { Kvm } from '@nats-io/kv';
import { Harness, eventually, job } from '../helpers/runner.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const perAltId = async (harness: Harness) => {
  const counts: Record<string, number> = {};
  for (const { headers } of await harness.lasts()) {
    const id = headers?.get('Alt-Id') ?? '?';
    counts[id] = (counts[id] ?? 0) + 1;
  }
  return counts;
};
const ones = (ids: string[]) => Object.fromEntries(ids.map((id) => [id, 1]));

describe('worker failures', () => {
  it('loses nothing when the worker is SIGKILLed with jobs in flight', async () => {
    h = await Harness.start();
    h.fake.setFaults({ latencyMs: 1_500 });
    const env = { RUNNER_ACK_WAIT_MS: '2000', RUNNER_CONCURRENCY: '4' };
    const first = await h.worker(env);
    const ids = Array.from({ length: 6 }, (_, i) => `kill-${i}`);
    for (const id of ids) await h.publish(job(id, 2));
    await eventually(async () => h!.fake.stats.requests, (n) => n >= 3, 'jobs in flight');
    first.kill('SIGKILL');
    await first.exited;
    h.fake.setFaults({ latencyMs: 50 });
    await h.worker(env);
    await h.waitForLasts(6);
    await eventually(() => h!.consumer(), (c) => c.num_pending === 0 && c.num_ack_pending === 0, 'the consumer to drain');
    expect(await perAltId(h)).toEqual(ones(ids));
  });

  it('reconnects after the nats-server restarts on the same store, and loses nothing', async () => {
    h = await Harness.start();
    h.fake.setFaults({ latencyMs: 300 });
    await h.worker({ RUNNER_ACK_WAIT_MS: '3000', RUNNER_CONCURRENCY: '2' });
    const ids = Array.from({ length: 8 }, (_, i) => `restart-${i}`);
    for (const id of ids) await h.publish(job(id, 1));
    await h.waitForLasts(1);
    await h.server.stop();
    await h.server.restart();
    await h.waitForLasts(8, 60_000);
    await eventually(() => h!.consumer(), (c) => c.num_pending === 0 && c.num_ack_pending === 0, 'the consumer to drain', 60_000);
    expect(await perAltId(h)).toEqual(ones(ids));
  });

  it('on SIGTERM finishes what fits in the grace period, hands the rest back at once, and exits 0', async () => {
    h = await Harness.start();
    h.fake.setFaults({ latencyRules: [{ match: 'SLOWISH', ms: 1_000 }, { match: 'GLACIAL', ms: 60_000 }] });
    const grace = 3_000;
    const first = await h.worker({ RUNNER_SHUTDOWN_GRACE_MS: String(grace), RUNNER_CONCURRENCY: '4' });
    await h.publish(job('finishes-in-grace', 1, 'SLOWISH'));
    await h.publish(job('too-slow', 1, 'GLACIAL'));
    // Both messages delivered to the first worker (an AI request count alone would also count a retried attempt).
    await eventually(async () => ({ requests: h!.fake.stats.requests, delivered: (await h!.consumer()).delivered.stream_seq }), (s) => s.requests >= 2 && s.delivered >= 2, 'both jobs in flight');
    const signalledAt = Date.now();
    first.kill('SIGTERM');
    const second = await h.worker({ RUNNER_CONCURRENCY: '4' });
    h.fake.setFaults({});
    const exit = await first.exited;
    expect(exit.code).toBe(0);
    // Grace, then at most one pull expiry (5 s) until no request of its own can still receive a message.
    expect(exit.at - signalledAt).toBeLessThan(grace + 9_000);
    const lasts = await h.waitForLasts(2, 20_000);
    const byId = Object.fromEntries(lasts.map(({ last }) => [last.alt_file_id, last]));
    expect(byId['finishes-in-grace'].metadata.deliveries).toBe(1);
    expect(byId['too-slow'].metadata.deliveries).toBe(2);
    // Handed back at once: the second worker had it long before the 30 s ack wait could expire.
    expect(Date.parse(byId['too-slow'].end_time) - exit.at).toBeLessThan(10_000);
    await eventually(async () => second.logs('job finished').length, (n) => n >= 1, 'the second worker to log its job');
    expect(second.logs('job finished').map((l) => l.alt_id)).toEqual(['too-slow']);
    expect(first.logs('job handed back to JetStream').map((l) => l.alt_id)).toEqual(['too-slow']);
  });
});

describe('messages no worker could settle', () => {
  it('dead-letters a message whose deliveries all ended without an ack, with a failure .last, and removes it from ALT', async () => {
    h = await Harness.start();
    h.fake.setFaults({ latencyMs: 60_000 });
    const env = { RUNNER_ACK_WAIT_MS: '1000', RUNNER_MAX_DELIVER: '1' };
    const first = await h.worker(env);
    await h.publish(job('crash-loop', 1));
    await eventually(async () => h!.fake.stats.requests, (n) => n >= 1, 'the job in flight');
    // Another worker is running when the advisory comes (advisories are core NATS: heard only by live workers).
    await h.worker(env);
    first.kill('SIGKILL');
    await first.exited;
    const dlq = await eventually(() => h!.records('ALT_DLQ'), (r) => r.length === 1, 'the DLQ copy', 20_000);
    expect(dlq[0].subject).toBe('dlq.alt.MAX_DELIVER_EXCEEDED');
    expect(dlq[0].headers?.get('Alt-Id')).toBe('crash-loop');
    expect(JSON.parse(new TextDecoder().decode(dlq[0].data)).id).toBe('crash-loop');
    const [{ last }] = await h.waitForLasts(1);
    expect(last).toMatchObject({ alt_file_id: 'crash-loop', status: 'failure', metadata: { error_code: 'MAX_DELIVER_EXCEEDED' } });
    await eventually(() => h!.jsm.streams.info('ALT'), (i) => i.state.messages === 0, 'the message removed from ALT');
    const status = await eventually(async () => (await new Kvm(h!.nc).open('ALT_RUNS')).get('crash-loop'), (e) => e?.json<{ state: string }>().state === 'failed', 'the status entry to say failed');
    expect(status?.json<{ error: { code: string } }>().error.code).toBe('MAX_DELIVER_EXCEEDED');
  });
});
