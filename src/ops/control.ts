/**
 * The fleet's controls, the operator's side (the `altlas` command and the dashboard): pause and
 * resume every worker's intake, drain one worker, set one worker's concurrency. Each is a record
 * in RUNNER_CONTROL_BUCKET, which every worker watches, and an event in the fleet's history with
 * who did it. On nats-server 2.11 and later a pause also pauses the durable consumer itself
 * (found out at run time: older servers do not have it, and the flag alone holds there).
 */
import { Kvm } from '@nats-io/kv';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { AltlasError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import type { Codec } from '../security/codec.ts';
import { versionAtLeast } from '../messaging/worker.ts';
import { PAUSE_KEY, concurrencyKey, drainKey, isControlRecord, writeControl, type PauseControl } from '../status/control.ts';
import { bucketEntries } from '../status/store-access.ts';
import { FLEET } from '../status/history.ts';
import { listWorkers } from './jobs.ts';
import { recordAction } from './history.ts';
import type { WorkerBeat } from '../status/fleet.ts';

export interface ControlSession {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  config: Pick<Config, 'RUNNER_CONTROL_BUCKET' | 'RUNNER_WORKERS_BUCKET' | 'ALT_STREAM' | 'RUNNER_DURABLE' | 'HISTORY_ENABLED' | 'HISTORY_SUBJECT_PREFIX'>;
  codec: Codec;
}

/** The consumer pause of newer servers (2.11): until this far ahead, undone by a resume. */
const CONSUMER_PAUSE_MS = 365 * 86_400_000;

export interface PauseOutcome {
  paused: boolean;
  by: string;
  /** The server paused the consumer too (nats-server 2.11 and later). */
  consumer_paused: boolean;
}

/** The server pauses consumers itself (the consumer pause of nats-server 2.11 and later; 2.9 and 2.10 do not have it). */
export const hasConsumerPause = (serverVersion: string) => versionAtLeast(serverVersion, [2, 11, 0]);

/**
 * On a server with the consumer pause, pauses (until a year ahead) or resumes the durable consumer
 * too; true when the server says it is now in that state. On older servers nothing is asked: the
 * flag alone holds the intake.
 */
export async function pauseConsumer(s: Pick<ControlSession, 'nc' | 'jsm' | 'config'>, paused: boolean): Promise<boolean> {
  if (!hasConsumerPause(s.nc.info?.version ?? '0.0.0')) return false;
  const { ALT_STREAM: stream, RUNNER_DURABLE: durable } = s.config;
  return (paused ? s.jsm.consumers.pause(stream, durable, new Date(Date.now() + CONSUMER_PAUSE_MS)) : s.jsm.consumers.resume(stream, durable))
    .then((r) => r.paused === paused, () => false);
}

/** Pauses (or resumes) the intake of every worker. */
export async function setFleetPaused(s: ControlSession, paused: boolean, by: string): Promise<PauseOutcome> {
  const kv = await new Kvm(s.nc).open(s.config.RUNNER_CONTROL_BUCKET);
  await writeControl(kv, PAUSE_KEY, { paused, by, at: new Date().toISOString() });
  const consumer = await pauseConsumer(s, paused);
  await recordAction(s.js, s.config, paused ? 'paused' : 'unpaused', FLEET, { by, detail: { consumer_paused: consumer } }, s.codec);
  return { paused, by, consumer_paused: consumer };
}

/** The fleet's intake as its control record says (null: never paused, or the bucket unreadable); read without a consumer. */
export async function readPause(jsm: JetStreamManager, bucket: string): Promise<PauseControl | null> {
  const [e] = await bucketEntries(jsm, bucket, PAUSE_KEY).catch(() => []);
  if (!e || e.operation !== 'PUT') return null;
  try {
    const v = e.json<unknown>();
    return isControlRecord(v) && typeof v.paused === 'boolean' ? { paused: v.paused, by: v.by, at: v.at } : null;
  } catch {
    return null;
  }
}

/** The worker of this id whose heartbeat is alive; WORKER_NOT_FOUND otherwise. */
export async function liveWorker(s: ControlSession, workerId: string): Promise<WorkerBeat> {
  const workers = await listWorkers({ jsm: s.jsm, bucket: s.config.RUNNER_WORKERS_BUCKET });
  const w = workers.find((x) => x.worker_id === workerId);
  if (!w) {
    throw new AltlasError('WORKER_NOT_FOUND', `no live worker ${workerId}${workers.length ? ` (alive: ${workers.map((x) => x.worker_id).join(', ')})` : ' (no worker is alive)'}`, { context: { worker: workerId } });
  }
  return w;
}

/** Asks one worker to finish what it holds and exit. */
export async function requestDrain(s: ControlSession, workerId: string, by: string): Promise<WorkerBeat> {
  const w = await liveWorker(s, workerId);
  const kv = await new Kvm(s.nc).open(s.config.RUNNER_CONTROL_BUCKET);
  // The request goes to the history first: the worker's answer (drained) comes after it.
  await recordAction(s.js, s.config, 'drain_requested', FLEET, { by, detail: { worker: workerId, in_flight: w.in_flight } }, s.codec);
  await writeControl(kv, drainKey(workerId), { worker_id: workerId, by, at: new Date().toISOString() });
  return w;
}

/** Sets one worker's concurrency, live. */
export async function setWorkerConcurrency(s: ControlSession, workerId: string, concurrency: number, by: string): Promise<WorkerBeat> {
  const w = await liveWorker(s, workerId);
  const kv = await new Kvm(s.nc).open(s.config.RUNNER_CONTROL_BUCKET);
  await writeControl(kv, concurrencyKey(workerId), { worker_id: workerId, concurrency, by, at: new Date().toISOString() });
  await recordAction(s.js, s.config, 'concurrency_set', FLEET, { by, detail: { worker: workerId, concurrency, was: w.concurrency } }, s.codec);
  return w;
}
