/**
 * The configuration schema: one property per environment variable (the names are the contract),
 * each with its default from {@link DEFAULTS} and a description the README repeats.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { StringEnum } from '../alt/forms/helpers.ts';
import { DEFAULTS } from './defaults.ts';

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
  RUNNER_CONCURRENCY: int('RUNNER_CONCURRENCY', 1, 'Jobs in flight per worker process.', 10_000),
  RUNNER_ACK_WAIT_MS: int('RUNNER_ACK_WAIT_MS', 1_000, 'Milliseconds before JetStream redelivers an unacknowledged job; the lease is renewed at a third of it.'),
  RUNNER_MAX_DELIVER: int('RUNNER_MAX_DELIVER', 1, 'Deliveries of one .alt message before it is dead-lettered.', 1_000),
  RUNNER_SHUTDOWN_GRACE_MS: int('RUNNER_SHUTDOWN_GRACE_MS', 0, 'Milliseconds in-flight jobs get to finish on SIGTERM/SIGINT.'),
  RUNNER_NAK_DELAY_MS: int('RUNNER_NAK_DELAY_MS', 0, 'First redelivery delay after a transient failure (doubles per delivery).'),
  RUNNER_NAK_MAX_DELAY_MS: int('RUNNER_NAK_MAX_DELAY_MS', 0, 'Cap of the redelivery delay.'),
  RUNNER_STATUS_BUCKET: str('RUNNER_STATUS_BUCKET', 'KV bucket with one status entry per job (created when missing and RUNNER_PROVISION=true).'),
  RUNNER_STATUS_TTL_MS: int('RUNNER_STATUS_TTL_MS', 1_000, 'How long status entries and checkpoints are kept.'),
  RUNNER_STATUS_FLUSH_MS: int('RUNNER_STATUS_FLUSH_MS', 10, 'Coalescing interval of a job\'s status writes; state changes are written at once.'),
  RUNNER_CHECKPOINT_BUCKET: str('RUNNER_CHECKPOINT_BUCKET', 'KV bucket of completed-task checkpoints, for resuming a redelivered job.'),
  RUNNER_OBJECT_BUCKET: str('RUNNER_OBJECT_BUCKET', 'Object store bucket for checkpoint outputs too large for one KV value.', STREAM_NAME),
  RUNNER_CHECKPOINT_MAX_VALUE: int('RUNNER_CHECKPOINT_MAX_VALUE', 4_096, 'Bytes: larger checkpoints keep their output text in the object store.', 1_048_576),
  RUNNER_TASK_CONCURRENCY: int('RUNNER_TASK_CONCURRENCY', 1, 'Tasks of one job running at once.', 1_000),
  RUNNER_TASK_TIMEOUT_S: int('RUNNER_TASK_TIMEOUT_S', 1, 'Seconds a task may run when neither the task nor its parameters say.'),
  RUNNER_TASK_RETRY_BASE_MS: int('RUNNER_TASK_RETRY_BASE_MS', 0, 'First delay between task attempts (exponential, full jitter).'),
  RUNNER_TASK_RETRY_MAX_MS: int('RUNNER_TASK_RETRY_MAX_MS', 0, 'Cap of the delay between task attempts.'),
  ALT_MAX_BYTES: int('ALT_MAX_BYTES', 1, 'Largest .alt payload in bytes.'),
  ALT_MAX_TASKS: int('ALT_MAX_TASKS', 0, 'Most tasks (segments) in one job.'),
  ALT_MAX_DEPTH: int('ALT_MAX_DEPTH', 1, 'Most tasks on one dependency chain.'),
  ALT_MAX_YAML_ALIASES: int('ALT_MAX_YAML_ALIASES', 0, 'Most YAML alias dereferences (alias bombs).'),
  ALT_MAX_STRING_LENGTH: int('ALT_MAX_STRING_LENGTH', 1, 'Longest string (or key) in characters.'),
  ALT_MAX_NESTING: int('ALT_MAX_NESTING', 2, 'Deepest nesting of lists and objects.', 10_000),
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
  HTTP_PORT: int('HTTP_PORT', 0, 'Port of /healthz, /readyz and /metrics; 0 turns the server off.', 65_535),
  LOG_LEVEL: StringEnum(['error', 'warn', 'info', 'debug'], { default: DEFAULTS.LOG_LEVEL, description: 'error, warn, info or debug.' }),
  LOG_REDACT: Type.String({ default: DEFAULTS.LOG_REDACT, description: 'Extra key fragments to redact from logs, comma-separated (task parameters and headers whose names contain one).' }),
}, { additionalProperties: false, title: 'altlas-runner configuration' });

export type Config = Readonly<Static<typeof ConfigSchema>>;

/** Names of every configuration variable, in schema order. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(ConfigSchema.properties);

/** The schema of one variable (for docs and checks). */
export function variableSchema(name: string): TSchema | undefined {
  return (ConfigSchema.properties as Record<string, TSchema>)[name];
}

