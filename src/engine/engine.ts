/**
 * The engine: drives a {@link GraphState} with an AI task executor. At most `concurrency` AI
 * tasks run at once (control nodes take no slot), each attempt under its timeout, retried with
 * backoff inside the task's deadline. Observers (status, checkpoints, spans, metrics) are
 * registered once and get every event with the run's own context; per-run inputs (signal,
 * resume data, the lease guard) are passed to {@link Engine.run}.
 */
import { AltlasError, toAltlasError, type ErrorCode } from '../errors.ts';
import type { Job, JobTask } from '../alt/job.ts';
import { DEFAULTS } from '../config/defaults.ts';
import { compileProgram, type Program } from '../alt/program/compile.ts';
import { interpolateString, interpolateValue } from '../alt/program/expressions.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { GraphState } from './state.ts';
import { iterationOf, type Instance, type ProgramLimits } from './instance.ts';
import type { RunEdge, Skipped, TaskBody, TaskEvent, TaskOutput, TaskResult } from './types.ts';
import { iso } from '../time.ts';

export interface EngineOptions<C = unknown> {
  /** The AI task body (one attempt). */
  body: TaskBody<C>;
  /** AI tasks of one job running at once (RUNNER_TASK_CONCURRENCY, default 4). */
  concurrency: number;
  /** Seconds per attempt when the task does not say (RUNNER_TASK_TIMEOUT_S, default 300). */
  defaultTimeoutS: number;
  /** Delays between attempts (RUNNER_TASK_RETRY_BASE_MS / _MAX_MS). */
  retry: BackoffOptions;
  /** 2.0 limits; unset ones take the defaults (LOOP_MAX_ITERATIONS, CALL_MAX_DEPTH, ALT_MAX_TASKS). */
  limits?: Partial<ProgramLimits>;
  /** Source of jitter in [0, 1); default Math.random. */
  random?: () => number;
  /** Clock in epoch milliseconds; default Date.now. */
  now?: () => number;
}

/** What one run is given; `C` is the context handed to the task body and the observers with each event. */
export interface RunInput<C = unknown> {
  /** Aborts the whole job (shutdown, lease lost, cancel). Its reason, when an AltlasError, becomes `stopped`. */
  signal?: AbortSignal;
  /** Results of instances completed in an earlier run of this message: they are not run again. */
  resume?: ReadonlyMap<string, TaskResult>;
  /** Handed to the task body and to every observer with each event of this run. */
  context?: C;
  /**
   * A call failing as the AI side's unavailability (AI_UNAVAILABLE) is this task's failure, retried
   * as its retry_count says, instead of stopping the job to wait for the AI side: for a job whose
   * own calls fail while the AI side is up.
   */
  transientFailsTask?: boolean;
  /** Checked before every AI attempt; an error stops the run before the call is made. */
  guard?: () => AltlasError | null;
  /** A program compiled already (the decoder's). */
  program?: Program;
}

/** What a run gives back. */
export interface JobRun {
  startMs: number;
  endMs: number;
  /** A result for every instance created, in creation order. */
  results: TaskResult[];
  /** Why the job stopped before its end (JOB_ABORTED, AI_UNAVAILABLE, LEASE_LOST, JOB_CANCELLED, ...), else null. */
  stopped: AltlasError | null;
  /** Instance keys taken from `resume` instead of being run. */
  resumed: string[];
  skipped: Skipped[];
  edges: RunEdge[];
  program: Program;
}

export type EngineObserver<C = unknown> = (event: TaskEvent, context: C | undefined) => void;

/** Errors a retry of the same task cannot mend. */
const NOT_RETRYABLE: readonly ErrorCode[] = ['AI_REJECTED', 'AI_RESPONSE_TOO_LARGE', 'TASK_KIND_FORBIDDEN', 'APPROVAL_REJECTED', 'APPROVAL_TIMEOUT'];

/**
 * Errors that end the whole job, not the task: a budget refused a call, an approval task parks the
 * job (JOB_PARKED). No task starts after one;
 * the tasks running finish (their calls were paid for), and every task not completed is cancelled
 * with that code.
 */
const STOPS_JOB: readonly ErrorCode[] = ['BUDGET_EXCEEDED', 'BUDGET_WAIT', 'JOB_PARKED'];

type Attempt =
  | { kind: 'ok'; output: TaskOutput }
  | { kind: 'failed' | 'timeout' | 'transient'; error: AltlasError }
  | { kind: 'aborted' };


function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs task graphs. `C` is the type of the context each run carries (the worker's RunContext: its
 * logger, status record, spans, tenant), typed once here rather than guessed by each observer.
 */
export class Engine<C = unknown> {
  readonly #o: EngineOptions<C>;
  readonly #limits: ProgramLimits;
  readonly #observers = new Set<EngineObserver<C>>();

  constructor(options: EngineOptions<C>) {
    this.#o = options;
    this.#limits = {
      maxIterations: options.limits?.maxIterations ?? DEFAULTS.LOOP_MAX_ITERATIONS,
      maxCallDepth: options.limits?.maxCallDepth ?? DEFAULTS.CALL_MAX_DEPTH,
      maxInstances: options.limits?.maxInstances ?? DEFAULTS.ALT_MAX_TASKS,
    };
  }

  /** Registers an observer of every run's events; returns a function that removes it. */
  observe(observer: EngineObserver<C>): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** Runs a job to its end (or until it is stopped); never rejects. */
  run(job: Job, input: RunInput<C> = {}): Promise<JobRun> {
    return new Run<C>(this.#o, this.#limits, [...this.#observers], job, input).promise;
  }
}

/** One run of one job: the state, the running attempts, and the stop reason. */
class Run<C> {
  readonly promise: Promise<JobRun>;
  readonly #o: EngineOptions<C>;
  readonly #now: () => number;
  readonly #job: Job;
  readonly #in: RunInput<C>;
  readonly #abort = new AbortController();
  /** The attempts running: each ends at the job's stop (a listener on the job's signal each cost more). */
  readonly #attempts = new Set<(reason: AltlasError) => void>();
  /** Aborted when the job drains (a budget stop): wakes the tasks waiting to retry. Made when first needed (most runs never retry nor drain). */
  #drain: AbortController | null = null;
  readonly #emit: ((e: TaskEvent) => void) | undefined;
  #state!: GraphState;
  #running = 0;
  #stopped: AltlasError | null = null;
  #startMs = 0;
  #resolve!: (run: JobRun) => void;
  #finalized = false;

  constructor(o: EngineOptions<C>, limits: ProgramLimits, observers: EngineObserver<C>[], job: Job, input: RunInput<C>) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#job = job;
    this.#in = input;
    const context = input.context;
    this.#emit = observers.length === 0 ? undefined : observers.length === 1
      ? (e) => observers[0](e, context)
      : (e) => { for (const ob of observers) ob(e, context); };
    this.promise = new Promise((resolve) => (this.#resolve = resolve));
    let program: Program;
    try {
      program = input.program ?? compileProgram(job);
    } catch (e) {
      // The decoder compiles first, so a job that reaches the engine compiles; this keeps run() total.
      program = compileProgram({ ...job, source: { ...job.source, form: 'runner' } });
      this.#stopped = toAltlasError(e);
    }
    this.#state = new GraphState(program, { now: this.#now, limits, resume: input.resume, emit: this.#emit });
    this.#startMs = this.#now();
    const signal = input.signal;
    if (signal?.aborted) this.#onExternalAbort();
    else signal?.addEventListener('abort', this.#onExternalAbort, { once: true });
    if (!this.#stopped) this.#state.begin();
    this.#pump();
  }

  #onExternalAbort = (): void => {
    const reason = this.#in.signal?.reason;
    this.#stop(reason instanceof AltlasError ? reason : new AltlasError('JOB_ABORTED', 'the job was stopped before it finished', { context: { altId: this.#job.id } }));
  };

  #stop(reason: AltlasError): void {
    if (this.#stopped) return;
    this.#stopped = reason;
    this.#state.stop(reason.code);
    this.#abort.abort(reason);
    for (const end of this.#attempts) end(reason);
  }

  /** Ends the job without aborting the tasks running: they finish, nothing else starts. */
  #drainWith(reason: AltlasError): void {
    if (this.#stopped) return;
    this.#stopped = reason;
    // The graph stops too: what ends from now on only records its result (no dependent cancelled as a dependency failure).
    this.#state.stop(reason.code);
    this.#drainController().abort(reason);
  }

  #drainController(): AbortController {
    return (this.#drain ??= new AbortController());
  }

  /** Why the job drains; null while it does not. */
  get #drainReason(): AltlasError | null {
    return this.#drain?.signal.aborted ? this.#drain.signal.reason as AltlasError : null;
  }

  #pump(): void {
    const state = this.#state;
    while (!this.#stopped && this.#running < this.#o.concurrency) {
      const inst = state.takeReady();
      if (!inst) break;
      this.#running++;
      state.started(inst);
      void this.#runTask(inst).then((result) => {
        this.#running--;
        state.finished(inst, result);
        this.#pump();
      });
    }
    if (this.#running === 0 && (this.#stopped || state.done || state.readyCount === 0)) this.#finalize();
  }

  #finalize(): void {
    if (this.#finalized) return;
    this.#finalized = true;
    this.#in.signal?.removeEventListener('abort', this.#onExternalAbort);
    const stopped = this.#stopped;
    const end = this.#now();
    this.#state.closeAll(stopped?.code ?? 'JOB_ABORTED', end);
    this.#resolve({
      startMs: this.#startMs, endMs: end, results: this.#state.results(), stopped, resumed: this.#state.resumed,
      skipped: this.#state.skipped(), edges: this.#state.edges(), program: this.#state.program,
    });
  }

  /** The task as the body sees it: for 2.0 jobs, content, prompt and string parameters interpolated. */
  #prepare(inst: Instance): { task: JobTask; unresolved: string[] } {
    const task = inst.node.task;
    if (!this.#state.program.enhanced) return { task, unresolved: [] };
    const unresolved: string[] = [];
    const lookup = this.#state.lookup(inst);
    const text = interpolateString(task.text, lookup, unresolved);
    const parameters = interpolateValue(task.parameters, lookup, unresolved) as Record<string, unknown>;
    return { task: { ...task, text: typeof text === 'string' ? text : JSON.stringify(text), parameters }, unresolved: unresolved.length ? [...new Set(unresolved)] : unresolved };
  }

  /** A promise chain, not an async function: no suspended frame held per task running. */
  #attempt(task: JobTask, inst: Instance, attempt: number, timeoutMs: number, deps: ReadonlyMap<string, TaskOutput>): Promise<Attempt> {
    const job = this.#abort.signal;
    const attemptAbort = new AbortController();
    const signal = attemptAbort.signal;
    // The attempt's result: the body's, or its signal's reason as soon as that aborts (the job's stop,
    // the attempt's timeout), whether or not the body listens.
    let fail!: (reason: unknown) => void;
    const work = new Promise<TaskOutput>((resolve, reject) => {
      fail = reject;
      Promise.resolve().then(() => this.#o.body(task, { job: this.#job, key: inst.key, attempt, signal, dependencyOutputs: deps, context: this.#in.context })).then(resolve, reject);
    });
    const abort = (reason: AltlasError): void => {
      attemptAbort.abort(reason);
      fail(signal.reason);
    };
    this.#attempts.add(abort);
    let timedOut = false;
    const handle = setTimeout(() => {
      timedOut = true;
      abort(new AltlasError('TASK_TIMEOUT', `task ${inst.key} timed out after ${timeoutMs} ms`, { context: { altId: this.#job.id, taskId: inst.key, attempt } }));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(handle);
      this.#attempts.delete(abort);
    };
    return work.then((output): Attempt => {
      done();
      return { kind: 'ok', output };
    }, (e: unknown): Attempt => {
      done();
      if (job.aborted) return { kind: 'aborted' };
      if (timedOut) return { kind: 'timeout', error: signal.reason as AltlasError };
      const error = e instanceof AltlasError ? e : new AltlasError('TASK_FAILED', e instanceof Error ? e.message : String(e), { cause: e });
      return { kind: error.fate === 'retry' ? 'transient' : 'failed', error };
    });
  }

  async #runTask(inst: Instance): Promise<TaskResult> {
    const now = this.#now;
    const node = inst.node;
    const timeoutMs = (node.task.timeout_seconds || this.#o.defaultTimeoutS) * 1000;
    const attempts = 1 + (node.task.retry_count ?? 0);
    const start = inst.startedAt ?? now();
    const deadline = start + timeoutMs * attempts;
    const { task, unresolved } = this.#prepare(inst);
    let metadata: Record<string, unknown> = {};
    if (this.#state.program.enhanced) {
      metadata = { segment_id: node.id };
      const iteration = iterationOf(inst.scope);
      if (iteration !== null) metadata.iteration = iteration;
      if (unresolved.length) metadata.unresolved_references = unresolved;
    }
    const deps = this.#state.dependencyOutputs(inst);
    const end = (status: TaskResult['status'], attempt: number, extra: Partial<TaskResult>): TaskResult => {
      const t = now();
      return { task_id: inst.key, status, start_time: iso(start), end_time: iso(t), duration_ms: t - start, output: null, error: null, error_code: null, attempts: attempt, metadata, ...extra };
    };
    // An attempt cut short by the job's stop: cancelled with the stop's code (JOB_CANCELLED for an operator's cancel), its real time kept.
    const aborted = (attempt: number) => end('cancelled', attempt, { error: `Aborted: ${this.#stopped?.message ?? 'the job stopped'}`, error_code: this.#stopped?.code ?? 'JOB_ABORTED' });
    const drained = (attempt: number, reason: AltlasError) => end('cancelled', attempt, { error: `Not run: ${reason.message}`, error_code: reason.code });
    this.#emit?.({ type: 'task_started', taskId: inst.key, attempt: 1, at: start });
    for (let attempt = 1; ; attempt++) {
      const refused = this.#in.guard?.();
      if (refused) {
        this.#stop(refused);
        return aborted(attempt - 1);
      }
      const draining = this.#drainReason;
      if (draining) return drained(attempt - 1, draining);
      const outcome = await this.#attempt(task, inst, attempt, Math.max(1, Math.min(timeoutMs, deadline - now())), deps);
      if (outcome.kind === 'ok') return end('completed', attempt, { output: outcome.output });
      if (outcome.kind === 'aborted') return aborted(attempt);
      const { error } = outcome;
      if (STOPS_JOB.includes(error.code)) {
        // The call was refused before it was made: this attempt did not run.
        this.#drainWith(error);
        return drained(attempt - 1, error);
      }
      if (outcome.kind === 'transient' && !this.#in.transientFailsTask) {
        this.#stop(error);
        return end('failed', attempt, { error: error.message, error_code: error.code });
      }
      this.#emit?.({ type: 'attempt_failed', taskId: inst.key, attempt, code: error.code, error: error.message, at: now() });
      const finalStatus = outcome.kind === 'timeout' ? 'timeout' : 'failed';
      const delay = backoffDelay(attempt, this.#o.retry, this.#o.random ?? Math.random);
      if (attempt >= attempts || NOT_RETRYABLE.includes(error.code) || now() + delay >= deadline) {
        return end(finalStatus, attempt, { error: error.message, error_code: error.code });
      }
      this.#emit?.({ type: 'task_retrying', taskId: inst.key, attempt: attempt + 1, delayMs: delay, at: now() });
      try {
        await sleep(delay, AbortSignal.any([this.#abort.signal, this.#drainController().signal]));
      } catch {
        const draining = this.#drainReason;
        if (!this.#abort.signal.aborted && draining) return drained(attempt, draining);
        return aborted(attempt);
      }
    }
  }
}
