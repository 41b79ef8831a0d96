/**
 * The NATS permissions each role needs, from one source: the README prints them, the
 * least-privilege test runs a nats-server with exactly these and every feature through it, and
 * `altlas permissions` prints them for a configuration. Each rule says which feature needs it.
 */
import type { Config } from '../config/schema.ts';

export interface Rule {
  subject: string;
  /** The feature that needs it. */
  why: string;
}

export interface RolePermissions {
  publish: Rule[];
  subscribe: Rule[];
}

export type PermissionsConfig = Pick<Config, 'ALT_STREAM' | 'ALT_SUBJECTS' | 'RUNNER_DURABLE' | 'LAST_STREAM' | 'LAST_SUBJECT_PREFIX' | 'DLQ_STREAM' | 'DLQ_SUBJECT_PREFIX'
  | 'RUNNER_STATUS_BUCKET' | 'RUNNER_CHECKPOINT_BUCKET' | 'RUNNER_OBJECT_BUCKET' | 'RUNNER_WORKERS_BUCKET' | 'NATS_INBOX_PREFIX' | 'RUNNER_PROVISION' | 'ARCHIVE_NOTIFY_SUBJECT'
  | 'PROGRESS_ENABLED' | 'PROGRESS_STREAM' | 'PROGRESS_SUBJECT_PREFIX' | 'PROGRESS_LIVE_PREFIX'>;

/** What a KV bucket's client does: write and purge keys, read them (direct get), watch or list them (ordered consumers). */
function kv(bucket: string, why: string, watch: boolean): Rule[] {
  const stream = `KV_${bucket}`;
  return [
    { subject: `$KV.${bucket}.>`, why: `${why}: write` },
    { subject: `$JS.API.STREAM.INFO.${stream}`, why: `${why}: open the bucket` },
    { subject: `$JS.API.DIRECT.GET.${stream}.>`, why: `${why}: read a key` },
    { subject: `$JS.API.STREAM.MSG.GET.${stream}`, why: `${why}: read a key` },
    { subject: `$JS.API.STREAM.PURGE.${stream}`, why: `${why}: remove keys` },
    ...(watch ? [
      { subject: `$JS.API.CONSUMER.CREATE.${stream}.>`, why: `${why}: watch or list keys` },
      { subject: `$JS.API.CONSUMER.INFO.${stream}.>`, why: `${why}: list keys` },
      { subject: `$JS.API.CONSUMER.DELETE.${stream}.>`, why: `${why}: stop a watch` },
    ] : []),
  ];
}

/** The runner's permissions for a configuration (the README shows them for the defaults). */
export function runnerPermissions(c: PermissionsConfig): RolePermissions {
  const alt = c.ALT_STREAM;
  const dur = c.RUNNER_DURABLE;
  const objects = `OBJ_${c.RUNNER_OBJECT_BUCKET}`;
  const publish: Rule[] = [
    { subject: '$JS.API.INFO', why: 'JetStream account info at start' },
    { subject: `$JS.API.STREAM.INFO.${alt}`, why: 'topology check, janitor' },
    { subject: `$JS.API.STREAM.INFO.${c.LAST_STREAM}`, why: 'topology check' },
    { subject: `$JS.API.STREAM.INFO.${c.DLQ_STREAM}`, why: 'topology check' },
    { subject: `$JS.API.CONSUMER.INFO.${alt}.${dur}`, why: 'topology check, janitor, consumer metrics' },
    { subject: `$JS.API.CONSUMER.MSG.NEXT.${alt}.${dur}`, why: 'pull jobs' },
    { subject: `$JS.ACK.${alt}.${dur}.>`, why: 'ack, nak, term, renew leases' },
    { subject: `$JS.API.STREAM.MSG.GET.${alt}`, why: 'max-deliveries guard and janitor read a stuck message' },
    { subject: `$JS.API.STREAM.MSG.DELETE.${alt}`, why: 'max-deliveries guard and janitor remove a settled message' },
    { subject: `${c.LAST_SUBJECT_PREFIX}.>`, why: 'publish .last results' },
    { subject: `$JS.API.STREAM.MSG.GET.${c.LAST_STREAM}`, why: 'recognise a redelivered job whose .last is stored' },
    { subject: `${c.DLQ_SUBJECT_PREFIX}.>`, why: 'dead letters' },
    ...(c.PROGRESS_ENABLED ? [
      { subject: `${c.PROGRESS_SUBJECT_PREFIX}.>`, why: 'progress: AI answers as they arrive' },
      { subject: `$JS.API.STREAM.INFO.${c.PROGRESS_STREAM}`, why: 'topology check' },
    ] : []),
    ...kv(c.RUNNER_STATUS_BUCKET, 'job status and cancel requests', true),
    ...kv(c.RUNNER_CHECKPOINT_BUCKET, 'checkpoints and claims', true),
    ...kv(c.RUNNER_WORKERS_BUCKET, 'worker heartbeats', false),
    { subject: `$O.${c.RUNNER_OBJECT_BUCKET}.>`, why: 'artifacts, large outputs, DLQ originals: write' },
    { subject: `$JS.API.STREAM.INFO.${objects}`, why: 'object store: open' },
    { subject: `$JS.API.DIRECT.GET.${objects}.>`, why: 'object store: read an object\'s entry' },
    { subject: `$JS.API.STREAM.MSG.GET.${objects}`, why: 'object store: read an object\'s entry' },
    { subject: `$JS.API.CONSUMER.CREATE.${objects}.>`, why: 'object store: read an object' },
    { subject: `$JS.API.CONSUMER.INFO.${objects}.>`, why: 'object store: read an object' },
    { subject: `$JS.API.CONSUMER.DELETE.${objects}.>`, why: 'object store: read an object' },
    { subject: `$JS.API.STREAM.PURGE.${objects}`, why: 'object store: delete an object' },
  ];
  if (c.ARCHIVE_NOTIFY_SUBJECT) publish.push({ subject: c.ARCHIVE_NOTIFY_SUBJECT, why: 'archive hand-off' });
  if (c.RUNNER_PROVISION) {
    for (const s of [alt, c.LAST_STREAM, c.DLQ_STREAM, ...(c.PROGRESS_ENABLED ? [c.PROGRESS_STREAM] : []), `KV_${c.RUNNER_STATUS_BUCKET}`, `KV_${c.RUNNER_CHECKPOINT_BUCKET}`, `KV_${c.RUNNER_WORKERS_BUCKET}`, objects]) {
      publish.push({ subject: `$JS.API.STREAM.CREATE.${s}`, why: 'RUNNER_PROVISION=true: create what is missing' });
    }
    publish.push({ subject: `$JS.API.CONSUMER.CREATE.${alt}.${dur}`, why: 'RUNNER_PROVISION=true: create the consumer' });
    publish.push({ subject: `$JS.API.CONSUMER.DURABLE.CREATE.${alt}.${dur}`, why: 'RUNNER_PROVISION=true: create the consumer (older servers)' });
  }
  return {
    publish,
    subscribe: [
      { subject: `${c.NATS_INBOX_PREFIX}.>`, why: 'replies to this process (pull requests, acks, API calls): its own inbox prefix, not _INBOX.>' },
      { subject: `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${alt}.${dur}`, why: 'dead-letter messages no worker settled' },
    ],
  };
}

/** What following a job's progress takes (`altlas watch`, `publish --wait --stream`, the dashboard): no consumer. */
function progressReading(c: PermissionsConfig, who: string): RolePermissions {
  return {
    publish: [{ subject: `$JS.API.STREAM.MSG.GET.${c.PROGRESS_STREAM}`, why: `${who}: read stored progress` }],
    subscribe: [
      { subject: `${c.PROGRESS_LIVE_PREFIX}.>`, why: `${who}: progress as it is stored` },
      { subject: `${c.LAST_SUBJECT_PREFIX}.>`, why: `${who}: see the .last when it is stored` },
    ],
  };
}

/** A producer (`altlas publish`, or any client that sends .alt files). */
export function producerPermissions(c: PermissionsConfig): RolePermissions {
  const subjects = c.ALT_SUBJECTS.split(',').map((s) => s.trim()).filter(Boolean);
  const progress = progressReading(c, 'altlas publish --wait --stream');
  return {
    publish: [
      ...subjects.map((subject) => ({ subject, why: 'publish .alt jobs (the PubAck comes to the inbox)' })),
      { subject: `$JS.API.STREAM.MSG.GET.${c.LAST_STREAM}`, why: 'altlas publish --wait: read a stored .last' },
      ...progress.publish,
    ],
    subscribe: [
      { subject: `${c.NATS_INBOX_PREFIX}.>`, why: 'PubAcks and replies (set NATS_INBOX_PREFIX per role)' },
      { subject: `${c.LAST_SUBJECT_PREFIX}.>`, why: 'altlas publish --wait: see results as they come' },
      progress.subscribe[0],
    ],
  };
}

/** A reader of results and operator commands (`altlas results`, `status`, `watch`, `dlq list/show`, `artifact get`). */
export function readerPermissions(c: PermissionsConfig): RolePermissions {
  const progress = progressReading(c, 'altlas watch, the dashboard');
  return {
    publish: [
      { subject: '$JS.API.INFO', why: 'JetStream account info' },
      { subject: `$JS.API.STREAM.INFO.*`, why: 'altlas status, results, dlq list' },
      { subject: `$JS.API.CONSUMER.CREATE.${c.LAST_STREAM}.>`, why: 'altlas results (ordered consumer)' },
      { subject: `$JS.API.CONSUMER.DELETE.${c.LAST_STREAM}.>`, why: 'altlas results (ordered consumer)' },
      { subject: `$JS.API.CONSUMER.INFO.${c.LAST_STREAM}.>`, why: 'altlas results (ordered consumer)' },
      { subject: `$JS.API.CONSUMER.MSG.NEXT.${c.LAST_STREAM}.>`, why: 'altlas results (ordered consumer)' },
      { subject: `$JS.API.CONSUMER.INFO.${c.ALT_STREAM}.${c.RUNNER_DURABLE}`, why: 'altlas status' },
      { subject: `$JS.API.STREAM.MSG.GET.*`, why: 'altlas dlq show, results lookups, artifact get' },
      { subject: `$JS.API.DIRECT.GET.>`, why: 'altlas status <job>, jobs, workers, artifact get' },
      { subject: `$JS.API.CONSUMER.CREATE.KV_${c.RUNNER_STATUS_BUCKET}.>`, why: 'altlas jobs, status --watch' },
      { subject: `$JS.API.CONSUMER.CREATE.KV_${c.RUNNER_WORKERS_BUCKET}.>`, why: 'altlas workers' },
      { subject: `$JS.API.CONSUMER.CREATE.OBJ_${c.RUNNER_OBJECT_BUCKET}.>`, why: 'altlas artifact get' },
      { subject: `$JS.API.CONSUMER.INFO.KV_${c.RUNNER_STATUS_BUCKET}.>`, why: 'altlas jobs' },
      { subject: `$JS.API.CONSUMER.INFO.KV_${c.RUNNER_WORKERS_BUCKET}.>`, why: 'altlas workers' },
      { subject: `$JS.API.CONSUMER.INFO.OBJ_${c.RUNNER_OBJECT_BUCKET}.>`, why: 'altlas artifact get' },
      ...progress.publish,
    ],
    subscribe: [{ subject: `${c.NATS_INBOX_PREFIX}.>`, why: 'replies' }, ...progress.subscribe],
  };
}

/** An operator: everything a reader may, plus `altlas cancel`, `dlq replay` and `dlq purge` (and the dashboard's actions). */
export function operatorPermissions(c: PermissionsConfig): RolePermissions {
  const reader = readerPermissions(c);
  const subjects = c.ALT_SUBJECTS.split(',').map((s) => s.trim()).filter(Boolean);
  return {
    publish: [
      ...reader.publish,
      { subject: `$KV.${c.RUNNER_STATUS_BUCKET}.cancel.>`, why: 'altlas cancel: write a cancel request' },
      ...subjects.map((subject) => ({ subject, why: 'altlas dlq replay: republish originals' })),
      { subject: `$JS.API.STREAM.MSG.DELETE.${c.DLQ_STREAM}`, why: 'altlas dlq purge: remove dead letters' },
      { subject: `$O.${c.RUNNER_OBJECT_BUCKET}.M.>`, why: 'altlas dlq purge: mark an original in the object store deleted' },
      { subject: `$JS.API.STREAM.PURGE.OBJ_${c.RUNNER_OBJECT_BUCKET}`, why: 'altlas dlq purge: remove an original\'s chunks' },
    ],
    subscribe: reader.subscribe,
  };
}

/** A role's permissions as a nats-server `permissions` block. */
export function serverPermissions(p: RolePermissions): string {
  const list = (rules: Rule[]) => [...new Set(rules.map((r) => r.subject))].map((s) => JSON.stringify(s)).join(', ');
  return `permissions: { publish: { allow: [${list(p.publish)}] }, subscribe: { allow: [${list(p.subscribe)}] } }`;
}

/** A role's permissions as YAML-ish lines for people (the README shows these). */
export function describePermissions(p: RolePermissions): string {
  const lines = (rules: Rule[]) => rules.map((r) => `    - "${r.subject}"${' '.repeat(Math.max(1, 56 - r.subject.length))}# ${r.why}`);
  return ['publish:', ...lines(p.publish), 'subscribe:', ...lines(p.subscribe)].join('\n');
}
