import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../src/devtools/nats-server.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { KIND, OtlpReceiver } from '../helpers/otlp.ts';
import { SAMPLES } from '../helpers/paths.ts';

let h: Harness | undefined;
let otlp: OtlpReceiver | undefined;
afterEach(async () => {
  await h?.close();
  await otlp?.close();
  h = undefined;
  otlp = undefined;
});

const get = async (url: string) => {
  try {
    const r = await fetch(url);
    return { status: r.status, text: await r.text() };
  } catch {
    return { status: 0, text: '' };
  }
};

describe('observability', () => {
  it('makes a job one trace: producer -> the job span (its tasks as events) -> one span per AI call, and the .last carries it on', async () => {
    otlp = new OtlpReceiver();
    const endpoint = await otlp.listen();
    h = await Harness.start();
    const worker = await h.worker({
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '300', LOG_LEVEL: 'debug',
    });
    const traceId = randomBytes(16).toString('hex');
    const producerSpanId = randomBytes(8).toString('hex');
    await h.publish(readFileSync(join(SAMPLES, 'runner-example.alt.json')), { traceparent: `00-${traceId}-${producerSpanId}-01` });
    const [{ headers }] = await h.waitForLasts(1);
    const spans = await eventually(async () => otlp!.spans.filter((s) => s.traceId === traceId), (s) => s.filter((x) => x.kind === KIND.client).length >= 3 && s.some((x) => x.kind === KIND.consumer), 'the spans of the job');
    // One span for the job and one per AI call, nothing else.
    expect(spans.map((s) => s.kind).sort()).toEqual([KIND.client, KIND.client, KIND.client, KIND.consumer]);
    const job = spans.find((s) => s.kind === KIND.consumer)!;
    expect(job).toMatchObject({ parentSpanId: producerSpanId, name: 'process ALT' });
    expect(job.attributes).toMatchObject({ 'messaging.system': 'nats', 'messaging.destination.name': 'alt.submit', 'messaging.nats.message.delivery_count': 1, 'messaging.nats.stream.sequence': 1, 'altlas.alt.id': 'alt_example_001', 'altlas.last.status': 'success' });
    // The tasks are events of the job span.
    const finished = job.events.filter((e) => e.name === 'task finished');
    expect(finished.map((e) => e.attributes['altlas.task.id']).sort()).toEqual(['task_001', 'task_002', 'task_003']);
    for (const e of finished) expect(e.attributes).toMatchObject({ 'altlas.task.status': 'completed', 'altlas.task.attempts': 1, 'altlas.task.duration_ms': expect.any(Number) });
    expect(job.events.find((e) => e.name === 'send LAST')!.attributes).toMatchObject({ 'messaging.destination.name': expect.stringMatching(/^last\./) });
    const ai = spans.filter((s) => s.kind === KIND.client);
    expect(ai.map((a) => a.attributes['altlas.task.id']).sort()).toEqual(['task_001', 'task_002', 'task_003']);
    for (const a of ai) {
      expect(a.parentSpanId).toBe(job.spanId);
      expect(a.attributes).toMatchObject({ 'gen_ai.request.model': 'default', 'gen_ai.provider.name': 'orchestrator', 'http.request.method': 'POST', 'http.response.status_code': 200 });
      expect(a.attributes['gen_ai.usage.total_tokens']).toEqual(expect.any(Number));
    }
    // The .last carries the job span's context on.
    expect(headers?.get('traceparent')).toBe(`00-${traceId}-${job.spanId}-01`);
    // Log lines written inside the job carry its trace id.
    await eventually(async () => worker.logs('job finished'), (l) => l.length === 1, 'the job log line');
    expect(worker.logs('job finished')[0]).toMatchObject({ trace_id: traceId, alt_id: 'alt_example_001' });
    expect(worker.logs('job decoded')[0]).toMatchObject({ trace_id: traceId });
    await eventually(async () => otlp!.metricNames, (m) => m.has('altlas.jobs'), 'metrics over OTLP');
  });

  it('a job the sampler leaves out records no span and passes on the producer\'s trace headers as they came; its log lines still carry the trace id', async () => {
    otlp = new OtlpReceiver();
    const endpoint = await otlp.listen();
    h = await Harness.start();
    const worker = await h.worker({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_METRIC_EXPORT_INTERVAL: '300' });
    const traceId = randomBytes(16).toString('hex');
    const unsampled = `00-${traceId}-${randomBytes(8).toString('hex')}-00`;
    await h.publish(readFileSync(join(SAMPLES, 'runner-example.alt.json')), { traceparent: unsampled, tracestate: 'vendor=1' });
    const [{ headers }] = await h.waitForLasts(1);
    expect([headers?.get('traceparent'), headers?.get('tracestate')]).toEqual([unsampled, 'vendor=1']);
    await eventually(async () => worker.logs('job finished'), (l) => l.length === 1, 'the job log line');
    expect(worker.logs('job finished')[0]).toMatchObject({ trace_id: traceId, span_id: expect.stringMatching(/^[0-9a-f]{16}$/) });
    // The metrics go on (an export after the job), and no span of the job's trace ever does.
    const before = otlp.metricRequests;
    await eventually(async () => otlp!.metricRequests, (n) => n > before + 1, 'metrics over OTLP after the job');
    expect(otlp.spans.filter((s) => s.traceId === traceId)).toEqual([]);
  });

  it('never logs secrets: bearer tokens, API keys, configured keys', async () => {
    h = await Harness.start();
    const bearer = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbHRsYXMifQ.s3cr3tS1gnature';
    const apiKey = 'sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c';
    const worker = await h.worker({ LOG_LEVEL: 'debug', LOG_REDACT: 'customer_ref', AI_API_KEY: apiKey });
    const doc = JSON.parse(job('secret-job', 1));
    doc.tasks[0].parameters = { headers: { Authorization: `Bearer ${bearer}` }, api_key: apiKey, customer_ref: 'CUST-991-PRIVATE', note: `use Bearer ${bearer}` };
    await h.publish(JSON.stringify(doc));
    await h.waitForLasts(1);
    await eventually(async () => worker.logs('job finished'), (l) => l.length === 1, 'the job log line');
    const output = worker.lines.join('\n');
    expect(worker.logs('job decoded')).toHaveLength(1);
    for (const secret of [bearer, apiKey, 'CUST-991-PRIVATE']) expect(output).not.toContain(secret);
    expect(output).toContain('[REDACTED]');
  });

  it('serves /healthz, /readyz that follows the NATS connection, and /metrics that counts outcomes', async () => {
    h = await Harness.start();
    const port = await freePort();
    await h.worker({ HTTP_PORT: String(port) });
    const base = `http://127.0.0.1:${port}`;
    expect((await get(`${base}/healthz`)).status).toBe(200);
    expect((await get(`${base}/readyz`)).status).toBe(200);
    // Before any job, every counter family is listed at 0 (README: Metrics).
    const fresh = (await get(`${base}/metrics`)).text;
    const counters = [...fresh.matchAll(/^# TYPE (\S+) counter$/gm)].map((m) => m[1]);
    expect(counters).toEqual(expect.arrayContaining(['altlas_jobs_total', 'altlas_dlq_records_total', 'altlas_retries_total', 'altlas_redeliveries_total', 'altlas_last_duplicates_total', 'altlas_lease_lost_total']));
    for (const c of counters) expect([c, new RegExp(`^${c}(\\{[^}]*\\})? 0$`, 'm').test(fresh)]).toEqual([c, true]);
    expect(fresh).toMatch(/^altlas_jobs_total\{[^}]*outcome="ack"[^}]*status="partialsuccess"[^}]*\} 0$/m);
    expect(fresh).toMatch(/^altlas_dlq_records_total\{[^}]*code="ALT_SCHEMA"[^}]*\} 0$/m);
    await h.publish(job('metered', 1));
    await h.waitForLasts(1);
    // The job is counted when it is settled, and leaves the in-flight gauge a moment later.
    const metrics = await eventually(() => get(`${base}/metrics`), (r) => /altlas_jobs_total\{[^}]*outcome="ack"[^}]*\} 1/.test(r.text) && /^altlas_jobs_in_flight\{[^}]*\} 0$/m.test(r.text), 'the job counted in /metrics');
    expect(metrics.text).toMatch(/^altlas_jobs_in_flight\{[^}]*\} 0$/m);
    expect(metrics.text).toMatch(/^altlas_ai_breaker_state\{[^}]*\} 0$/m);
    expect(metrics.text).toMatch(/^altlas_job_duration_seconds_count\{[^}]*outcome="ack"[^}]*\} 1$/m);
    expect(metrics.text).toMatch(/^process_memory_usage_bytes\{type="rss"[^}]*\} \d+$/m);
    await h.server.stop();
    const down = await eventually(() => get(`${base}/readyz`), (r) => r.status === 503, '/readyz to turn not ready');
    expect(JSON.parse(down.text).checks.nats_connected).toBe(false);
    expect(JSON.parse(down.text).reason).toBe('nats: disconnected, reconnecting');
    expect((await get(`${base}/healthz`)).status).toBe(200);
    await h.server.restart();
    await eventually(() => get(`${base}/readyz`), (r) => r.status === 200, '/readyz to turn ready again', 30_000);
  });
});
