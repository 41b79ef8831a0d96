/**
 * The floor of `bench:peer`, in its own process: the least a JetStream worker can do for the
 * same work. A bare loop on the `floor` durable of the ALT stream at NATS_URL, CONCURRENCY jobs
 * at a time: parse the .alt JSON, make its three chained AI calls (./peer-ai.ts), publish the
 * answers to last.<id> (de-duplicated by Nats-Msg-Id, as a .last), then ack. No schema, no job
 * status, no checkpoints, no leases, no logs, no metrics.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { chainedCalls } from './peer-ai.ts';

const concurrency = Number(process.env.CONCURRENCY ?? 64);
const nc = await connect({ servers: process.env.NATS_URL });
const js = jetstream(nc);
const consumer = await js.consumers.get('ALT', 'floor');
const messages = await consumer.consume({ max_messages: concurrency });
process.stdout.write('floor worker ready\n');
process.once('SIGTERM', () => void messages.close().then(() => nc.close()).then(() => process.exit(0)));

let inFlight = 0;
let wake: (() => void) | null = null;
for await (const m of messages) {
  inFlight++;
  void (async () => {
    const alt = m.json<{ id: string; tasks: { description: string }[] }>();
    const answers = await chainedCalls(alt.tasks.map((t) => t.description));
    await js.publish(`last.${alt.id}`, JSON.stringify({ alt_id: alt.id, status: 'success', answers }), { msgID: alt.id });
    m.ack();
  })().catch((e) => {
    process.stderr.write(`floor: ${e}\n`);
    m.nak();
  }).finally(() => {
    inFlight--;
    wake?.();
  });
  while (inFlight >= concurrency) await new Promise<void>((r) => (wake = r));
}
