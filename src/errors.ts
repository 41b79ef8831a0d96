/**
 * The one error type of altlas-runner and its catalogue of stable codes.
 *
 * Every failure that crosses a module boundary is an {@link AltlasError} with a `code` from
 * {@link ERROR_CODES}. Each code says what the worker does with the message it happened on
 * (`fate`), so callers recognise errors by code, never by message text.
 */

/** What happens to the `.alt` message when a job ends with an error of this code. */
export type Fate =
  /** The input can never run: failure `.last` (when the id is known), DLQ copy, `term`. */
  | 'reject'
  /** The environment failed, not the job: `nak` with a growing delay; on the last delivery, reject. */
  | 'retry'
  /** A task-level outcome recorded in the `.last`; the job itself completes and is acked. */
  | 'task';

interface CodeInfo {
  readonly fate: Fate;
  readonly summary: string;
}

/** The catalogue: every code the project uses, its fate and a one-line meaning (the README lists it). */
export const ERROR_CODES = {
  ALT_EMPTY: { fate: 'reject', summary: 'the payload is empty or only white space' },
  ALT_ENCODING: { fate: 'reject', summary: 'the payload is not valid UTF-8' },
  ALT_SYNTAX: { fate: 'reject', summary: 'the payload is not well-formed JSON or YAML (line and column given)' },
  ALT_UNKNOWN_FORMAT: { fate: 'reject', summary: 'the document is not any known .alt form' },
  ALT_UNSUPPORTED_VERSION: { fate: 'reject', summary: 'a known .alt form with a version this runner does not read' },
  ALT_SCHEMA: { fate: 'reject', summary: 'the document breaks its form\'s schema (every violation listed with its JSON pointer)' },
  ALT_DUPLICATE_TASK: { fate: 'reject', summary: 'two tasks share one id' },
  ALT_UNKNOWN_DEPENDENCY: { fate: 'reject', summary: 'a dependency names no task of the file' },
  ALT_SELF_DEPENDENCY: { fate: 'reject', summary: 'a task depends on itself' },
  ALT_CYCLE: { fate: 'reject', summary: 'the dependencies form a cycle, or a 2.0 construct is inside its own body (the tasks are named)' },
  ALT_REFERENCE: { fate: 'reject', summary: 'a 2.0 control-flow part names a segment, function or argument that does not exist, or a member depends on a segment it cannot see' },
  ALT_LIMIT: { fate: 'reject', summary: 'the document exceeds a configured limit (which, the value, the cap)' },
  ALT_DECRYPT: { fate: 'reject', summary: 'an encrypted .alt names a key this worker does not have, or does not decrypt with it' },
  ALT_FALLBACK: { fate: 'reject', summary: 'a task\'s parameters.fallback (our extension) is not a list of "provider/model" strings or {provider?, model} objects (at most 8)' },
  ALT_APPROVAL: { fate: 'reject', summary: 'an approval task (our extension) has an approval_timeout_s that is not a positive number, or an on_timeout other than approve, reject or fail (or one without a timeout)' },
  TASK_KIND_FORBIDDEN: { fate: 'reject', summary: 'a task kind that would act on the worker host (file_operation, system_command, however spelt), or one not plain ASCII' },
  TASK_FAILED: { fate: 'task', summary: 'a task failed for a reason of its own (after its retries)' },
  TASK_TIMEOUT: { fate: 'task', summary: 'a task ran past its timeout (after its retries)' },
  TASK_CANCELLED: { fate: 'task', summary: 'a task was cancelled because a dependency failed' },
  LOOP_LIMIT: { fate: 'task', summary: 'a 2.0 loop would run more iterations than LOOP_MAX_ITERATIONS' },
  LOOP_ITERABLE: { fate: 'task', summary: 'a for_each iterable does not resolve to a list, a JSON array or lines of text' },
  CALL_DEPTH: { fate: 'task', summary: 'function calls nest deeper than CALL_MAX_DEPTH (recursion included)' },
  INSTANCE_LIMIT: { fate: 'task', summary: 'the job would create more task instances than ALT_MAX_TASKS' },
  VARIABLE_TYPE: { fate: 'task', summary: 'a typed variable or parameter received a value of another type' },
  FUNCTION_RETURN: { fate: 'task', summary: 'a function\'s return value does not convert to its return_type' },
  AI_REJECTED: { fate: 'task', summary: 'the AI provider refused the request (HTTP 4xx other than 408/429)' },
  AI_BAD_RESPONSE: { fate: 'task', summary: 'the AI provider answered with a body this runner cannot read' },
  AI_RESPONSE_TOO_LARGE: { fate: 'task', summary: 'the AI answer grew past AI_MAX_RESPONSE_BYTES: the request was closed at the cap and the task fails (not retried)' },
  AI_UNAVAILABLE: { fate: 'retry', summary: 'the AI provider is unreachable after the retries, or its circuit breaker is open: the job waits in the worker until it is back' },
  JOB_PARKED: { fate: 'task', summary: 'the job reached an approval task: it parks (its completed results and body stored, its message acked) until altlas approve or the timeout decides' },
  APPROVAL_REJECTED: { fate: 'task', summary: 'a person rejected an approval task (altlas approve --reject), or its timeout did with on_timeout: reject: the task fails and its dependents are cancelled' },
  APPROVAL_TIMEOUT: { fate: 'task', summary: 'an approval task was not decided within approval_timeout_s and its on_timeout is fail' },
  APPROVAL_NOT_WAITING: { fate: 'reject', summary: 'altlas approve: the job is not parked at that task (not waiting, another task, or no such job)' },
  APPROVAL_DECIDED: { fate: 'reject', summary: 'altlas approve: the task was decided already (a second decision is refused; nothing runs twice)' },
  APPROVAL_TIMED_OUT: { fate: 'reject', summary: 'altlas approve: the task\'s approval_timeout_s has passed; its on_timeout decides' },
  REPLAY_INVALID: { fate: 'reject', summary: 'altlas replay: the job has no finished .last, no .alt given nor kept (RUNNER_KEEP_ALT), the .alt is not that job, the task is not one of its tasks, a --set names nothing, or a replay message names no seed' },
  JOB_CANCELLED: { fate: 'task', summary: 'an operator cancelled the job (altlas cancel): its tasks end cancelled, the .last says so, the message is acked' },
  AI_LIMIT_WAIT: { fate: 'retry', summary: 'an AI call waited AI_LIMITS_MAX_WAIT_MS for room in its model\'s rate limits (AI_LIMITS or learned from the provider) and was not sent: the job is handed back to JetStream with a delay, its completed tasks checkpointed' },
  AI_LIMIT_EXCEEDED: { fate: 'task', summary: 'an AI call\'s reservation (prompt and output tokens) is larger than its model\'s whole limit of tokens per minute: it can never be sent, and the task fails' },
  BUDGET_EXCEEDED: { fate: 'task', summary: 'an AI call would not fit the job\'s budget (metadata.budget, altlas publish --budget-*, BUDGET_JOB_*) or its tenant\'s budget for the period (BUDGET_TENANT_EXCEEDED=fail): it is not made; completed tasks are kept, the rest cancelled, the message acked' },
  BUDGET_WAIT: { fate: 'retry', summary: 'an AI call would not fit its tenant\'s budget for the period (BUDGET_TENANT_EXCEEDED=wait): the job parks until the period turns (its completed tasks, body and park stored, its message acked; no delivery spent) and the sweep resumes it then' },
  MAX_DELIVER_EXCEEDED: { fate: 'reject', summary: 'no worker settled the message within RUNNER_MAX_DELIVER deliveries (crashes or ack timeouts)' },
  STRANDED: { fate: 'reject', summary: 'a message left in the ALT stream below the consumer\'s ack floor with no .last and no dead letter (found by the janitor)' },
  JOB_ABORTED: { fate: 'retry', summary: 'the job was aborted (shutdown) before it finished' },
  LEASE_LOST: { fate: 'retry', summary: 'the worker could not renew the job\'s lease in time (disconnected or stalled), or a newer delivery claimed it: the run stops, publishes nothing, and leaves the message to its new owner' },
  LAST_UNREADABLE: { fate: 'retry', summary: 'a redelivered job could not check whether its .last is stored already (the LAST stream did not answer): it is handed back shortly instead of risking a second .last' },
  CHECKPOINTS_UNAVAILABLE: { fate: 'retry', summary: 'a redelivered job\'s checkpoints could not be read: it is handed back shortly instead of paying for every call again' },
  LAST_TOO_LARGE: { fate: 'reject', summary: 'the .last is larger than the NATS server\'s max payload; a failure .last and a DLQ copy take its place' },
  LAST_PUBLISH_FAILED: { fate: 'retry', summary: 'the .last result could not be stored in the LAST stream' },
  CONFIG_INVALID: { fate: 'reject', summary: 'a configuration value is invalid' },
  TOPOLOGY_MISMATCH: { fate: 'reject', summary: 'an existing stream or consumer does not match what the runner needs (it is never changed)' },
  PERMISSION_DENIED: { fate: 'reject', summary: 'the NATS user lacks a permission a feature needs (the subject is named); the worker refuses to start' },
  NATS_UNREACHABLE: { fate: 'retry', summary: 'no NATS server of NATS_URL answered (the server and the reason are named)' },
  WORKER_NOT_FOUND: { fate: 'reject', summary: 'altlas drain or workers set named a worker with no live heartbeat: none, or none written within two of its heartbeat intervals (altlas workers lists them)' },
  WORKER_GONE: { fate: 'reject', summary: 'altlas drain --wait: the worker\'s heartbeat ended before it drained (killed, or stopped and not answering): the jobs it held are redelivered; if it only stopped, it may still drain when it resumes' },
  WORKER_NOT_ANSWERING: { fate: 'reject', summary: 'altlas workers set: the worker did not report applying the new concurrency within --timeout (the request stays written; altlas workers shows what it runs with)' },
  STREAM_MISSING: { fate: 'reject', summary: 'a stream the command reads does not exist yet (a worker with RUNNER_PROVISION=true or altlas init creates it)' },
  PAYLOAD_TOO_LARGE: { fate: 'reject', summary: 'a message is larger than the NATS server\'s max payload' },
  INTERNAL: { fate: 'retry', summary: 'an unexpected error inside the runner' },
} as const satisfies Record<string, CodeInfo>;

/** A stable error code of the catalogue. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** One located problem: a JSON pointer into the document (or '' for the whole) and a readable message. */
export interface Problem {
  readonly pointer: string;
  readonly message: string;
}

/** Context carried by an error for logs and results. */
export interface ErrorContext {
  altId?: string;
  taskId?: string;
  attempt?: number;
  httpStatus?: number;
  [key: string]: unknown;
}

export interface AltlasErrorOptions {
  cause?: unknown;
  problems?: readonly Problem[];
  context?: ErrorContext;
}

/** The base error: a stable `code`, the problems found, context fields, and the `cause` kept. */
export class AltlasError extends Error {
  readonly code: ErrorCode;
  readonly problems: readonly Problem[];
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, options: AltlasErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AltlasError';
    this.code = code;
    this.problems = options.problems ?? [];
    this.context = options.context ?? {};
  }

  /** What the worker does with the message this error ended. */
  get fate(): Fate {
    return ERROR_CODES[this.code].fate;
  }

  /** A plain object for `.last` metadata, logs and JSON output. */
  toJSON(): { code: ErrorCode; message: string; problems: readonly Problem[]; context: ErrorContext } {
    return { code: this.code, message: this.message, problems: this.problems, context: this.context };
  }
}

/** True when `e` is an {@link AltlasError}, optionally of one of the given codes. */
export function isAltlasError(e: unknown, ...codes: ErrorCode[]): e is AltlasError {
  return e instanceof AltlasError && (codes.length === 0 || codes.includes(e.code));
}

/** Wraps anything thrown into an AltlasError (INTERNAL unless it already is one). */
export function toAltlasError(e: unknown): AltlasError {
  if (e instanceof AltlasError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new AltlasError('INTERNAL', message, { cause: e });
}
