/**
 * The fence before a `.last` is published fails closed: a redelivered run whose claim cannot be
 * read publishes nothing and hands the message back; the next delivery publishes once.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { Publisher } from '../../src/messaging/publisher.ts';
import { CheckpointStore } from '../../src/status/checkpoints.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { inProcessWorker, type InProcessWorker } from '../helpers/in-process.ts';

let h: Harness | undefined;
let inproc: InProcessWorker | undefined;
const restore: (() => void)[] = [];
afterEach(async () => {
  for (const r of restore.splice(0)) r();
  await inproc?.close();
  inproc = undefined;
  await h?.close();
  h = undefined;
});

describe('the fence before publishing', () => {
  it('hands a redelivered run back, publishing nothing, when its claim cannot be read', async () => {
    h = await Harness.start(undefined, { latencyMs: 300 });
    const env = { RUNNER_ACK_WAIT_MS: '1000', RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_NAK_DELAY_MS: '100' };
    const first = await h.worker(env);
    await h.publish(job('fenced', 3));
    await eventually(async () => h!.fake.stats.requests, (n) => n >= 1, 'the first AI call');
    first.kill('SIGKILL');
    await first.exited;
    // The claim store does not answer the first read of the fence (as in a server outage).
    const claimedBy = CheckpointStore.prototype.claimedBy;
    let reads = 0;
    CheckpointStore.prototype.claimedBy = async function failing(this: CheckpointStore, stream: string, seq: number) {
      if (++reads === 1) throw new Error('no responders available for request');
      return claimedBy.call(this, stream, seq);
    };
    restore.push(() => (CheckpointStore.prototype.claimedBy = claimedBy));
    inproc = await inProcessWorker(h, env);
    const [{ last }] = await h.waitForLasts(1, 30_000);
    expect(inproc.logs('the claim could not be confirmed; nothing is published and the message is handed back')).toEqual([
      expect.objectContaining({ code: 'CHECKPOINTS_UNAVAILABLE', alt_id: 'fenced', deliveries: 2 }),
    ]);
    // The delivery whose claim could not be read published nothing: the .last is the next one's.
    expect(last.metadata.deliveries).toBe(3);
    expect(reads).toBe(2);
    await eventually(async () => h!.consumer(), (c) => c.num_ack_pending === 0 && c.num_pending === 0, 'the consumer to drain');
    expect(await h.lasts()).toHaveLength(1);
    expect(inproc.logs('the LAST stream already held this .last (a second run of one message)')).toEqual([]);
    expect(inproc.logs('run ended').map((l) => [l.deliveries, l.outcome])).toEqual([[2, 'nak'], [3, 'ack']]);
  });

  it('abandons a redelivered run, publishing and sending nothing, when a newer delivery holds the claim', async () => {
    h = await Harness.start(undefined, { latencyMs: 300 });
    const env = { RUNNER_ACK_WAIT_MS: '1000', RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_NAK_DELAY_MS: '100' };
    const first = await h.worker(env);
    await h.publish(job('overtaken', 3));
    await eventually(async () => h!.fake.stats.requests, (n) => n >= 1, 'the first AI call');
    first.kill('SIGKILL');
    await first.exited;
    // At the first fence, a newer delivery (elsewhere) holds the claim.
    const claimedBy = CheckpointStore.prototype.claimedBy;
    let reads = 0;
    CheckpointStore.prototype.claimedBy = async function overtaken(this: CheckpointStore, stream: string, seq: number) {
      return ++reads === 1 ? 99 : claimedBy.call(this, stream, seq);
    };
    restore.push(() => (CheckpointStore.prototype.claimedBy = claimedBy));
    inproc = await inProcessWorker(h, env);
    const [{ last }] = await h.waitForLasts(1, 30_000);
    expect(inproc.logs('run abandoned: the message belongs to a newer delivery; nothing was published').map((l) => l.deliveries)).toEqual([2]);
    expect(last.metadata.deliveries).toBe(3);
    await eventually(async () => h!.consumer(), (c) => c.num_ack_pending === 0 && c.num_pending === 0, 'the consumer to drain');
    expect(await h.lasts()).toHaveLength(1);
    expect(inproc.logs('run ended').map((l) => [l.deliveries, l.outcome])).toEqual([[2, 'abandon'], [3, 'ack']]);
  });

  it('hands a redelivered job back, running nothing, when it cannot read whether its .last is stored', async () => {
    h = await Harness.start(undefined, { latencyMs: 300 });
    const env = { RUNNER_ACK_WAIT_MS: '1000', RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_NAK_DELAY_MS: '100' };
    const first = await h.worker(env);
    await h.publish(job('unknown', 3));
    await eventually(async () => h!.fake.stats.requests, (n) => n >= 1, 'the first AI call');
    first.kill('SIGKILL');
    await first.exited;
    const atKill = h.fake.stats.requests;
    // The LAST stream does not answer the first check (as right after a server restart).
    const lastStored = Publisher.prototype.lastStored;
    let reads = 0;
    Publisher.prototype.lastStored = async function failing(this: Publisher, altId: string, seq: number) {
      if (++reads === 1) throw new Error('JetStream not in cluster mode or not ready');
      return lastStored.call(this, altId, seq);
    };
    restore.push(() => (Publisher.prototype.lastStored = lastStored));
    inproc = await inProcessWorker(h, env);
    const [{ last }] = await h.waitForLasts(1, 30_000);
    expect(inproc.logs('job handed back to JetStream')).toEqual([expect.objectContaining({ code: 'LAST_UNREADABLE', deliveries: 2 })]);
    expect(last.metadata.deliveries).toBe(3);
    await eventually(async () => h!.consumer(), (c) => c.num_ack_pending === 0 && c.num_pending === 0, 'the consumer to drain');
    expect(await h.lasts()).toHaveLength(1);
    expect(inproc.logs('run ended').map((l) => [l.deliveries, l.outcome])).toEqual([[2, 'nak'], [3, 'ack']]);
    // Delivery 2 made no AI call: every call after the kill is delivery 3's (at most the 3 tasks, fewer when resumed).
    expect(h.fake.stats.requests - atKill).toBeLessThanOrEqual(3);
  });
});
