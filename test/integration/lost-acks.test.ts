/**
 * A nats-server killed and restarted can lose the acks it had not written to disk yet, and then
 * delivers those messages again as first deliveries. After a reconnect, a worker checks first
 * deliveries like redeliveries: a job whose .last is stored already is acked, not run again.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { Harness, eventually, job } from '../helpers/runner.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Stores a .last for `altId` as the run of ALT message `seq` would have (the Alt-Stream-Seq header). */
async function storeLastOf(harness: Harness, altId: string, seq: number): Promise<void> {
  const h = natsHeaders();
  h.set('Alt-Id', altId);
  h.set('Alt-Stream-Seq', String(seq));
  const last = { alt_file: `${altId}.alt`, execution_id: 'earlier-run', status: 'success', task_results: {}, metadata: {} };
  await harness.js.publish(`last.${altId}`, JSON.stringify(last), { headers: h, msgID: `last:ALT:${seq}` });
}

describe('after a server restart', () => {
  it('acks a first delivery whose .last is stored already, making no AI call (an ack the server lost)', async () => {
    h = await Harness.start();
    const w = await h.worker({ RUNNER_ACK_WAIT_MS: '5000' });
    await h.publish(job('before-restart', 1));
    await h.waitForLasts(1);
    await h.server.stop();
    await h.server.restart();
    await eventually(async () => w.logs('NATS reconnect').length, (n) => n >= 1, 'the worker to reconnect', 60_000);
    // The message the restarted server delivers again: its earlier run stored this .last before the ack was lost.
    const seq = (await h.jsm.streams.info('ALT')).state.last_seq + 1;
    await storeLastOf(h, 'acked-then-lost', seq);
    const requests = h.fake.stats.requests;
    expect(await h.publish(job('acked-then-lost', 3))).toBe(seq);
    await eventually(() => h!.consumer(), (c) => c.num_pending === 0 && c.num_ack_pending === 0, 'the message to be acked', 60_000);
    expect(h.fake.stats.requests - requests).toBe(0);
    const lasts = (await h.lasts()).filter((l) => l.subject === 'last.acked-then-lost');
    expect(lasts.map((l) => l.last.execution_id)).toEqual(['earlier-run']);
    expect(w.logs('the .last of this message is stored already (the earlier ack was lost): acked without running again').length).toBe(1);
  });
});
