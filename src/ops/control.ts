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
import { randomUUID } from 'node:crypto';
import { PAUSE_KEY, concurrencyKey, drainKey, isControlRecord, writeControl, type PauseControl } from '../status/control.ts';
import { bucketEntries, watchBucket } from '../status/store-access.ts';
import { FLEET } from '../status/history.ts';
import { listWorkers } from './jobs.ts';
import { recordAction } from './history.ts';
import { LIVE_BEATS, isHeartbeat, isLive, workerKey, type WorkerBeat } from '../status/fleet.ts';

export interface ControlSession {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  config: Pick<Config, 'RUNNER_CONTROL_BUCKET' | 'RUNNER_WORKERS_BUCKET' | 'RUNNER_HEARTBEAT_MS' | 'ALT_STREAM' | 'RUNNER_DURABLE' | 'HISTORY_ENABLED' | 'HISTORY_SUBJECT_PREFIX'>;
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
  // Stamped before the write: the workers act on it at once, and the history shows the cause first.
  const at = new Date();
  await writeControl(kv, PAUSE_KEY, { paused, by, at: at.toISOString() });
  const consumer = await pauseConsumer(s, paused);
  await recordAction(s.js, s.config, paused ? 'paused' : 'unpaused', FLEET, { by, detail: { consumer_paused: consumer } }, s.codec, at);
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

/**
 * The worker of this id whose heartbeat is live: written within two of its heartbeat intervals
 * (its own RUNNER_HEARTBEAT_MS, which it gives in its heartbeat; the bucket forgets it after
 * three). WORKER_NOT_FOUND otherwise: no heartbeat, or one of a worker killed or not answering.
 */
export async function liveWorker(s: ControlSession, workerId: string): Promise<WorkerBeat> {
  const workers = (await listWorkers({ jsm: s.jsm, bucket: s.config.RUNNER_WORKERS_BUCKET })).filter((x) => isLive(x, s.config.RUNNER_HEARTBEAT_MS));
  const w = workers.find((x) => x.worker_id === workerId);
  if (!w) {
    throw new AltlasError('WORKER_NOT_FOUND', `no live worker ${workerId}${workers.length ? ` (alive: ${workers.map((x) => x.worker_id).join(', ')})` : ' (no worker is alive)'}; a worker is live while its heartbeat is younger than ${LIVE_BEATS} of its intervals`, { context: { worker: workerId } });
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

/** How a drain waited for ended: the worker drained and exited, its heartbeat ended without a drain, or it still runs. */
export type DrainEnd = 'drained' | 'gone' | 'running';

/**
 * Waits until the worker asked to drain has ended: its heartbeat gone (removed as it exits, or
 * expired after three intervals, the bucket's TTL). It drained when its drain request is
 * gone: a drained worker removes it before its heartbeat. A request still there means the worker
 * ended (killed, stopped, or shut down) before it drained; the request is then removed, so that a
 * later worker of that id does not drain at start, and the fleet's history records it (`drain_gone`,
 * by who asked). A worker that only stopped and read the request may still drain when it resumes
 * (under load one was seen not to).
 */
export async function waitForDrain(s: ControlSession, workerId: string, timeoutMs: number): Promise<DrainEnd> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // The heartbeat first, then the request: a drained worker removes the request before its heartbeat.
    const w = (await listWorkers({ jsm: s.jsm, bucket: s.config.RUNNER_WORKERS_BUCKET })).find((x) => x.worker_id === workerId);
    // Ended: its heartbeat gone (removed by the worker, or expired: a slow but live worker may miss a beat or two while it drains).
    if (!w) {
      const [request] = await bucketEntries(s.jsm, s.config.RUNNER_CONTROL_BUCKET, drainKey(workerId));
      if (!request || request.operation !== 'PUT') return 'drained';
      const kv = await new Kvm(s.nc).open(s.config.RUNNER_CONTROL_BUCKET);
      await kv.delete(drainKey(workerId)).catch(() => {});
      let asked: unknown = null;
      try {
        asked = request.json<unknown>();
      } catch { /* not a drain record: who asked is unknown */ }
      const by = isControlRecord(asked) && typeof asked.by === 'string' ? asked.by : undefined;
      await recordAction(s.js, s.config, 'drain_gone', FLEET, { by, detail: { worker: workerId } }, s.codec);
      return 'gone';
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return 'running';
}

/** How long `altlas workers set` (and the dashboard) waits for the worker to report a new concurrency applied, by default. */
export const APPLY_WAIT_MS = 5_000;

export interface ConcurrencyOutcome {
  worker_id: string;
  concurrency: number;
  /** The worker's concurrency before it applied this one, as it reported it. */
  was: number;
}

/**
 * The concurrency a worker runs with or will run with before a new request: the value of its
 * concurrency record (the last one set: applied already, or pending, which the worker applies
 * first), else its heartbeat's (never set).
 */
async function currentConcurrency(s: ControlSession, w: WorkerBeat): Promise<number> {
  const [e] = await bucketEntries(s.jsm, s.config.RUNNER_CONTROL_BUCKET, concurrencyKey(w.worker_id)).catch(() => []);
  if (!e || e.operation !== 'PUT') return w.concurrency;
  try {
    const v = e.json<unknown>();
    // The record as the worker takes it (ControlWatch): any other value it ignores.
    return isControlRecord(v) && v.worker_id === w.worker_id && Number.isInteger(v.concurrency) && (v.concurrency as number) >= 1 ? v.concurrency as number : w.concurrency;
  } catch {
    return w.concurrency;
  }
}

/** The first heartbeat of a worker that `done` accepts, watched as it is written (null after `timeoutMs`). */
async function heartbeatWhere(s: ControlSession, workerId: string, done: (b: WorkerBeat) => boolean, timeoutMs: number): Promise<{ beat: Promise<WorkerBeat | null>; stop: () => void }> {
  let resolve!: (b: WorkerBeat | null) => void;
  const beat = new Promise<WorkerBeat | null>((r) => (resolve = r));
  const timer = setTimeout(() => resolve(null), timeoutMs);
  const watch = await watchBucket(s.nc, s.jsm, s.config.RUNNER_WORKERS_BUCKET, workerKey(workerId), (e) => {
    if (e.operation !== 'PUT') return;
    try {
      const b = e.json<unknown>();
      if (isHeartbeat(b) && b.worker_id === workerId && done(b)) resolve(b);
    } catch {
      // not a heartbeat
    }
  });
  return { beat: beat.finally(() => clearTimeout(timer)), stop: () => watch.stop() };
}

/**
 * Sets one worker's concurrency, live, and waits (at most `timeoutMs`) for the worker to report it
 * applied (its heartbeat names the request, written as it applies it), with its concurrency before.
 * WORKER_NOT_ANSWERING when it does not report in time (the request stays written).
 */
export async function setWorkerConcurrency(s: ControlSession, workerId: string, concurrency: number, by: string, timeoutMs = APPLY_WAIT_MS): Promise<ConcurrencyOutcome> {
  const w = await liveWorker(s, workerId);
  const kv = await new Kvm(s.nc).open(s.config.RUNNER_CONTROL_BUCKET);
  const was = await currentConcurrency(s, w);
  const request = randomUUID();
  // Watched before the request is written: the heartbeat that reports it cannot be missed.
  const applied = await heartbeatWhere(s, workerId, (b) => b.concurrency_applied?.request === request, timeoutMs);
  try {
    // The request goes to the history first: the worker's answer (applied) comes after it.
    await recordAction(s.js, s.config, 'concurrency_set', FLEET, { by, detail: { worker: workerId, concurrency, was } }, s.codec);
    await writeControl(kv, concurrencyKey(workerId), { worker_id: workerId, concurrency, by, at: new Date().toISOString(), request });
    const beat = await applied.beat;
    if (!beat) {
      throw new AltlasError('WORKER_NOT_ANSWERING', `${workerId} did not report applying concurrency ${concurrency} within ${timeoutMs / 1000} s (the request stays written and applies when the worker reads it; altlas workers shows what it runs with)`, { context: { worker: workerId } });
    }
    return { worker_id: workerId, concurrency, was: beat.concurrency_applied!.was };
  } finally {
    applied.stop();
  }
}
