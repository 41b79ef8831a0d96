/** Trace context across the NATS hop, task spans, AI attempt spans, and trace ids for logs. */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Context, type Span, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
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
  if (!sc || !trace.isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

/** Starts a span as the child of `parent` and runs `fn` with it active; the span ends when `fn` settles. */
export async function inSpan<T>(name: string, options: Parameters<typeof tracer.startSpan>[1], parent: Context, fn: (span: Span) => Promise<T>): Promise<T> {
  const span = tracer.startSpan(name, options, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (e) {
    span.recordException(e as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
    throw e;
  } finally {
    span.end();
  }
}

/**
 * One span per task, from its start to its result, with the AI attempts as children: the engine's
 * events open and close the spans, and the wrapped body runs inside the task's span.
 */
export class TaskSpans {
  readonly #spans = new Map<string, Span>();

  onEvent = (e: TaskEvent): void => {
    if (e.type === 'skipped' || e.type === 'instance_created' || e.type === 'task_resumed') return;
    if (e.type === 'task_started') {
      this.#spans.set(e.taskId, tracer.startSpan(SPAN.task(e.taskId), { kind: SpanKind.INTERNAL, attributes: { [ATTR.taskId]: e.taskId }, startTime: e.at }));
      return;
    }
    const span = this.#spans.get(e.taskId);
    if (e.type === 'attempt_failed') span?.addEvent('attempt failed', { attempt: e.attempt, [ATTR.errorCode]: e.code, 'exception.message': e.error });
    else if (e.type === 'task_retrying') span?.addEvent('retrying', { attempt: e.attempt, delay_ms: e.delayMs });
    else if (e.type === 'task_finished' && span) {
      span.setAttributes({ [ATTR.taskStatus]: e.result.status, [ATTR.taskAttempts]: e.result.attempts });
      if (e.result.status !== 'completed') {
        span.setStatus({ code: SpanStatusCode.ERROR, message: e.result.error ?? e.result.status });
        if (e.result.error_code) span.setAttribute(ATTR.errorCode, e.result.error_code);
      }
      span.end(e.at);
      this.#spans.delete(e.taskId);
    }
  };

  /** Runs `fn` with the task's span active, so its AI attempt spans are the task span's children. */
  within<T>(taskId: string, fn: () => Promise<T>): Promise<T> {
    const span = this.#spans.get(taskId);
    if (!span) return fn();
    return context.with(trace.setSpan(context.active(), span), fn);
  }
}

/**
 * Records one AI HTTP attempt as a CLIENT span (in the active task's context), after the fact.
 * Nothing is built when no recording span is active: tracing off, or a job the sampler left out.
 */
export function recordAiAttempt(info: AttemptInfo): void {
  if (!trace.getActiveSpan()?.isRecording()) return;
  const end = Date.now();
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
