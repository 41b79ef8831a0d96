/**
 * Opens (or, with provisioning, creates) the buckets: job status, checkpoints and claims, the
 * object store, worker heartbeats and the fleet's controls. A bucket that cannot be opened stops the worker with a
 * clear error (TOPOLOGY_MISMATCH when it is missing, PERMISSION_DENIED naming the subject when
 * the user may not use it): no feature switches itself off. The KV buckets it creates refuse
 * purges, message deletes and roll-ups, so no user that may write one key can wipe a bucket
 * (`Nats-Rollup: all`): keys are removed by delete markers.
 */
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { DiscardPolicy, RetentionPolicy, StorageType, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { nanos, PermissionViolationError, type NatsConnection } from '@nats-io/nats-core';
import { AltlasError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import type { Codec } from '../security/codec.ts';
import { CheckpointStore } from './checkpoints.ts';
import { bucketEntries, readObject, removeObject } from './store-access.ts';
import { isPassingNatsError } from '../nats-errors.ts';

export type StoresConfig = Pick<Config, 'RUNNER_BODY_BUCKET' | 'DLQ_MAX_AGE_MS' | 'RUNNER_STATUS_BUCKET' | 'RUNNER_STATUS_TTL_MS' | 'RUNNER_CHECKPOINT_BUCKET' | 'RUNNER_OBJECT_BUCKET' | 'RUNNER_OBJECT_TTL_MS' | 'RUNNER_CHECKPOINT_MAX_VALUE' | 'RUNNER_PROVISION' | 'RUNNER_STREAM_REPLICAS' | 'RUNNER_WORKERS_BUCKET' | 'RUNNER_HEARTBEAT_MS' | 'BUDGET_BUCKET' | 'AI_LIMITS_BUCKET' | 'RUNNER_CONTROL_BUCKET'>;

export interface Stores {
  status: KV;
  checkpoints: CheckpointStore;
  objects: ObjectStore;
  /** Job bodies apart from the artifacts: large DLQ originals, parked jobs, kept .alts (RUNNER_BODY_BUCKET). */
  bodyObjects: ObjectStore;
  workers: KV;
  /** The fleet's slices of the tenants' budgets. */
  budgets: KV;
  /** The fleet's slices of the models' rate limits. */
  limits: KV;
  /** The fleet's controls: pause, drains, concurrency (altlas pause, drain, workers set). */
  control: KV;
}

/** Turns a failure to use a bucket into PERMISSION_DENIED (naming the subject), NATS_UNREACHABLE (a passing failure: retried) or TOPOLOGY_MISMATCH. */
export function storeError(what: string, bucket: string, e: unknown): AltlasError {
  const pe = e instanceof PermissionViolationError ? e : (e as { cause?: unknown })?.cause instanceof PermissionViolationError ? (e as { cause: PermissionViolationError }).cause : null;
  if (pe) {
    return new AltlasError('PERMISSION_DENIED', `the NATS user may not ${pe.operation} ${pe.subject}, which ${what} (${bucket}) needs`, { cause: e, context: { subject: pe.subject, operation: pe.operation, bucket } });
  }
  const message = (e as Error)?.message ?? String(e);
  if (isPassingNatsError(e)) {
    return new AltlasError('NATS_UNREACHABLE', `${what} bucket ${bucket} could not be reached: ${message}`, { cause: e, context: { bucket } });
  }
  if (/not found/i.test(message)) {
    return new AltlasError('TOPOLOGY_MISMATCH', `${what} bucket ${bucket} does not exist (RUNNER_PROVISION=false: create it with "altlas init", or let a worker provision it)`, { cause: e, context: { bucket } });
  }
  return new AltlasError('TOPOLOGY_MISMATCH', `${what} bucket ${bucket} cannot be used: ${message}`, { cause: e, context: { bucket } });
}

interface KvOptions {
  ttl: number;
  history: number;
  maxValueSize?: number;
  description: string;
}

/**
 * Creates a KV bucket's stream as the KV client would, but refusing roll-ups, purges and message
 * deletes (the KV client always allows roll-ups, and `Nats-Rollup: all` on any key empties the
 * bucket). Nothing is done when it exists.
 */
async function createBucketStream(jsm: JetStreamManager, c: StoresConfig, name: string, o: KvOptions): Promise<void> {
  const stream = `KV_${name}`;
  if (await jsm.streams.info(stream).then(() => true, () => false)) return;
  await jsm.streams.add({
    name: stream, subjects: [`$KV.${name}.>`], description: o.description, retention: RetentionPolicy.Limits, storage: StorageType.File,
    discard: DiscardPolicy.New, max_msgs_per_subject: o.history, max_msg_size: o.maxValueSize ?? -1, max_age: nanos(o.ttl),
    num_replicas: c.RUNNER_STREAM_REPLICAS, allow_direct: true, allow_rollup_hdrs: false, deny_purge: true, deny_delete: true,
  });
}

async function kvBucket(kvm: Kvm, jsm: JetStreamManager, c: StoresConfig, name: string, what: string, opts: KvOptions): Promise<KV> {
  try {
    if (!c.RUNNER_PROVISION) return await kvm.open(name);
    await createBucketStream(jsm, c, name, opts);
    return await kvm.create(name, { replicas: c.RUNNER_STREAM_REPLICAS, ...opts });
  } catch (e) {
    throw storeError(what, name, e);
  }
}

/** Opens every bucket, then proves it may write and remove in each (a probe key, removed at once). */
export async function openStores(nc: NatsConnection, c: StoresConfig, probeId: string, codec?: Codec): Promise<Stores> {
  const kvm = new Kvm(nc);
  const objm = new Objm(nc);
  const jsm = await jetstreamManager(nc);
  const status = await kvBucket(kvm, jsm, c, c.RUNNER_STATUS_BUCKET, 'job status', { ttl: c.RUNNER_STATUS_TTL_MS, history: 5, description: 'altlas-runner job status, one entry per job' });
  const cp = await kvBucket(kvm, jsm, c, c.RUNNER_CHECKPOINT_BUCKET, 'checkpoints and claims', { ttl: c.RUNNER_STATUS_TTL_MS, history: 1, maxValueSize: c.RUNNER_CHECKPOINT_MAX_VALUE, description: 'altlas-runner task checkpoints and redelivery claims' });
  const workers = await kvBucket(kvm, jsm, c, c.RUNNER_WORKERS_BUCKET, 'worker heartbeats', { ttl: c.RUNNER_HEARTBEAT_MS * 3, history: 1, description: 'altlas-runner worker heartbeats' });
  // An entry per tenant, period and unit with a limit, rewritten at every renewal: kept two months unused (longer than a period).
  const budgets = await kvBucket(kvm, jsm, c, c.BUDGET_BUCKET, 'tenant budgets', { ttl: 62 * 86_400_000, history: 1, description: 'altlas-runner slices of the tenants\' budgets per period' });
  // An entry per provider, model and unit, rewritten at every renewal: a model unused for a day is forgotten.
  const limits = await kvBucket(kvm, jsm, c, c.AI_LIMITS_BUCKET, 'model rate limits', { ttl: 86_400_000, history: 1, description: 'altlas-runner slices of the models\' rate limits per minute' });
  // A few keys, kept until an operator changes them (a pause outlives any TTL).
  const control = await kvBucket(kvm, jsm, c, c.RUNNER_CONTROL_BUCKET, 'fleet controls', { ttl: 0, history: 1, description: 'altlas-runner fleet controls: pause, drains, concurrency' });
  let objects: ObjectStore;
  try {
    objects = c.RUNNER_PROVISION
      ? await objm.create(c.RUNNER_OBJECT_BUCKET, { ttl: nanos(c.RUNNER_OBJECT_TTL_MS), replicas: c.RUNNER_STREAM_REPLICAS, description: 'altlas-runner artifacts and large outputs' })
      : await objm.open(c.RUNNER_OBJECT_BUCKET);
  } catch (e) {
    throw storeError('the object store', c.RUNNER_OBJECT_BUCKET, e);
  }
  // Job bodies apart from the artifacts: the operator reads them, the reader does not.
  let bodyObjects: ObjectStore;
  try {
    bodyObjects = c.RUNNER_PROVISION
      ? await objm.create(c.RUNNER_BODY_BUCKET, { ttl: nanos(c.DLQ_MAX_AGE_MS), replicas: c.RUNNER_STREAM_REPLICAS, description: 'altlas-runner job bodies: large DLQ originals, parked jobs, kept .alt files' })
      : await objm.open(c.RUNNER_BODY_BUCKET);
  } catch (e) {
    throw storeError('the job bodies\' object store', c.RUNNER_BODY_BUCKET, e);
  }
  const probe = `_probe.${probeId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const steps: [string, string, () => Promise<unknown>][] = [
    ['job status', c.RUNNER_STATUS_BUCKET, async () => {
      await status.put(probe, '');
      await status.delete(probe);
    }],
    ['checkpoints and claims', c.RUNNER_CHECKPOINT_BUCKET, async () => {
      await cp.put(probe, '');
      // A redelivered job lists its checkpoints (without a consumer): prove the listing too.
      await bucketEntries(jsm, c.RUNNER_CHECKPOINT_BUCKET, `${probe}.>`);
      await cp.delete(probe);
    }],
    ['the object store', c.RUNNER_OBJECT_BUCKET, async () => {
      await objects.putBlob({ name: probe }, new Uint8Array(1));
      await readObject(jsm, c.RUNNER_OBJECT_BUCKET, probe);
      await removeObject(jsm, c.RUNNER_OBJECT_BUCKET, probe);
    }],
    ['the job bodies\' object store', c.RUNNER_BODY_BUCKET, async () => {
      await bodyObjects.putBlob({ name: probe }, new Uint8Array(1));
      await removeObject(jsm, c.RUNNER_BODY_BUCKET, probe);
    }],
    ['worker heartbeats', c.RUNNER_WORKERS_BUCKET, () => workers.get(probe)],
    ['fleet controls', c.RUNNER_CONTROL_BUCKET, () => control.get(probe)],
    ['tenant budgets', c.BUDGET_BUCKET, async () => {
      await budgets.put(probe, '');
      await budgets.delete(probe);
    }],
    ['model rate limits', c.AI_LIMITS_BUCKET, async () => {
      await limits.put(probe, '');
      await limits.delete(probe);
    }],
  ];
  for (const [what, bucket, step] of steps) {
    try {
      await step();
    } catch (e) {
      throw storeError(what, bucket, e);
    }
  }
  return {
    status, workers, objects, bodyObjects, budgets, limits, control,
    checkpoints: new CheckpointStore({ kv: cp, bucket: c.RUNNER_CHECKPOINT_BUCKET, obj: objects, objBucket: c.RUNNER_OBJECT_BUCKET, jsm, maxValue: c.RUNNER_CHECKPOINT_MAX_VALUE, codec }),
  };
}
