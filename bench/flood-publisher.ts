/**
 * Tenant A's producer for bench:flow-lanes, in its own process as a real producer would be (the
 * bench's process stamps B's publishes and hosts the fake AI, whose log stamps each job's start):
 * publishes `alt.medium.flood` jobs `flood-<n>` at FLOOD_RATE per second to NATS_URL, from when it
 * prints `ready` until it is stopped, without waiting for each PubAck in turn.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';

const rate = Number(process.env.FLOOD_RATE);
const nc = await connect({ servers: process.env.NATS_URL });
const js = jetstream(nc);
const job = (id: string) => JSON.stringify({ id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: id, tasks: [{ id: 't', description: `job ${id} says hello` }] });
let sent = 0;
const t0 = Date.now();
console.log('ready');
const timer = setInterval(() => {
  // Keeps to its rate whatever the timer's delay: every job due by now goes out.
  for (const due = Math.floor(((Date.now() - t0) / 1000) * rate); sent < due; sent++) void js.publish('alt.medium.flood', job(`flood-${sent}`)).catch(() => {});
}, 5);
process.once('SIGTERM', () => {
  clearInterval(timer);
  void nc.drain().finally(() => process.exit(0));
});
