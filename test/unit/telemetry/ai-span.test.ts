/**
 * An AI attempt's CLIENT span: url.full without credentials (OpenTelemetry's semantic conventions), whatever URL the client reports;
 * a traced job's tasks as events of its span, and the AI call spans naming their task.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, StackContextManager, TracerProvider } from '@opentelemetry/sdk-trace';
import { TaskTrace, recordAiAttempt } from '../../../src/telemetry/tracing.ts';
import type { AttemptInfo } from '../../../src/ai/call.ts';

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
trace.setGlobalTracerProvider(provider);
context.setGlobalContextManager(new StackContextManager().enable());
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});

describe('AI attempt spans', () => {
  it('record url.full without user name, password or credential parameters, and error texts redacted', () => {
    const parent = provider.getTracer('test').startSpan('task t1');
    const info = {
      provider: 'openai', model: 'm', url: 'http://user:Pa55w0rd-x@ai.example.com:8001/v1/chat/completions?key=AIzaSyA-1234567890abcdefghijklmnopqrstu&x=1',
      attempt: 1, durationMs: 5, status: 401, outcome: 'rejected', failure: null, tokens: null, usage: null, headers: {}, streamed: false, chunks: 0, bytes: 0,
      error: 'refused: Authorization: Bearer sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234567890',
    } as unknown as AttemptInfo;
    context.with(trace.setSpan(context.active(), parent), () => recordAiAttempt(info));
    parent.end();
    const span = exporter.getFinishedSpans().find((s) => s.attributes['url.full'])!;
    expect(span.attributes['url.full']).toBe('http://REDACTED:REDACTED@ai.example.com:8001/v1/chat/completions?key=REDACTED&x=1');
    expect(JSON.stringify([span.attributes, span.status])).not.toMatch(/Pa55w0rd|AIzaSy|sk-proj/);
  });
});

describe('the job span and its tasks', () => {
  it('records each task as events of the job span (redacted), and each AI call as a child span naming its task', async () => {
    exporter.reset();
    const job = provider.getTracer('test').startSpan('process ALT');
    const tasks = new TaskTrace(job);
    const secret = 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234567890';
    tasks.onEvent({ type: 'task_started', taskId: 't1', attempt: 1, at: 1_000 });
    tasks.onEvent({ type: 'attempt_failed', taskId: 't1', attempt: 1, code: 'AI_UNAVAILABLE', error: `503 from the provider, key ${secret}`, at: 1_010 });
    tasks.onEvent({ type: 'task_retrying', taskId: 't1', attempt: 1, delayMs: 20, at: 1_011 });
    const result = { task_id: 't1', status: 'failed', start_time: null, end_time: null, duration_ms: 40, output: null, error: 'x', error_code: 'AI_UNAVAILABLE', attempts: 2, metadata: {} } as const;
    tasks.onEvent({ type: 'task_finished', taskId: 't1', result, at: 1_040, kind: 'ai' });
    const info = { provider: 'orchestrator', model: 'm', url: 'http://127.0.0.1:8001/v1', attempt: 2, durationMs: 5, status: 200, outcome: 'ok', tokens: 3 } as unknown as AttemptInfo;
    await context.with(trace.setSpan(context.active(), job), () => tasks.within('t1', async () => recordAiAttempt(info)));
    job.end();
    const spans = exporter.getFinishedSpans();
    // Nothing but the job span and the call's span.
    expect(spans.map((s) => s.name).sort()).toEqual(['chat m', 'process ALT']);
    const ended = spans.find((s) => s.name === 'process ALT')!;
    expect(ended.events.map((e) => [e.name, e.attributes])).toEqual([
      ['attempt failed', { 'altlas.task.id': 't1', attempt: 1, 'altlas.error.code': 'AI_UNAVAILABLE', 'exception.message': expect.stringContaining('503 from the provider') }],
      ['retrying', { 'altlas.task.id': 't1', attempt: 1, delay_ms: 20 }],
      ['task finished', { 'altlas.task.id': 't1', 'altlas.task.status': 'failed', 'altlas.task.attempts': 2, 'altlas.task.duration_ms': 40, 'altlas.error.code': 'AI_UNAVAILABLE' }],
    ]);
    expect(JSON.stringify(ended.events)).not.toContain(secret);
    const call = spans.find((s) => s.name === 'chat m')!;
    expect(call.parentSpanContext?.spanId).toBe(job.spanContext().spanId);
    expect(call.attributes['altlas.task.id']).toBe('t1');
  });
});
