/**
 * The NATS permissions each role needs, from one source: the README prints them, the
 * least-privilege test runs a nats-server with exactly these, every feature through them and
 * every attack against them, and `altlas permissions` prints them for a configuration. Each rule
 * says which feature needs it.
 *
 * What the lists hold to: each role has its own inbox prefix (replies to one role never reach
 * another's subscriptions); only the runner reads the ALT stream and the checkpoints; no role
 * creates an ephemeral consumer (a user that may create one may create a push consumer
 * delivering anywhere: buckets and the object store are read by message gets and core
 * subscriptions instead, see status/store-access.ts), and only the runner creates consumers at
 * all, its two durables by name (the pull consumer on ALT, the archive hand-off's on LAST) and
 * only when it provisions; no role may purge a stream (a purge request cannot be limited to one
 * key or object by subject): keys are removed by delete markers, objects message by message.
 * Job bodies kept as objects (large DLQ originals, parked jobs, kept .alts) have their own object
 * store, apart from the artifacts: the runner writes it, the operator alone reads it besides.
 */
import type { Config } from '../config/schema.ts';
import { ROLE_INBOX_PREFIX } from '../config/defaults.ts';

/** The lane prefix of ALT_SUBJECTS, as flow/lanes.ts reads it (that layer sits above this one). */
function lanePrefixOf(altSubjects: string): string {
  for (const s of altSubjects.split(',').map((x) => x.trim())) {
    const m = /^(.+?)\.(?:>|\*\.\*)$/.exec(s);
    if (m && !/[*>]/.test(m[1])) return m[1];
  }
  return 'alt';
}

export interface Rule {
  subject: string;
  /** The feature that needs it. */
  why: string;
}

export interface RolePermissions {
  publish: Rule[];
  subscribe: Rule[];
}

export type Role = 'runner' | 'producer' | 'reader' | 'operator';

export type PermissionsConfig = Pick<Config, 'ALT_STREAM' | 'ALT_SUBJECTS' | 'RUNNER_DURABLE' | 'LAST_STREAM' | 'LAST_SUBJECT_PREFIX' | 'DLQ_STREAM' | 'DLQ_SUBJECT_PREFIX'
  | 'RUNNER_STATUS_BUCKET' | 'RUNNER_CHECKPOINT_BUCKET' | 'RUNNER_OBJECT_BUCKET' | 'RUNNER_WORKERS_BUCKET' | 'NATS_INBOX_PREFIX' | 'RUNNER_PROVISION' | 'ARCHIVE_NOTIFY_SUBJECT' | 'ARCHIVE_NOTIFY_DURABLE'
  | 'PROGRESS_ENABLED' | 'PROGRESS_STREAM' | 'PROGRESS_SUBJECT_PREFIX' | 'PROGRESS_LIVE_PREFIX'
  | 'USAGE_STREAM' | 'USAGE_SUBJECT_PREFIX' | 'BUDGET_BUCKET' | 'AI_LIMITS_BUCKET' | 'RUNNER_LANES' | 'HISTORY_ENABLED' | 'HISTORY_STREAM' | 'HISTORY_SUBJECT_PREFIX' | 'RUNNER_CONTROL_BUCKET' | 'RUNNER_BODY_BUCKET'>;

/** The inbox prefix of a role's processes: NATS_INBOX_PREFIX when set, else `_INBOX_altlas_<role>`. */
export function inboxPrefix(c: Pick<Config, 'NATS_INBOX_PREFIX'>, role: Role): string {
  return c.NATS_INBOX_PREFIX || `${ROLE_INBOX_PREFIX}_${role}`;
}

/** What a KV bucket's client does for the runner: write keys and delete markers, open the bucket and list its keys (stream info), read them (direct get). */
function kv(bucket: string, why: string): Rule[] {
  const stream = `KV_${bucket}`;
  return [
    { subject: `$KV.${bucket}.>`, why: `${why}: write, delete` },
    { subject: `$JS.API.STREAM.INFO.${stream}`, why: `${why}: open the bucket, list keys` },
    { subject: `$JS.API.DIRECT.GET.${stream}.>`, why: `${why}: read a key` },
    { subject: `$JS.API.STREAM.MSG.GET.${stream}`, why: `${why}: read a key` },
  ];
}

/** Reading the fleet controls' bucket: open it, list and read its keys (no write). */
function controlRead(c: PermissionsConfig, why: string): Rule[] {
  const stream = `KV_${c.RUNNER_CONTROL_BUCKET}`;
  return [
    { subject: `$JS.API.STREAM.INFO.${stream}`, why: `${why}: open the bucket, list keys` },
    { subject: `$JS.API.DIRECT.GET.${stream}.>`, why: `${why}: read a key` },
    { subject: `$JS.API.STREAM.MSG.GET.${stream}`, why: `${why}: read a key` },
  ];
}

/** The runner's permissions for a configuration (the README shows them for the defaults). */
export function runnerPermissions(c: PermissionsConfig): RolePermissions {
  const alt = c.ALT_STREAM;
  const dur = c.RUNNER_DURABLE;
  const objects = `OBJ_${c.RUNNER_OBJECT_BUCKET}`;
  const bodyObjects = `OBJ_${c.RUNNER_BODY_BUCKET}`;
  const publish: Rule[] = [
    { subject: '$JS.API.INFO', why: 'JetStream account info at start' },
    { subject: `$JS.API.STREAM.INFO.${alt}`, why: 'topology check, janitor' },
    { subject: `$JS.API.STREAM.INFO.${c.LAST_STREAM}`, why: 'topology check' },
    { subject: `$JS.API.STREAM.INFO.${c.DLQ_STREAM}`, why: 'topology check' },
    { subject: `$JS.API.CONSUMER.INFO.${alt}.${dur}`, why: 'topology check, janitor, consumer metrics' },
    { subject: `$JS.API.CONSUMER.LIST.${alt}`, why: 'topology check (lane consumers left), backlog metrics of every consumer' },
    { subject: `$JS.API.CONSUMER.MSG.NEXT.${alt}.${dur}`, why: 'pull jobs' },
    { subject: `$JS.ACK.${alt}.${dur}.>`, why: 'ack, nak, term, renew leases' },
    { subject: `$JS.API.STREAM.MSG.GET.${alt}`, why: 'max-deliveries guard and janitor read a stuck message' },
    { subject: `$JS.API.STREAM.MSG.DELETE.${alt}`, why: 'max-deliveries guard and janitor remove a settled message' },
    { subject: `${c.LAST_SUBJECT_PREFIX}.>`, why: 'publish .last results' },
    { subject: `$JS.API.STREAM.MSG.GET.${c.LAST_STREAM}`, why: 'recognise a redelivered job whose .last is stored' },
    { subject: `${c.DLQ_SUBJECT_PREFIX}.>`, why: 'dead letters' },
    { subject: `$JS.API.STREAM.INFO.${c.USAGE_STREAM}`, why: 'topology check' },
    { subject: `${c.USAGE_SUBJECT_PREFIX}.>`, why: 'usage records, one per AI call' },
    ...c.ALT_SUBJECTS.split(',').map((s) => s.trim()).filter(Boolean).map((subject) => ({ subject, why: 'approval timeouts: resume a parked job (its own .alt, republished)' })),
    ...(c.PROGRESS_ENABLED ? [
      { subject: `${c.PROGRESS_SUBJECT_PREFIX}.>`, why: 'progress: AI answers as they arrive' },
      { subject: `$JS.API.STREAM.INFO.${c.PROGRESS_STREAM}`, why: 'topology check' },
    ] : []),
    ...kv(c.RUNNER_STATUS_BUCKET, 'job status and cancel requests'),
    ...kv(c.RUNNER_CHECKPOINT_BUCKET, 'checkpoints and claims'),
    ...kv(c.RUNNER_WORKERS_BUCKET, 'worker heartbeats'),
    ...kv(c.BUDGET_BUCKET, 'tenant budgets: the fleet\'s slices of each period'),
    ...kv(c.AI_LIMITS_BUCKET, 'model rate limits: the fleet\'s slices of each minute'),
    ...controlRead(c, 'fleet controls (pause, drain, concurrency)'),
    { subject: `$KV.${c.RUNNER_CONTROL_BUCKET}.drain.>`, why: 'altlas drain: remove its drain request once drained' },
    ...(c.HISTORY_ENABLED ? [
      { subject: `${c.HISTORY_SUBJECT_PREFIX}.>`, why: 'job history: each job\'s events' },
      { subject: `$JS.API.STREAM.INFO.${c.HISTORY_STREAM}`, why: 'topology check' },
    ] : []),
    { subject: `$O.${c.RUNNER_OBJECT_BUCKET}.>`, why: 'artifacts, large outputs: write' },
    { subject: `$JS.API.STREAM.INFO.${objects}`, why: 'object store: open' },
    { subject: `$JS.API.DIRECT.GET.${objects}.>`, why: 'object store: read an object\'s entry' },
    { subject: `$JS.API.STREAM.MSG.GET.${objects}`, why: 'object store: read an object, message by message' },
    { subject: `$JS.API.STREAM.MSG.DELETE.${objects}`, why: 'object store: remove an object, message by message' },
    { subject: `$O.${c.RUNNER_BODY_BUCKET}.>`, why: 'job bodies (large DLQ originals, parked jobs, kept .alts): write' },
    { subject: `$JS.API.STREAM.INFO.${bodyObjects}`, why: 'job bodies: open' },
    { subject: `$JS.API.DIRECT.GET.${bodyObjects}.>`, why: 'job bodies: read an object\'s entry' },
    { subject: `$JS.API.STREAM.MSG.GET.${bodyObjects}`, why: 'job bodies: resume a parked job, message by message' },
    { subject: `$JS.API.STREAM.MSG.DELETE.${bodyObjects}`, why: 'job bodies: remove an ended parked job\'s, message by message' },
  ];
  if (c.ARCHIVE_NOTIFY_SUBJECT) {
    const durable = c.ARCHIVE_NOTIFY_DURABLE;
    publish.push(
      { subject: c.ARCHIVE_NOTIFY_SUBJECT, why: 'archive hand-off: notifications (requests: a subscriber must be there)' },
      { subject: `$JS.API.CONSUMER.INFO.${c.LAST_STREAM}.${durable}`, why: 'archive hand-off: its consumer on LAST' },
      { subject: `$JS.API.CONSUMER.MSG.NEXT.${c.LAST_STREAM}.${durable}`, why: 'archive hand-off: read stored .last results' },
      { subject: `$JS.ACK.${c.LAST_STREAM}.${durable}.>`, why: 'archive hand-off: ack a delivered notification, hand back one nobody got' },
    );
    if (c.RUNNER_PROVISION) {
      publish.push({ subject: `$JS.API.CONSUMER.CREATE.${c.LAST_STREAM}.${durable}`, why: 'archive hand-off: create its consumer' });
      publish.push({ subject: `$JS.API.CONSUMER.CREATE.${c.LAST_STREAM}.${durable}.>`, why: 'archive hand-off: create its consumer (with its filter)' });
      publish.push({ subject: `$JS.API.CONSUMER.DURABLE.CREATE.${c.LAST_STREAM}.${durable}`, why: 'archive hand-off: create its consumer (older servers)' });
    }
  }
  if (c.RUNNER_PROVISION) {
    for (const s of [alt, c.LAST_STREAM, c.DLQ_STREAM, c.USAGE_STREAM, ...(c.PROGRESS_ENABLED ? [c.PROGRESS_STREAM] : []), ...(c.HISTORY_ENABLED ? [c.HISTORY_STREAM] : []), `KV_${c.RUNNER_STATUS_BUCKET}`, `KV_${c.RUNNER_CHECKPOINT_BUCKET}`, `KV_${c.RUNNER_WORKERS_BUCKET}`, `KV_${c.BUDGET_BUCKET}`, `KV_${c.AI_LIMITS_BUCKET}`, `KV_${c.RUNNER_CONTROL_BUCKET}`, objects, bodyObjects]) {
      publish.push({ subject: `$JS.API.STREAM.CREATE.${s}`, why: 'RUNNER_PROVISION=true: create what is missing' });
    }
    publish.push({ subject: `$JS.API.CONSUMER.CREATE.${alt}.${dur}`, why: 'RUNNER_PROVISION=true: create the consumer' });
    publish.push({ subject: `$JS.API.CONSUMER.DURABLE.CREATE.${alt}.${dur}`, why: 'RUNNER_PROVISION=true: create the consumer (older servers)' });
  }
  const lanes = c.RUNNER_LANES ? laneRules(c) : null;
  if (lanes) publish.push(...lanes.publish);
  return {
    publish,
    subscribe: [
      { subject: `${inboxPrefix(c, 'runner')}.>`, why: 'replies to the runner (pull requests, acks, API calls): its own inbox prefix' },
      { subject: `$KV.${c.RUNNER_STATUS_BUCKET}.cancel.>`, why: 'cancel requests as they are written (a watch without a consumer)' },
      { subject: `$KV.${c.RUNNER_CONTROL_BUCKET}.>`, why: 'fleet controls as they are written (a watch without a consumer)' },
      { subject: `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${alt}.${lanes ? '*' : dur}`, why: 'dead-letter messages no worker settled' },
      ...(lanes ? lanes.subscribe : []),
    ],
  };
}

/**
 * RUNNER_LANES: the consumers of the lanes' tenants are made, used and removed by the workers, by
 * names no rule can spell in advance: every consumer of the ALT stream (never an ephemeral one).
 */
function laneRules(c: PermissionsConfig): RolePermissions {
  const alt = c.ALT_STREAM;
  const prefix = lanePrefixOf(c.ALT_SUBJECTS);
  const why = 'RUNNER_LANES: a consumer per lane and tenant';
  return {
    publish: [
      { subject: `$JS.API.CONSUMER.MSG.NEXT.${alt}.*`, why: `${why}: pull jobs` },
      { subject: `$JS.ACK.${alt}.*.>`, why: `${why}: ack, nak, term, renew leases` },
      { subject: `$JS.API.CONSUMER.CREATE.${alt}.*.>`, why: `${why}: create one when work comes (with its filter)` },
      { subject: `$JS.API.CONSUMER.DURABLE.CREATE.${alt}.*`, why: `${why}: create one (older servers)` },
      { subject: `$JS.API.CONSUMER.DELETE.${alt}.*`, why: `${why}: remove an idle one whose subject holds nothing` },
    ],
    subscribe: [
      { subject: `${prefix}.*.*`, why: `${why}: a job published on a lane wakes its queue (the subject is read, not the body)` },
      { subject: `${prefix}.*`, why: `${why}: a job published outside lanes wakes RUNNER_DURABLE's queue` },
    ],
  };
}

/** Following a job's progress (`altlas watch`, `publish --wait --stream`, the dashboard), without a consumer: stored messages by gets... */
const progressStored = (c: PermissionsConfig, who: string): Rule => ({ subject: `$JS.API.STREAM.MSG.GET.${c.PROGRESS_STREAM}`, why: `${who}: read stored progress` });
/** ...and new ones as the stream republishes them. */
const progressLive = (c: PermissionsConfig, who: string): Rule => ({ subject: `${c.PROGRESS_LIVE_PREFIX}.>`, why: `${who}: progress as it is stored` });

/** A producer (`altlas publish`, or any client that sends .alt files). */
export function producerPermissions(c: PermissionsConfig): RolePermissions {
  const subjects = c.ALT_SUBJECTS.split(',').map((s) => s.trim()).filter(Boolean);
  return {
    publish: [
      ...subjects.map((subject) => ({ subject, why: 'publish .alt jobs (the PubAck comes to the inbox)' })),
      { subject: `$JS.API.STREAM.MSG.GET.${c.LAST_STREAM}`, why: 'altlas publish --wait: read a stored .last' },
      progressStored(c, 'altlas publish --wait --stream'),
    ],
    subscribe: [
      { subject: `${inboxPrefix(c, 'producer')}.>`, why: 'PubAcks and replies to producers: their own inbox prefix' },
      { subject: `${c.LAST_SUBJECT_PREFIX}.>`, why: 'altlas publish --wait: see results as they come' },
      progressLive(c, 'altlas publish --wait --stream'),
    ],
  };
}

/** A reader of results and operator commands (`altlas results`, `status`, `jobs`, `workers`, `watch`, `dlq list/show`, `artifact get`, the dashboard read-only). */
export function readerPermissions(c: PermissionsConfig): RolePermissions {
  const runs = `KV_${c.RUNNER_STATUS_BUCKET}`;
  const workers = `KV_${c.RUNNER_WORKERS_BUCKET}`;
  const objects = `OBJ_${c.RUNNER_OBJECT_BUCKET}`;
  return {
    publish: [
      { subject: '$JS.API.INFO', why: 'JetStream account info' },
      { subject: `$JS.API.STREAM.INFO.${c.ALT_STREAM}`, why: 'altlas status: the stream\'s counts; altlas cancel: its last sequence' },
      { subject: `$JS.API.CONSUMER.INFO.${c.ALT_STREAM}.${c.RUNNER_DURABLE}`, why: 'altlas status, the dashboard: the consumer\'s counts' },
      { subject: `$JS.API.CONSUMER.LIST.${c.ALT_STREAM}`, why: 'altlas status, the dashboard: the backlog of every consumer (the lanes\')' },
      { subject: `$JS.API.STREAM.INFO.${c.LAST_STREAM}`, why: 'altlas status, results' },
      { subject: `$JS.API.STREAM.MSG.GET.${c.LAST_STREAM}`, why: 'altlas results, artifact get, status <job>, the dashboard: read .last results' },
      { subject: `$JS.API.STREAM.INFO.${c.DLQ_STREAM}`, why: 'altlas status, dlq list' },
      { subject: `$JS.API.STREAM.MSG.GET.${c.DLQ_STREAM}`, why: 'altlas dlq list, dlq show' },
      { subject: `$JS.API.STREAM.INFO.${runs}`, why: 'altlas jobs, status <job>: list the keys' },
      { subject: `$JS.API.DIRECT.GET.${runs}.>`, why: 'altlas jobs, status <job>: read an entry' },
      { subject: `$JS.API.STREAM.MSG.GET.${runs}`, why: 'altlas jobs, status <job>: read an entry' },
      { subject: `$JS.API.STREAM.INFO.${workers}`, why: 'altlas workers: list the keys' },
      { subject: `$JS.API.DIRECT.GET.${workers}.>`, why: 'altlas workers: read a heartbeat' },
      { subject: `$JS.API.STREAM.MSG.GET.${workers}`, why: 'altlas workers: read a heartbeat' },
      { subject: `$JS.API.STREAM.INFO.${objects}`, why: 'altlas artifact get, dlq show: open the object store' },
      { subject: `$JS.API.STREAM.MSG.GET.${objects}`, why: 'altlas artifact get, dlq show: read an object' },
      { subject: `$JS.API.STREAM.INFO.${c.USAGE_STREAM}`, why: 'altlas usage: the records\' range' },
      { subject: `$JS.API.STREAM.MSG.GET.${c.USAGE_STREAM}`, why: 'altlas usage: read the records' },
      progressStored(c, 'altlas watch, the dashboard'),
      { subject: `$JS.API.STREAM.INFO.KV_${c.AI_LIMITS_BUCKET}`, why: 'altlas limits, the dashboard: list the models\' limits' },
      { subject: `$JS.API.DIRECT.GET.KV_${c.AI_LIMITS_BUCKET}.>`, why: 'altlas limits, the dashboard: read a model\'s limit' },
      { subject: `$JS.API.STREAM.MSG.GET.KV_${c.AI_LIMITS_BUCKET}`, why: 'altlas limits, the dashboard: read a model\'s limit' },
      { subject: `$JS.API.STREAM.INFO.${c.HISTORY_STREAM}`, why: 'altlas history, the dashboard: the events\' range' },
      { subject: `$JS.API.STREAM.MSG.GET.${c.HISTORY_STREAM}`, why: 'altlas history, the dashboard: read a job\'s events' },
      ...controlRead(c, 'altlas workers, jobs --watch: the fleet controls'),
    ],
    subscribe: [
      { subject: `${inboxPrefix(c, 'reader')}.>`, why: 'replies to readers: their own inbox prefix' },
      { subject: `${c.LAST_SUBJECT_PREFIX}.>`, why: 'altlas results --follow, watch, status --watch, the dashboard: results as they are published' },
      progressLive(c, 'altlas watch, the dashboard'),
      { subject: `$KV.${c.RUNNER_STATUS_BUCKET}.>`, why: 'altlas status --watch, the dashboard: status writes as they are published' },
      { subject: `$KV.${c.RUNNER_WORKERS_BUCKET}.>`, why: 'the dashboard: heartbeats as they are published' },
    ],
  };
}

/**
 * An operator: everything a reader may, plus `altlas cancel`, `dlq replay` and `dlq purge` (and
 * the dashboard's actions). It may also read replies to readers (an operator runs the reader's
 * commands, which use the reader's prefix; it may read all a reader may).
 */
export function operatorPermissions(c: PermissionsConfig): RolePermissions {
  const reader = readerPermissions(c);
  const subjects = c.ALT_SUBJECTS.split(',').map((s) => s.trim()).filter(Boolean);
  return {
    publish: [
      ...reader.publish,
      { subject: `$KV.${c.RUNNER_STATUS_BUCKET}.cancel.>`, why: 'altlas cancel: write a cancel request' },
      { subject: `$KV.${c.RUNNER_STATUS_BUCKET}.decision.>`, why: 'altlas approve: record a decision (created once)' },
      { subject: `$KV.${c.RUNNER_STATUS_BUCKET}.replay.>`, why: 'altlas replay: the recorded results a replay keeps' },
      ...subjects.map((subject) => ({ subject, why: 'altlas dlq replay: republish originals; altlas approve: resume a parked job; altlas replay: publish a replay' })),
      { subject: `$JS.API.STREAM.MSG.DELETE.${c.DLQ_STREAM}`, why: 'altlas dlq replay (without --keep), dlq purge: remove single dead letters' },
      { subject: `$KV.${c.RUNNER_CONTROL_BUCKET}.>`, why: 'altlas pause, resume, drain, workers set: write a fleet control' },
      { subject: `$JS.API.CONSUMER.PAUSE.${c.ALT_STREAM}.${c.RUNNER_DURABLE}`, why: 'altlas pause, resume: the consumer pause of nats-server 2.11 and later' },
      { subject: `${c.HISTORY_SUBJECT_PREFIX}.>`, why: 'job history: who cancelled, approved, replayed, paused' },
      { subject: `$JS.API.STREAM.INFO.OBJ_${c.RUNNER_BODY_BUCKET}`, why: 'altlas dlq show/replay, approve, replay: open the job bodies (the reader\'s never)' },
      { subject: `$JS.API.STREAM.MSG.GET.OBJ_${c.RUNNER_BODY_BUCKET}`, why: 'altlas dlq show/replay, approve, replay: read a large original, a parked job, a kept .alt' },
      { subject: `$JS.API.STREAM.MSG.DELETE.OBJ_${c.RUNNER_BODY_BUCKET}`, why: 'altlas dlq replay, dlq purge: remove a large original, message by message' },
    ],
    subscribe: [{ subject: `${inboxPrefix(c, 'operator')}.>`, why: 'replies to operators: their own inbox prefix' }, ...reader.subscribe],
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

/** Each role's permissions, by name. */
export const ROLE_PERMISSIONS: Record<Role, (c: PermissionsConfig) => RolePermissions> = {
  runner: runnerPermissions, producer: producerPermissions, reader: readerPermissions, operator: operatorPermissions,
};
