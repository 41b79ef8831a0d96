/**
 * The archive hand-off with real processes: the archive service (a core NATS queue subscriber,
 * group `archive-service`) gets every `.last`'s notification at least once, with its id, when it
 * subscribes after the `.last` was stored, and when the worker that stored it was SIGKILLed
 * before any notification got through.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { connect } from '@nats-io/transport-node';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import type { Last } from '../../src/last/index.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';

const SUBJECT = 'archive.last_files';
const ARCHIVE = { ARCHIVE_NOTIFY_SUBJECT: SUBJECT, ARCHIVE_NOTIFY_WAIT_MS: '200' };

let h: Harness | undefined;
let archive: NatsConnection | undefined;
afterEach(async () => {
  await archive?.close();
  archive = undefined;
  await h?.close();
  h = undefined;
});

interface Received {
  body: { id: string; file_path: string; success_rate: number; timestamp: string; metadata: Record<string, unknown> };
  msgId: string | undefined;
}

/** The archive service: a queue subscriber in group archive-service, on its own connection. */
async function archiveService(url: string): Promise<Received[]> {
  archive = await connect({ servers: url });
  const got: Received[] = [];
  archive.subscribe(SUBJECT, { queue: 'archive-service', callback: (_e, m) => void got.push({ body: m.json(), msgId: m.headers?.get('Nats-Msg-Id') }) });
  await archive.flush();
  return got;
}

describe('the archive hand-off', () => {
  it('reaches an archive service that subscribes after the .last was stored, with the .last\'s id', async () => {
    h = await Harness.start();
    const w = await h.worker(ARCHIVE);
    await h.publish(job('arch-1', 1));
    const [{ last }] = await h.waitForLasts(1);
    // Nobody listens yet: the forwarder found no responder and keeps the notification.
    await eventually(async () => w.logs('archive hand-off: nobody subscribes to the subject yet; the notification waits'), (l) => l.length >= 1, 'the forwarder to find nobody');
    const got = await archiveService(h.server.url);
    await eventually(async () => got.length, (n) => n >= 1, 'the notification');
    expect(new Set(got.map((g) => g.body.id))).toEqual(new Set([last.id]));
    expect(got[0]).toEqual({
      msgId: last.id,
      body: {
        id: last.id, file_path: `altlas+last://LAST/last.arch-1/${last.execution_id}`, success_rate: 1, timestamp: last.end_time,
        metadata: { tags: [], status: 'success', alt_file_id: 'arch-1', execution_id: last.execution_id, success_rate: 1 },
      },
    });
    // Delivered: the forwarder's consumer holds nothing more.
    await eventually(() => h!.jsm.consumers.info('LAST', 'archive-notify'), (c) => c.num_pending === 0 && c.num_ack_pending === 0, 'the hand-off to settle');
  });

  it('reaches it when the worker was killed between storing the .last and notifying', async () => {
    h = await Harness.start();
    const first = await h.worker(ARCHIVE);
    await h.publish(job('arch-2', 1));
    const [{ last }] = await h.waitForLasts(1);
    first.kill('SIGKILL');
    await first.exited;
    // And a .last stored while no worker runs (its writer died right after the PubAck): nothing announced it.
    const other: Last = { ...last, id: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9', alt_file_id: 'arch-3' };
    const hdr = natsHeaders();
    hdr.set('Nats-Msg-Id', 'last:ALT:999');
    await h.js.publish('last.arch-3', JSON.stringify(other), { headers: hdr });
    const got = await archiveService(h.server.url);
    expect(got).toEqual([]);
    await h.worker(ARCHIVE);
    await eventually(async () => new Set(got.map((g) => g.body.id)).size, (n) => n === 2, 'both notifications');
    expect(new Set(got.map((g) => g.body.id))).toEqual(new Set([last.id, other.id]));
    expect(got.find((g) => g.body.id === other.id)!.body.file_path).toBe(`altlas+last://LAST/last.arch-3/${last.execution_id}`);
    await eventually(() => h!.jsm.consumers.info('LAST', 'archive-notify'), (c) => c.num_pending === 0 && c.num_ack_pending === 0, 'the hand-off to settle');
  });
});
