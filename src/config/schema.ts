/**
 * The configuration schema: one property per environment variable (the names are the contract),
 * each with its default from {@link DEFAULTS} and a description the README repeats.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { StringEnum } from '../alt/forms/helpers.ts';
import { DEFAULTS, MAX_CONCURRENCY } from './defaults.ts';

type Key = keyof typeof DEFAULTS;
const int = (key: Key, min: number, description: string, max?: number) =>
  Type.Integer({ minimum: min, ...(max === undefined ? {} : { maximum: max }), default: DEFAULTS[key], description });
const str = (key: Key, description: string, pattern?: string) =>
  Type.String({ default: DEFAULTS[key], description, ...(pattern ? { pattern } : {}) });
const optional = (description: string) => Type.Optional(Type.String({ description }));

const SUBJECT = '^[^\\s*>]+(\\.[^\\s*>]+)*$';
const STREAM_NAME = '^[^\\s.*>/\\\\]+$';

export const ConfigSchema = Type.Object({
  NATS_URL: str('NATS_URL', 'NATS server URLs, comma-separated.', '\\S'),
  NATS_CREDS: optional('Path of a NATS credentials (.creds) file.'),
  NATS_NKEY: optional('Path of a file holding an NKey seed (or the seed itself).'),
  NATS_TOKEN: optional('Auth token.'),
  NATS_USER: optional('User name (with NATS_PASSWORD).'),
  NATS_PASSWORD: optional('Password (with NATS_USER).'),
  NATS_TLS_CA: optional('Path of the CA certificate that signs the server certificate (turns TLS on).'),
  NATS_TLS_CERT: optional('Path of the client certificate, for mutual TLS (with NATS_TLS_KEY).'),
  NATS_TLS_KEY: optional('Path of the client private key, for mutual TLS.'),
  NATS_INBOX_PREFIX: Type.Optional(Type.String({
    description: 'Prefix of this process\'s reply subjects (<prefix>.<random>); unset: _INBOX_altlas_<role> (runner, producer, reader, operator), so each role\'s user subscribes to its own prefix only.',
    pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$',
  })),
  ALT_STREAM: str('ALT_STREAM', 'Stream holding the .alt jobs.', STREAM_NAME),
  ALT_SUBJECTS: str('ALT_SUBJECTS', 'Subjects of the ALT stream, comma-separated (wildcards allowed).', '\\S'),
  RUNNER_DURABLE: str('RUNNER_DURABLE', 'Durable pull consumer shared by all workers.', STREAM_NAME),
  LAST_STREAM: str('LAST_STREAM', 'Stream holding the .last results.', STREAM_NAME),
  LAST_SUBJECT_PREFIX: str('LAST_SUBJECT_PREFIX', 'Results go to <prefix>.<job id token>.', SUBJECT),
  DLQ_STREAM: str('DLQ_STREAM', 'Stream holding dead-lettered .alt messages.', STREAM_NAME),
  DLQ_SUBJECT_PREFIX: str('DLQ_SUBJECT_PREFIX', 'Dead letters go to <prefix>.<error code>.', SUBJECT),
  RUNNER_PROVISION: Type.Boolean({ default: DEFAULTS.RUNNER_PROVISION, description: 'Create missing streams and the consumer (false where an operator manages them).' }),
  RUNNER_STREAM_REPLICAS: int('RUNNER_STREAM_REPLICAS', 1, 'Replicas of the streams the runner creates (use 3 in a NATS cluster).', 5),
  LAST_DUPLICATE_WINDOW_MS: int('LAST_DUPLICATE_WINDOW_MS', 1_000, 'How long the LAST stream de-duplicates a result by Nats-Msg-Id (set when the runner creates the stream).'),
  LAST_MAX_AGE_MS: int('LAST_MAX_AGE_MS', 0, 'How long the LAST stream keeps a .last (set when the runner creates it; an existing stream that differs is reported, not changed); 0: forever.'),
  LAST_MAX_BYTES: int('LAST_MAX_BYTES', -1, 'Bytes the LAST stream keeps at most, oldest removed first (set when the runner creates it); -1: no limit.'),
  RUNNER_BODY_BUCKET: str('RUNNER_BODY_BUCKET', 'Object store bucket for job bodies, apart from the artifacts: originals of dead letters too large for a message, parked approval jobs and, with RUNNER_KEEP_ALT, each job\'s .alt; the runner writes it, only the runner and the operator read it; kept DLQ_MAX_AGE_MS.', STREAM_NAME),
  DLQ_MAX_AGE_MS: int('DLQ_MAX_AGE_MS', 0, 'How long the DLQ stream keeps a dead letter (set when the runner creates it); 0: forever.'),
  USAGE_STREAM: str('USAGE_STREAM', 'Stream of usage records, one per AI call (altlas usage).', STREAM_NAME),
  USAGE_SUBJECT_PREFIX: str('USAGE_SUBJECT_PREFIX', 'Usage records go to <prefix>.<tenant>.<model>.', SUBJECT),
  USAGE_MAX_AGE_MS: int('USAGE_MAX_AGE_MS', 0, 'How long the usage stream keeps a record (set when the runner creates it); 0: forever.'),
  HISTORY_ENABLED: Type.Boolean({ default: DEFAULTS.HISTORY_ENABLED, description: 'Write each job\'s events (deliveries, task attempts, lease losses, hand-backs, operators\' actions) to the history stream (altlas history, the dashboard).' }),
  HISTORY_STREAM: str('HISTORY_STREAM', 'Stream of job events, one subject per job (limits retention, discard old).', STREAM_NAME),
  HISTORY_SUBJECT_PREFIX: str('HISTORY_SUBJECT_PREFIX', 'Job events go to <prefix>.<job id token>.', SUBJECT),
  HISTORY_MAX_AGE_MS: int('HISTORY_MAX_AGE_MS', 0, 'How long the history stream keeps an event (set when the runner creates it; altlas init --apply applies a change); 0: forever.'),
  HISTORY_MAX_BYTES: int('HISTORY_MAX_BYTES', -1, 'Bytes the history stream keeps at most, oldest removed first (set when the runner creates it; altlas init --apply applies a change); -1: no limit.'),
  HISTORY_BUFFER: int('HISTORY_BUFFER', 1, 'Events a worker holds at most (waiting to be sent, or sent and not yet seen stored); past it new events are dropped (altlas_history_dropped_total). The worker never waits for them.', 1_000_000),
  HISTORY_FLUSH_MS: int('HISTORY_FLUSH_MS', 1, 'Milliseconds the events of a job still running wait to be sent together as one message; a job\'s events go at once when it leaves the worker (stored, dead-lettered, handed back, parked), so a short job\'s history costs one publish. A worker that crashes loses at most this much of its history.', 60_000),
  PROGRESS_ENABLED: Type.Boolean({ default: DEFAULTS.PROGRESS_ENABLED, description: 'Publish AI answers as they arrive to the progress stream (altlas watch, publish --wait --stream, the dashboard).' }),
  PROGRESS_STREAM: str('PROGRESS_STREAM', 'Stream holding the progress of AI answers (limits retention, discard old).', STREAM_NAME),
  PROGRESS_SUBJECT_PREFIX: str('PROGRESS_SUBJECT_PREFIX', 'Progress goes to <prefix>.<job id token>.<task token>.', SUBJECT),
  PROGRESS_LIVE_PREFIX: str('PROGRESS_LIVE_PREFIX', 'The progress stream republishes every stored message to <prefix>.<job id token>.<task token>, with its stream sequence (what clients follow live). Outside the progress stream\'s subjects.', SUBJECT),
  PROGRESS_MAX_AGE_MS: int('PROGRESS_MAX_AGE_MS', 0, 'How long the progress stream keeps a message (set when the runner creates it; altlas init --apply applies a change); 0: forever.'),
  PROGRESS_MAX_BYTES: int('PROGRESS_MAX_BYTES', -1, 'Bytes the progress stream keeps at most, oldest removed first (set when the runner creates it; altlas init --apply applies a change); -1: no limit.'),
  PROGRESS_DUPLICATE_WINDOW_MS: int('PROGRESS_DUPLICATE_WINDOW_MS', 1_000, 'How long the progress stream de-duplicates a message by Nats-Msg-Id, at most PROGRESS_MAX_AGE_MS (set when the runner creates it; altlas init --apply applies a change).'),
  PROGRESS_FLUSH_MS: int('PROGRESS_FLUSH_MS', 1, 'Milliseconds text of an answer waits to be sent with the text after it; the first chunk of each attempt is sent at once.', 60_000),
  PROGRESS_FLUSH_BYTES: int('PROGRESS_FLUSH_BYTES', 256, 'Bytes of waiting text that are sent at once; also the most text one progress message carries.', 262_144),
  PROGRESS_DRAIN_MS: int('PROGRESS_DRAIN_MS', 0, 'Milliseconds an AI task waits after its call until its progress is stored (so a .last never precedes it); past it the rest is given up and logged.'),
  RUNNER_CONCURRENCY: int('RUNNER_CONCURRENCY', 1, 'Jobs in flight per worker process.', MAX_CONCURRENCY),
  RUNNER_ACK_WAIT_MS: int('RUNNER_ACK_WAIT_MS', 1_000, 'Milliseconds before JetStream redelivers an unacknowledged job; the lease is renewed at a third of it.'),
  RUNNER_MAX_DELIVER: int('RUNNER_MAX_DELIVER', 1, 'Deliveries of one .alt message before it is dead-lettered.', 1_000),
  RUNNER_SHUTDOWN_GRACE_MS: int('RUNNER_SHUTDOWN_GRACE_MS', 0, 'Milliseconds in-flight jobs get to finish on SIGTERM/SIGINT.'),
  RUNNER_NAK_DELAY_MS: int('RUNNER_NAK_DELAY_MS', 0, 'First redelivery delay after a transient failure (doubles per delivery).'),
  RUNNER_NAK_MAX_DELAY_MS: int('RUNNER_NAK_MAX_DELAY_MS', 0, 'Cap of the redelivery delay.'),
  RUNNER_JANITOR_INTERVAL_MS: int('RUNNER_JANITOR_INTERVAL_MS', 0, 'Milliseconds between janitor passes: messages left in ALT below the consumer\'s ack floor are removed (their .last exists) or dead-lettered (STRANDED); 0: off.'),
  RUNNER_LANES: Type.Boolean({ default: DEFAULTS.RUNNER_LANES, description: 'Priority lanes and tenant fairness: jobs on <prefix>.<lane>.<tenant> are pulled through one consumer per lane and tenant (RUNNER_DURABLE-<lane>-<tenant>, created when work comes), the highest lane first, tenants shared fairly; other subjects through RUNNER_DURABLE filtered on <prefix>.*. Off: RUNNER_DURABLE takes every subject in order.' }),
  RUNNER_LANE_MIN_SHARE: Type.Number({ minimum: 0, maximum: 0.25, default: DEFAULTS.RUNNER_LANE_MIN_SHARE, description: 'Share of the jobs a worker starts that each lower lane with waiting work keeps while higher lanes saturate it (no starvation), 0 to 0.25.' }),
  RUNNER_TENANT_WEIGHTS: Type.Optional(Type.String({ description: 'Tenants\' weights in fair sharing, tenant=weight comma-separated, * for the others (default 1): a tenant with weight 2 gets twice the starts of one with 1 while both wait.', pattern: '^\\s*$|^\\s*[^=,\\s]+\\s*=\\s*\\d+(\\.\\d+)?\\s*(,\\s*[^=,\\s]+\\s*=\\s*\\d+(\\.\\d+)?\\s*)*$' })),
  RUNNER_TENANT_RESERVE: int('RUNNER_TENANT_RESERVE', 0, 'RUNNER_LANES: while more than one tenant was active on a worker in the last 10 s in its lane or a higher one, a tenant holding more than its fair share of the worker\'s slots (the slots divided among those tenants) does not take the last this many free slots, so that a light tenant\'s job starts at once beside a flood; 0: off. One tenant alone takes every slot.'),
  RUNNER_LANE_SCAN_MS: int('RUNNER_LANE_SCAN_MS', 50, 'Milliseconds between scans of the ALT stream\'s lane subjects (one stream info) for waiting work a worker was not told of as it was published.'),
  RUNNER_LANE_IDLE_MS: int('RUNNER_LANE_IDLE_MS', 500, 'Milliseconds a lane consumer (one lane of one tenant) may sit unused before the server removes it; it is created again when work comes.'),
  RUNNER_METRICS_TENANTS: int('RUNNER_METRICS_TENANTS', 0, 'Tenants with a label of their own in the lane metrics of one process: the first this many it sees; the others are _other (bounded series for any number of tenants).', 10_000),
  RUNNER_STATUS_BUCKET: str('RUNNER_STATUS_BUCKET', 'KV bucket with one status entry per job (created when missing and RUNNER_PROVISION=true).'),
  RUNNER_STATUS_TTL_MS: int('RUNNER_STATUS_TTL_MS', 1_000, 'How long status entries and checkpoints are kept.'),
  RUNNER_STATUS_FLUSH_MS: int('RUNNER_STATUS_FLUSH_MS', 10, 'Coalescing interval of a job\'s status writes, and how long a job runs before its first; a job that finishes sooner writes none (its .last is its record); state changes are written at once.'),
  RUNNER_CHECKPOINT_BUCKET: str('RUNNER_CHECKPOINT_BUCKET', 'KV bucket of task checkpoints and redelivery claims.'),
  RUNNER_CHECKPOINT_BUDGET_MS: int('RUNNER_CHECKPOINT_BUDGET_MS', 0, 'Milliseconds of AI work a crash may re-pay per job: completed results are written once their AI time adds up to more (0: each at once).'),
  RUNNER_CHECKPOINT_BUDGET_COST: Type.Number({ minimum: 0, default: DEFAULTS.RUNNER_CHECKPOINT_BUDGET_COST, description: 'Money (in AI_PRICES\'s currency) a crash may re-pay per job: completed results are written once their cost adds up to more, so a call that cost more is written at once (0: each call with a cost at once).' }),
  RUNNER_OBJECT_BUCKET: str('RUNNER_OBJECT_BUCKET', 'Object store bucket for artifacts and large checkpoint outputs (job bodies have their own, RUNNER_BODY_BUCKET).', STREAM_NAME),
  RUNNER_OBJECT_TTL_MS: int('RUNNER_OBJECT_TTL_MS', 1_000, 'How long artifacts and large outputs are kept in the object store (set when the runner creates the bucket).'),
  RUNNER_APPROVAL_SWEEP_MS: int('RUNNER_APPROVAL_SWEEP_MS', 100, 'Milliseconds between the workers\' sweeps of parked jobs: an approval past its timeout is decided by its on_timeout and resumed, a job waiting for its tenant\'s budget is resumed once the period turned.'),
  RUNNER_CHECKPOINT_MAX_VALUE: int('RUNNER_CHECKPOINT_MAX_VALUE', 4_096, 'Bytes: the checkpoint bucket\'s max value size; outputs above a quarter of it go to the object store.', 1_048_576),
  RUNNER_OUTPUT_INLINE_MAX: int('RUNNER_OUTPUT_INLINE_MAX', 256, 'Bytes: a task output larger than this is stored as an artifact object, and the .last keeps a preview and its URL.', 524_288),
  RUNNER_KEEP_ALT: Type.Boolean({ default: DEFAULTS.RUNNER_KEEP_ALT, description: 'Keep each job\'s .alt in the job bodies\' object store (RUNNER_BODY_BUCKET: alt/<job>, the newest run\'s, sealed under PAYLOAD_KEYS, kept DLQ_MAX_AGE_MS), so that altlas replay and the dashboard replay a job without its file; one object write per job.' }),
  RUNNER_WORKERS_BUCKET: str('RUNNER_WORKERS_BUCKET', 'KV bucket of worker heartbeats (altlas workers, the dashboard).'),
  RUNNER_CONTROL_BUCKET: str('RUNNER_CONTROL_BUCKET', 'KV bucket of the fleet\'s controls every worker watches: altlas pause/resume, drain, workers set --concurrency.'),
  RUNNER_HEARTBEAT_MS: int('RUNNER_HEARTBEAT_MS', 500, 'Milliseconds between heartbeats; an entry expires after three missed ones.'),
  RUNNER_TASK_CONCURRENCY: int('RUNNER_TASK_CONCURRENCY', 1, 'Tasks of one job running at once.', 1_000),
  RUNNER_TASK_TIMEOUT_S: int('RUNNER_TASK_TIMEOUT_S', 1, 'Seconds a task may run when neither the task nor its parameters say.'),
  RUNNER_TASK_RETRY_BASE_MS: int('RUNNER_TASK_RETRY_BASE_MS', 0, 'First delay between task attempts (exponential, full jitter).'),
  RUNNER_TASK_RETRY_MAX_MS: int('RUNNER_TASK_RETRY_MAX_MS', 0, 'Cap of the delay between task attempts.'),
  LOOP_MAX_ITERATIONS: int('LOOP_MAX_ITERATIONS', 0, 'Iterations of one 2.0 loop; more fail the loop with LOOP_LIMIT.', 1_000_000),
  CALL_MAX_DEPTH: int('CALL_MAX_DEPTH', 1, 'Nested 2.0 function calls, recursion included; deeper fails the call with CALL_DEPTH.', 1_000),
  ALT_MAX_BYTES: int('ALT_MAX_BYTES', 1, 'Largest .alt payload in bytes.'),
  ALT_STREAM_MAX_MSG_BYTES: int('ALT_STREAM_MAX_MSG_BYTES', -1, 'Largest message the ALT stream stores (its max_msg_size, set when the runner creates it; altlas init --apply applies a change), so a producer cannot store messages far beyond ALT_MAX_BYTES however large the server\'s max payload; 0: ALT_MAX_BYTES plus 64 KiB (room for sealing and headers); -1: no limit.'),
  ALT_MAX_TASKS: int('ALT_MAX_TASKS', 0, 'Most tasks (segments) in one job.'),
  ALT_MAX_DEPTH: int('ALT_MAX_DEPTH', 1, 'Most tasks on one dependency chain.'),
  ALT_MAX_YAML_ALIASES: int('ALT_MAX_YAML_ALIASES', 0, 'Most YAML alias dereferences (alias bombs).'),
  ALT_MAX_STRING_LENGTH: int('ALT_MAX_STRING_LENGTH', 1, 'Longest string (or key) in characters.'),
  ALT_MAX_NESTING: int('ALT_MAX_NESTING', 2, 'Deepest nesting of lists and objects.', 10_000),
  ALT_MAX_KEYS: int('ALT_MAX_KEYS', 1, 'Most keys in one mapping (object).'),
  ALT_MAX_NODES: int('ALT_MAX_NODES', 1, 'Most values (nodes) in one document.'),
  ALT_MAX_PROBLEMS: int('ALT_MAX_PROBLEMS', 1, 'Most problems one error lists; the rest are counted.', 10_000),
  ALT_DECODE_TIMEOUT_MS: int('ALT_DECODE_TIMEOUT_MS', 100, 'Milliseconds decoding one payload may take; beyond, it is refused with ALT_LIMIT decode_time.'),
  ALT_DECODE_THREAD_BYTES: int('ALT_DECODE_THREAD_BYTES', 0, 'Bytes: larger payloads are decoded in a worker thread (the event loop keeps the leases alive).'),
  AI_PROVIDER: StringEnum(['orchestrator', 'openai'], { default: DEFAULTS.AI_PROVIDER, description: 'orchestrator (ALT_LAS AI orchestrator) or openai (any OpenAI-compatible server).' }),
  AI_URL: Type.String({ default: DEFAULTS.AI_URL, format: 'uri', description: 'Base URL of the AI provider.' }),
  AI_API_KEY: Type.String({ default: DEFAULTS.AI_API_KEY, description: 'Bearer token for the openai provider (never logged).' }),
  AI_MODEL: str('AI_MODEL', 'Model id when the task does not name one (parameters.model).', '\\S'),
  AI_TIMEOUT_MS: int('AI_TIMEOUT_MS', 1, 'Milliseconds one AI request may take; the socket is closed after it.'),
  AI_MAX_RETRIES: int('AI_MAX_RETRIES', 0, 'Retries of one AI request on connection errors, 408, 429 and 5xx.', 100),
  AI_RETRY_BASE_MS: int('AI_RETRY_BASE_MS', 0, 'First delay between AI request retries (exponential, full jitter).'),
  AI_RETRY_MAX_MS: int('AI_RETRY_MAX_MS', 0, 'Cap of the delay between AI request retries.'),
  AI_RETRY_AFTER_MAX_MS: int('AI_RETRY_AFTER_MAX_MS', 0, 'The longest wait a Retry-After header can impose.'),
  AI_MAX_CONCURRENCY: int('AI_MAX_CONCURRENCY', 1, 'AI requests in flight per process (bulkhead).', 10_000),
  AI_MAX_QUEUE: int('AI_MAX_QUEUE', 0, 'AI requests waiting for the bulkhead before new ones are refused.'),
  AI_BREAKER_THRESHOLD: int('AI_BREAKER_THRESHOLD', 1, 'Consecutive failed AI calls that open the circuit breaker.'),
  AI_BREAKER_HALF_OPEN_MS: int('AI_BREAKER_HALF_OPEN_MS', 1, 'Milliseconds the breaker stays open before one trial call.'),
  AI_STREAM: Type.Boolean({ default: DEFAULTS.AI_STREAM, description: 'Ask the openai provider for a streamed answer (stream: true, server-sent events, usage from the last event); false for OpenAI-compatible servers that do not stream. The orchestrator answers whole either way.' }),
  AI_ENDPOINTS: optional('Extra AI endpoints a fallback chain may name, comma-separated name=provider@url (provider orchestrator or openai; the key is AI_API_KEY); AI_PROVIDER at AI_URL is the endpoint default.'),
  AI_FALLBACK: optional('Fallback chain of every task whose parameters.fallback gives none: pairs comma-separated, each model or endpoint/model, tried in order after the task\'s own model when a call fails with a provider failure (rate limited, 5xx, timeout, unreachable, breaker open).'),
  AI_FALLBACK_ATTEMPTS: int('AI_FALLBACK_ATTEMPTS', 1, 'Attempts of one pair of a fallback chain before the call moves on to the next pair (the last pair retries up to AI_MAX_RETRIES).', 100),
  AI_PRICES: optional('Path of the price table, YAML or JSON: {currency, date?, models: {<model>: {input, output, cached_input?}}}, prices per million tokens; checked at start. Unset: every cost is unknown.'),
  BUDGET_JOB_TOKENS: Type.Optional(Type.Integer({ minimum: 0, description: 'Tokens (input and output of all its AI calls) a job may spend when neither its metadata.budget nor altlas publish --budget-tokens sets a budget; unset: none.' })),
  BUDGET_JOB_COST: Type.Optional(Type.Number({ minimum: 0, description: 'Money (in AI_PRICES\'s currency) a job may spend when neither its metadata.budget nor altlas publish --budget-cost sets a budget; unset: none.' })),
  BUDGET_TENANTS: optional('Path of the tenants\' budgets per period, YAML or JSON: {default?, tenants?: {<tenant>: {hour?, day?, month?: {tokens?, cost?}}}} (UTC periods); checked at start. Unset: none.'),
  BUDGET_TENANT_EXCEEDED: StringEnum(['wait', 'fail'], { default: DEFAULTS.BUDGET_TENANT_EXCEEDED, description: 'A tenant over a period\'s budget: wait (its jobs park until the period turns, spending no delivery) or fail (they end with BUDGET_EXCEEDED).' }),
  BUDGET_BUCKET: str('BUDGET_BUCKET', 'KV bucket of the fleet\'s slices of the tenants\' budgets (created when missing and RUNNER_PROVISION=true).'),
  BUDGET_MAX_TOKENS: int('BUDGET_MAX_TOKENS', 1, 'Output tokens a call is reserved at, and sent with as max_tokens, when a budget applies to it and its task sets no max_tokens.'),
  BUDGET_HOUR_MS: int('BUDGET_HOUR_MS', 1_000, 'Milliseconds of the `hour` period of the tenants\' budgets, its periods counted from the epoch (UTC hours); shorter only for tests and demos, where a period must turn in seconds.'),
  BUDGET_SLICE_LEASE_MS: int('BUDGET_SLICE_LEASE_MS', 1_000, 'Milliseconds a worker\'s slice of a tenant\'s budget is leased for; a dead worker\'s slice counts as spent until its period ends.'),
  AI_LIMITS: optional('Path of the rate limits per provider and model, YAML or JSON: {orchestrator?, openai?: {<model, or "*" for every other>: {rpm?, tpm?, concurrent?}}}, for the whole fleet; checked at start. Unset: limits are only learned from the providers\' headers.'),
  AI_LIMITS_BUCKET: str('AI_LIMITS_BUCKET', 'KV bucket of the fleet\'s slices of the models\' rate limits (created when missing and RUNNER_PROVISION=true).'),
  AI_LIMITS_LEASE_MS: int('AI_LIMITS_LEASE_MS', 1_000, 'Milliseconds a worker\'s slice of a model\'s limit is leased for (renewed every third of it, at most every 5 s); a dead worker\'s slice is back in use within 2 × this when it is at least a minute.'),
  AI_LIMITS_MAX_WAIT_MS: int('AI_LIMITS_MAX_WAIT_MS', 0, 'Milliseconds an AI call waits for room in its model\'s limits before its job is handed back (AI_LIMIT_WAIT).'),
  AI_MAX_RESPONSE_BYTES: int('AI_MAX_RESPONSE_BYTES', 1_024, 'Bytes of one AI answer held at most (a whole body as it arrives, a streamed answer\'s text); past it the request is closed and the task fails with AI_RESPONSE_TOO_LARGE.', 1_073_741_824),
  ARCHIVE_NOTIFY_SUBJECT: Type.String({ default: DEFAULTS.ARCHIVE_NOTIFY_SUBJECT, description: 'Core NATS subject of the ALT_LAS archive hand-off: every .last stored is announced there at least once, retried until a subscriber is there (empty: off). It must not fall inside the LAST stream\'s subjects.', pattern: '^$|^[^\\s*>]+(\\.[^\\s*>]+)*$' }),
  ARCHIVE_NOTIFY_DURABLE: str('ARCHIVE_NOTIFY_DURABLE', 'Durable consumer on the LAST stream that drives the archive hand-off (created with ARCHIVE_NOTIFY_SUBJECT; every worker shares it).', STREAM_NAME),
  ARCHIVE_NOTIFY_WAIT_MS: int('ARCHIVE_NOTIFY_WAIT_MS', 50, 'Milliseconds a notification waits for an answer; a subscriber that got it and stays silent counts as delivered (no subscriber: retried).', 60_000),
  PAYLOAD_KEYS: optional('End-to-end encryption keys, id:base64 (32 bytes, AES-256-GCM), comma-separated; the first encrypts, all decrypt.'),
  DASHBOARD_TOKEN: optional('Token the dashboard\'s actions (replay, purge, cancel) require; unset: the dashboard is read-only.'),
  DASHBOARD_TOKEN_NAME: optional('Name of DASHBOARD_TOKEN\'s holder: the dashboard\'s actions are recorded in the jobs\' history as done by dashboard:<name> (unset: dashboard:<host>).'),
  DASHBOARD_OPERATOR_TOKEN: optional('Token the dashboard\'s fleet controls (pause and resume the intake, drain a worker, set a worker\'s concurrency) require, besides every action DASHBOARD_TOKEN allows; DASHBOARD_TOKEN alone gets 403 NOT_OPERATOR for them; unset: no fleet controls.'),
  DASHBOARD_OPERATOR_TOKEN_NAME: optional('Name of DASHBOARD_OPERATOR_TOKEN\'s holder: what it does is recorded in the history as done by dashboard:<name> (unset: dashboard:<host>).'),
  DASHBOARD_HOSTS: optional('Host names (and addresses) the dashboard answers to, comma-separated, besides localhost, its bind address and, bound to every interface, this machine\'s name and addresses; any other Host header gets 421 (DNS rebinding).'),
  DASHBOARD_TRACE_URL: optional('Link template for a trace id in the dashboard, e.g. http://localhost:16686/trace/{trace_id}.'),
  HTTP_PORT: int('HTTP_PORT', 0, 'Port of /healthz, /readyz and /metrics; 0 turns the server off.', 65_535),
  LOG_LEVEL: StringEnum(['error', 'warn', 'info', 'debug'], { default: DEFAULTS.LOG_LEVEL, description: 'error, warn, info or debug.' }),
  LOG_REDACT: Type.String({ default: DEFAULTS.LOG_REDACT, description: 'Extra key fragments to redact, comma-separated: a value whose key name contains one is masked in logs, .last metadata, status entries and dlq show.' }),
}, { additionalProperties: false, title: 'altlas-runner configuration' });

/** Values derived once from the variables when the configuration is loaded (never parsed again elsewhere). */
export interface DerivedConfig {
  /** LOG_REDACT's extra key fragments: split at commas, trimmed, lower-cased, empty ones dropped. */
  readonly logRedactKeys: readonly string[];
}

export type Config = Readonly<Static<typeof ConfigSchema>> & DerivedConfig;

/** Names of every configuration variable, in schema order. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(ConfigSchema.properties);

/** The schema of one variable (for docs and checks). */
export function variableSchema(name: string): TSchema | undefined {
  return (ConfigSchema.properties as Record<string, TSchema>)[name];
}

