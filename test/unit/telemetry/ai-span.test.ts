/** An AI attempt's CLIENT span: url.full without credentials (OpenTelemetry's semantic conventions), whatever URL the client reports. */
import { afterAll, describe, expect, it } from '@jest/globals';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, StackContextManager, TracerProvider } from '@opentelemetry/sdk-trace';
import { recordAiAttempt } from '../../../src/telemetry/tracing.ts';
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
