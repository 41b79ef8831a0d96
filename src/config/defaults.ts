/**
 * The one home of every default. The config schema (`schema.ts`) points at these values, and
 * components that take options fall back to the same constants, so a default is written once.
 * (The decoder's caps are its own: their defaults come from alt/limits.ts.)
 */
import { DEFAULT_DECODE_LIMITS } from '../alt/limits.ts';

export const DEFAULTS = {
  // NATS connection and topology
  NATS_URL: 'nats://127.0.0.1:4222',
  ALT_STREAM: 'ALT',
  ALT_SUBJECTS: 'alt.>',
  RUNNER_DURABLE: 'runner',
  LAST_STREAM: 'LAST',
  LAST_SUBJECT_PREFIX: 'last',
  DLQ_STREAM: 'ALT_DLQ',
  DLQ_SUBJECT_PREFIX: 'dlq.alt',
  RUNNER_PROVISION: true,
  /** Replicas of the streams the runner creates (3 in a NATS cluster). */
  RUNNER_STREAM_REPLICAS: 1,
  /** Milliseconds the LAST stream remembers a Nats-Msg-Id (de-duplication of redelivered results). */
  LAST_DUPLICATE_WINDOW_MS: 3_600_000,
  /** Milliseconds a .last is kept in the LAST stream: 7 days. */
  LAST_MAX_AGE_MS: 604_800_000,
  /** Bytes the LAST stream keeps at most (the oldest results go first): 10 GiB. */
  LAST_MAX_BYTES: 10_737_418_240,
  /** Milliseconds a dead letter is kept in the DLQ stream: 30 days. */
  DLQ_MAX_AGE_MS: 2_592_000_000,
  RUNNER_BODY_BUCKET: 'ALT_BODIES',
  /** Stream of usage records, one per AI call (altlas usage). */
  USAGE_STREAM: 'ALT_USAGE',
  USAGE_SUBJECT_PREFIX: 'usage',
  /** Milliseconds a usage record is kept: 93 days (a quarter, for monthly reports). */
  USAGE_MAX_AGE_MS: 8_035_200_000,
  // Job history (altlas history, the dashboard)
  /** Write each job's events (deliveries, attempts, hand-backs, operators' actions) to the history stream. */
  HISTORY_ENABLED: true,
  HISTORY_STREAM: 'ALT_HISTORY',
  /** Events go to <prefix>.<job token>. */
  HISTORY_SUBJECT_PREFIX: 'history',
  /** Milliseconds an event is kept: 7 days. */
  HISTORY_MAX_AGE_MS: 604_800_000,
  /** Bytes the history stream keeps at most (the oldest events go first): 1 GiB. */
  HISTORY_MAX_BYTES: 1_073_741_824,
  /** Events a worker holds unconfirmed at most; past it new events are dropped (and counted). */
  HISTORY_BUFFER: 10_000,
  /** Milliseconds a job's events wait to be sent together (a short job's history is one message). */
  HISTORY_FLUSH_MS: 1_000,
  // Live output (progress of AI answers)
  /** Publish AI answers as they come to the progress stream (altlas watch, the dashboard). */
  PROGRESS_ENABLED: true,
  PROGRESS_STREAM: 'ALT_PROGRESS',
  /** Progress goes to <prefix>.<job token>.<task token>. */
  PROGRESS_SUBJECT_PREFIX: 'progress',
  /** The stream republishes each stored progress message to <live prefix>.<job token>.<task token> (with its sequence). */
  PROGRESS_LIVE_PREFIX: 'live.progress',
  /** Milliseconds progress is kept: 1 day (the .last keeps the answers). */
  PROGRESS_MAX_AGE_MS: 86_400_000,
  /** Bytes the progress stream keeps at most (the oldest messages go first): 1 GiB. */
  PROGRESS_MAX_BYTES: 1_073_741_824,
  /** Milliseconds the progress stream remembers a Nats-Msg-Id (a re-sent message is stored once). */
  PROGRESS_DUPLICATE_WINDOW_MS: 120_000,
  /** Milliseconds text waits to be sent with more (the first chunk of an attempt goes at once). */
  PROGRESS_FLUSH_MS: 50,
  /** Bytes of text that are sent at once without waiting; also the most text one message carries. */
  PROGRESS_FLUSH_BYTES: 16_384,
  /** Milliseconds an AI task waits after its call for its progress to be stored, so the .last never comes first. */
  PROGRESS_DRAIN_MS: 5_000,
  // Worker
  RUNNER_CONCURRENCY: 4,
  /** Milliseconds JetStream waits for an ack before redelivering (the lease is renewed at a third of it). */
  RUNNER_ACK_WAIT_MS: 30_000,
  RUNNER_MAX_DELIVER: 5,
  RUNNER_SHUTDOWN_GRACE_MS: 20_000,
  /** Milliseconds of the first nak delay; doubled per delivery, capped by RUNNER_NAK_MAX_DELAY_MS. */
  RUNNER_NAK_DELAY_MS: 2_000,
  RUNNER_NAK_MAX_DELAY_MS: 60_000,
  /** Milliseconds between two passes of the janitor over the ALT stream (0: off). */
  RUNNER_JANITOR_INTERVAL_MS: 300_000,
  /** Priority lanes and tenant fairness: one consumer per lane and tenant with waiting work (off: the one consumer). */
  RUNNER_LANES: false,
  /** Share of the starts each lower lane with waiting work keeps while higher ones saturate a worker. */
  RUNNER_LANE_MIN_SHARE: 0.1,
  /** Slots a tenant holding more than its fair share of a worker's slots leaves free while other tenants were active recently. */
  RUNNER_TENANT_RESERVE: 1,
  /** Milliseconds between two scans of the ALT stream's lane subjects for waiting work a worker was not told of. */
  RUNNER_LANE_SCAN_MS: 1_000,
  /** Milliseconds a lane consumer may sit unused before the server removes it (created again when work comes). */
  RUNNER_LANE_IDLE_MS: 600_000,
  /** Tenants with a metric label of their own per process (the rest are _other). */
  RUNNER_METRICS_TENANTS: 100,
  // Job status and checkpoints
  RUNNER_STATUS_BUCKET: 'ALT_RUNS',
  /** Milliseconds a job's status entry (and its checkpoints) are kept: 7 days. */
  RUNNER_STATUS_TTL_MS: 604_800_000,
  /** Milliseconds between coalesced status writes of one job (state changes are written at once). */
  RUNNER_STATUS_FLUSH_MS: 500,
  RUNNER_CHECKPOINT_BUCKET: 'ALT_CHECKPOINTS',
  /** Milliseconds of AI work a crash may re-pay per job: completed results are written once they add up to more. */
  RUNNER_CHECKPOINT_BUDGET_MS: 2_000,
  /** Money (AI_PRICES's currency) a crash may re-pay per job: completed results are written once their cost adds up to more. */
  RUNNER_CHECKPOINT_BUDGET_COST: 0.01,
  RUNNER_OBJECT_BUCKET: 'ALT_OUTPUTS',
  /** Milliseconds artifacts and large outputs are kept in the object store: 7 days. */
  RUNNER_OBJECT_TTL_MS: 604_800_000,
  /** Milliseconds between the workers' sweeps of parked jobs (approval timeouts, decisions not yet resumed). */
  RUNNER_APPROVAL_SWEEP_MS: 5_000,
  /** Bytes: the checkpoint bucket's max value size; larger outputs go to the object store. */
  RUNNER_CHECKPOINT_MAX_VALUE: 262_144,
  /** Bytes: a task output larger than this is stored as an artifact object; the .last keeps a preview. */
  RUNNER_OUTPUT_INLINE_MAX: 16_384,
  /** Keep each job's .alt in the object store (altlas replay without --alt). */
  RUNNER_KEEP_ALT: false,
  RUNNER_WORKERS_BUCKET: 'ALT_WORKERS',
  /** KV bucket of the fleet's controls (pause, drains, concurrency), which every worker watches. */
  RUNNER_CONTROL_BUCKET: 'ALT_CONTROL',
  // Budgets
  /** What a tenant over a period's budget does: park its jobs until the period turns, or fail them. */
  BUDGET_TENANT_EXCEEDED: 'wait',
  /** KV bucket of the fleet's slices of the tenants' budgets. */
  BUDGET_BUCKET: 'ALT_BUDGETS',
  /** Output tokens a call is reserved at (and sent with as max_tokens) when a budget applies and its task sets none. */
  BUDGET_MAX_TOKENS: 4_096,
  /** Milliseconds of the tenants' budgets' `hour` period (shorter only in tests and demos). */
  BUDGET_HOUR_MS: 3_600_000,
  /** Milliseconds a worker's slice of a tenant's budget is leased for (renewed at a third of it). */
  BUDGET_SLICE_LEASE_MS: 15_000,
  /** Milliseconds between a worker's heartbeats (its entry expires after three missed ones). */
  RUNNER_HEARTBEAT_MS: 5_000,
  // Engine
  RUNNER_TASK_CONCURRENCY: 4,
  /** Seconds a task may run when neither the task nor its parameters say. */
  RUNNER_TASK_TIMEOUT_S: 300,
  /** Milliseconds of the first task retry delay (exponential with full jitter). */
  RUNNER_TASK_RETRY_BASE_MS: 500,
  RUNNER_TASK_RETRY_MAX_MS: 30_000,
  /** Iterations of one 2.0 loop (LOOP_LIMIT). */
  LOOP_MAX_ITERATIONS: 100,
  /** Nested 2.0 function calls, recursion included (CALL_DEPTH). */
  CALL_MAX_DEPTH: 16,
  // Decoding limits
  /** Bytes; NATS's default max payload. */
  ALT_MAX_BYTES: DEFAULT_DECODE_LIMITS.maxBytes,
  /** The ALT stream's max message size; 0: ALT_MAX_BYTES plus 64 KiB (sealing and headers). */
  ALT_STREAM_MAX_MSG_BYTES: 0,
  ALT_MAX_TASKS: DEFAULT_DECODE_LIMITS.maxTasks,
  /** Longest chain of dependencies (tasks on one path). */
  ALT_MAX_DEPTH: DEFAULT_DECODE_LIMITS.maxDependencyDepth,
  ALT_MAX_YAML_ALIASES: DEFAULT_DECODE_LIMITS.maxYamlAliases,
  /** Characters in any one string of the document. */
  ALT_MAX_STRING_LENGTH: DEFAULT_DECODE_LIMITS.maxStringLength,
  /** Nesting of arrays and objects. */
  ALT_MAX_NESTING: DEFAULT_DECODE_LIMITS.maxNesting,
  /** Keys in one mapping (object). */
  ALT_MAX_KEYS: DEFAULT_DECODE_LIMITS.maxKeys,
  /** Values (nodes) in the whole document. */
  ALT_MAX_NODES: DEFAULT_DECODE_LIMITS.maxNodes,
  /** Problems an error lists (the rest are counted). */
  ALT_MAX_PROBLEMS: DEFAULT_DECODE_LIMITS.maxProblems,
  /** Milliseconds decoding one payload may take (ALT_LIMIT decode_time beyond). */
  ALT_DECODE_TIMEOUT_MS: 10_000,
  /** Bytes: larger payloads are decoded in a worker thread, so that no input can stall the leases. */
  ALT_DECODE_THREAD_BYTES: 16_384,
  // AI provider
  AI_PROVIDER: 'orchestrator',
  AI_URL: 'http://127.0.0.1:8001',
  AI_API_KEY: '',
  AI_MODEL: 'default',
  /** Milliseconds one AI request may take (the socket is closed after it). */
  AI_TIMEOUT_MS: 60_000,
  AI_MAX_RETRIES: 3,
  AI_RETRY_BASE_MS: 250,
  AI_RETRY_MAX_MS: 10_000,
  /** Milliseconds: the most a Retry-After header can make the client wait. */
  AI_RETRY_AFTER_MAX_MS: 30_000,
  AI_MAX_CONCURRENCY: 16,
  AI_MAX_QUEUE: 1_000,
  /** Consecutive failed calls that open the breaker. */
  AI_BREAKER_THRESHOLD: 5,
  /** Milliseconds the breaker stays open before it lets one trial call through. */
  AI_BREAKER_HALF_OPEN_MS: 10_000,
  /** Stream answers of the openai provider (server-sent events); the orchestrator has no streaming endpoint. */
  AI_STREAM: true,
  /** Attempts of one pair of a fallback chain before the call moves on to the next pair (the last pair retries as any call). */
  AI_FALLBACK_ATTEMPTS: 1,
  /** KV bucket of the fleet's slices of the models' rate limits. */
  AI_LIMITS_BUCKET: 'ALT_LIMITS',
  /** Milliseconds a worker's slice of a model's limit is leased for: a minute, so a dead worker's slice is back within two. */
  AI_LIMITS_LEASE_MS: 60_000,
  /** Milliseconds an AI call waits for room in its model's limits before its job is handed back. */
  AI_LIMITS_MAX_WAIT_MS: 120_000,
  /** Bytes of one AI answer held at most (a body as it arrives, a streamed answer's text): 4 MiB. */
  AI_MAX_RESPONSE_BYTES: 4_194_304,
  // Results hand-off
  ARCHIVE_NOTIFY_SUBJECT: '',
  /** Durable consumer on the LAST stream that drives the archive hand-off (every worker shares it). */
  ARCHIVE_NOTIFY_DURABLE: 'archive-notify',
  /** Milliseconds a notification waits for an answer; silence from a subscriber that got it counts as delivered. */
  ARCHIVE_NOTIFY_WAIT_MS: 1_000,
  // Service
  HTTP_PORT: 8080,
  LOG_LEVEL: 'info',
  /** Comma-separated extra key fragments to redact from logs (task parameters, headers). */
  LOG_REDACT: '',
} as const;

/**
 * Replies (pull requests, PubAcks, API calls) come to <prefix>_<role>.<random> unless
 * NATS_INBOX_PREFIX says otherwise: each role's user subscribes to its own prefix only, never
 * to _INBOX.> or another role's replies.
 */
/** The most jobs one worker runs at once: RUNNER_CONCURRENCY's bound, and what `altlas workers set` and the dashboard may give. */
export const MAX_CONCURRENCY = 10_000;

export const ROLE_INBOX_PREFIX = '_INBOX_altlas';
