/** Trace context across the NATS hop, the job span and its task events, AI attempt spans, and trace ids for logs. */
import { INVALID_SPANID, INVALID_TRACEID, ROOT_CONTEXT, SpanKind, SpanStatusCode, context, createContextKey, propagation, trace, type Attributes, type Context, type Span, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import type { MsgHdrs } from '@nats-io/nats-core';
import type { AttemptInfo } from '../ai/client.ts';
import type { TaskEvent } from '../engine/types.ts';
import { ATTR, SPAN, TRACER_NAME } from './names.ts';
import { redactText } from '../security/redact.ts';
import { safeUrl } from '../security/url.ts';

export const tracer = trace.getTracer(TRACER_NAME);

const getter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (h) => (h ? [...h.keys()] : []),
  get: (h, key) => {
    if (!h) return undefined;
    const v = h.get(key);
    return v === '' ? undefined : v;
  },
};
const setter: TextMapSetter<MsgHdrs> = { set: (h, key, value) => h.set(key, value) };

/** The context a producer put in the message headers (traceparent, tracestate, baggage). */
export function extractContext(headers: MsgHdrs | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, headers, getter);
}

/** Writes the context into message headers. */
export function injectContext(headers: MsgHdrs, ctx: Context = context.active()): void {
  propagation.inject(ctx, headers, setter);
}

/** The active trace and span ids, for log lines (empty when nothing is traced). */
export function traceFields(): { trace_id?: string; span_id?: string } {
  const sc = trace.getActiveSpan()?.spanContext();
  // The SDK's ids and the propagator's are well formed: only the invalid context (all zeros) is left out, without a regular expression per line.
  if (!sc || sc.traceId === INVALID_TRACEID || sc.spanId === INVALID_SPANID) return NO_TRACE;
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

const NO_TRACE: { trace_id?: string; span_id?: string } = Object.freeze({});

/**
 * Starts a span as the child of `parent` and runs `fn` with it active; the span ends when `fn` settles.
 * `attributes` is called only when the span records: a span the sampler drops builds none.
 */
export function inSpan<T>(name: string, options: Parameters<typeof tracer.startSpan>[1], parent: Context, fn: (span: Span) => Promise<T>, attributes?: () => Attributes): Promise<T> {
  const span = tracer.startSpan(name, options, parent);
  if (attributes && span.isRecording()) span.setAttributes(attributes());
  let work: Promise<T>;
  try {
    work = context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (e) {
    work = Promise.reject(e);
  }
  // A promise chain, not an async function: no suspended frame held for each job in flight.
  return work.then((value) => {
    span.end();
    return value;
  }, (e: unknown) => {
    span.recordException(e as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
    span.end();
    throw e;
  });
}

/** The context key of the task whose body runs (its AI call spans name it). */
const TASK_KEY = createContextKey('altlas.task.id');

/**
 * A traced job's tasks, recorded on the job's own span (one span per job and one per AI call):
 * each task's end is a `task finished` event (task id, status, attempts, duration, error code),
 * each failed attempt an `attempt failed` event and each retry a `retrying` event, all naming the
 * task; the AI call spans are the job span's children and carry the task id.
 */
export class TaskTrace {
  readonly #span: Span;

  constructor(span: Span) {
    this.#span = span;
  }

  onEvent = (e: TaskEvent): void => {
    if (e.type === 'attempt_failed') this.#span.addEvent('attempt failed', { [ATTR.taskId]: e.taskId, attempt: e.attempt, [ATTR.errorCode]: e.code, 'exception.message': redactText(e.error) }, e.at);
    else if (e.type === 'task_retrying') this.#span.addEvent('retrying', { [ATTR.taskId]: e.taskId, attempt: e.attempt, delay_ms: e.delayMs }, e.at);
    else if (e.type === 'task_finished') {
      const r = e.result;
      this.#span.addEvent('task finished', {
        [ATTR.taskId]: e.taskId, [ATTR.taskStatus]: r.status, [ATTR.taskAttempts]: r.attempts, [ATTR.taskDurationMs]: r.duration_ms,
        ...(r.error_code ? { [ATTR.errorCode]: r.error_code } : {}),
      }, e.at);
    }
  };

  /** Runs `fn` (a task's body) with the task's id in the context, for the AI call spans it makes. */
  within<T>(taskId: string, fn: () => Promise<T>): Promise<T> {
    return context.with(context.active().setValue(TASK_KEY, taskId), fn);
  }
}

/**
 * Records one AI HTTP attempt as a CLIENT span (the child of the job's span, naming the task), after the fact.
 * Nothing is built when no recording span is active: tracing off, or a job the sampler left out.
 */
export function recordAiAttempt(info: AttemptInfo): void {
  if (!trace.getActiveSpan()?.isRecording()) return;
  const end = Date.now();
  const taskId = context.active().getValue(TASK_KEY) as string | undefined;
  const url = new URL(info.url);
  const span = tracer.startSpan(SPAN.ai('chat', info.model), {
    kind: SpanKind.CLIENT,
    startTime: end - info.durationMs,
    attributes: {
      [ATTR.genAiOperation]: 'chat',
      [ATTR.genAiSystem]: info.provider === 'openai' ? 'openai' : 'altlas.orchestrator',
      [ATTR.genAiProvider]: info.provider,
      [ATTR.genAiRequestModel]: info.model,
      [ATTR.httpMethod]: 'POST',
      // Semantic conventions: url.full never carries credentials (AI_URL may hold user:password).
      [ATTR.urlFull]: safeUrl(info.url),
      [ATTR.serverAddress]: url.hostname,
      [ATTR.serverPort]: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      [ATTR.outcome]: info.outcome,
      ...(taskId === undefined ? {} : { [ATTR.taskId]: taskId }),
      ...(info.attempt > 1 ? { [ATTR.httpResendCount]: info.attempt - 1 } : {}),
      ...(info.status !== null ? { [ATTR.httpStatus]: info.status } : {}),
      ...(info.tokens !== null ? { [ATTR.genAiUsageTotalTokens]: info.tokens } : {}),
    },
  });
  if (info.outcome !== 'ok') {
    span.setStatus({ code: SpanStatusCode.ERROR, message: info.error ? redactText(info.error) : info.outcome });
    span.setAttribute(ATTR.errorType, info.status !== null ? String(info.status) : info.outcome);
  }
  span.end(end);
}
