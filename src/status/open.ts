/** Opens (or, with provisioning, creates) the status bucket, the checkpoint bucket and the object store. */
import { Kvm, type KV } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import type { Config } from '../config/schema.ts';
import { Checkpoints } from './checkpoints.ts';

export type StoresConfig = Pick<Config, 'RUNNER_STATUS_BUCKET' | 'RUNNER_STATUS_TTL_MS' | 'RUNNER_CHECKPOINT_BUCKET' | 'RUNNER_OBJECT_BUCKET' | 'RUNNER_CHECKPOINT_MAX_VALUE' | 'RUNNER_PROVISION' | 'RUNNER_STREAM_REPLICAS'>;

export interface Stores {
  status: KV;
  checkpoints: Checkpoints;
}

export async function openStores(nc: NatsConnection, c: StoresConfig): Promise<Stores> {
  const kvm = new Kvm(nc);
  const objm = new Objm(nc);
  const kvOpts = { ttl: c.RUNNER_STATUS_TTL_MS, replicas: c.RUNNER_STREAM_REPLICAS };
  const status = c.RUNNER_PROVISION
    ? await kvm.create(c.RUNNER_STATUS_BUCKET, { ...kvOpts, history: 5, description: 'altlas-runner job status, one entry per job' })
    : await kvm.open(c.RUNNER_STATUS_BUCKET);
  const cp = c.RUNNER_PROVISION
    ? await kvm.create(c.RUNNER_CHECKPOINT_BUCKET, { ...kvOpts, history: 1, maxValueSize: c.RUNNER_CHECKPOINT_MAX_VALUE, description: 'altlas-runner completed-task checkpoints' })
    : await kvm.open(c.RUNNER_CHECKPOINT_BUCKET);
  const obj = c.RUNNER_PROVISION
    ? await objm.create(c.RUNNER_OBJECT_BUCKET, { ttl: nanos(c.RUNNER_STATUS_TTL_MS), replicas: c.RUNNER_STREAM_REPLICAS, description: 'altlas-runner checkpoint outputs too large for the KV bucket' })
    : await objm.open(c.RUNNER_OBJECT_BUCKET);
  return { status, checkpoints: new Checkpoints(cp, obj, c.RUNNER_OBJECT_BUCKET, c.RUNNER_CHECKPOINT_MAX_VALUE) };
}
