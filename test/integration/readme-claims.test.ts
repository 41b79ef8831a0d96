/**
 * The README's observability tables, checked against a real worker process: the metric names
 * (both ways) on a scraped /metrics, and the log fields on the lines it wrote at LOG_LEVEL=debug
 * with tracing on.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../src/devtools/nats-server.ts';
import { Harness, eventually, job, type WorkerProcess } from '../helpers/runner.ts';
import { OtlpReceiver } from '../helpers/otlp.ts';
import { ROOT, SAMPLES } from '../helpers/paths.ts';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const observability = readme.slice(readme.indexOf('## Observability'), readme.indexOf('## Dashboard'));

/** Rows of the first markdown table after a line that starts with `marker`: cells per row. */
function table(marker: string): string[][] {
  const from = observability.indexOf(marker);
  const lines = observability.slice(from).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(l.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  return rows;
}
/** The backticked names of a cell, without label sets: "`a{x}`, `b`" → a, b. */
const names = (cell: string) => [...cell.matchAll(/`([^`{]+)(?:\{[^`]*\})?`/g)].map((m) => m[1]);

let h: Harness;
let otlp: OtlpReceiver;
let worker: WorkerProcess;
let metricsText = '';
const traceId = randomBytes(16).toString('hex');

beforeAll(async () => {
  otlp = new OtlpReceiver();
  const endpoint = await otlp.listen();
  // The first AI request fails once, so an AI attempt is retried and logged.
  h = await Harness.start(undefined, { failFirst: 1 });
  const port = await freePort();
  worker = await h.worker({
    HTTP_PORT: String(port), LOG_LEVEL: 'debug', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_METRIC_EXPORT_INTERVAL: '300',
    // Priced calls: the cost counter has series to serve.
    AI_PRICES: join(ROOT, 'deploy', 'ai-prices.yaml'),
  });
  await h.publish(readFileSync(join(SAMPLES, 'runner-example.alt.json')), { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` });
  await h.publish(job('plain', 2));
  // Schema-invalid with a known id: a failure .last and a dead letter.
  await h.publish(JSON.stringify({ id: 'broken-1', title: 'broken', tasks: [{ id: 'a' }] }));
  await h.waitForLasts(3);
  await eventually(() => h.records('ALT_DLQ'), (r) => r.length === 1, 'the dead letter');
  const url = `http://127.0.0.1:${port}/metrics`;
  metricsText = (await eventually(async () => (await fetch(url)).text(), (t) => /^altlas_dlq_records_total\{[^}]*\} 1$/m.test(t) && /^altlas_jobs_in_flight\{[^}]*\} 0$/m.test(t), '/metrics to count the three jobs')) as string;
  await eventually(async () => worker.logs('job finished').length + worker.logs('job rejected').length, (n) => n >= 3, 'the job lines');
}, 120_000);

afterAll(async () => {
  await h?.close();
  await otlp?.close();
});

describe('README metrics table', () => {
  it('names exactly the metric families /metrics serves, with their types', () => {
    const served = new Map([...metricsText.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    served.delete('target_info');
    const documented = new Map(table('**Metrics**').flatMap(([metric, type]) => names(metric).map((n) => [n, type] as const)));
    expect([...documented.keys()].sort()).toEqual([...served.keys()].sort());
    for (const [name, type] of documented) expect([name, type]).toEqual([name, served.get(name)]);
  });
});

describe('README log fields table', () => {
  const lines = () => worker.lines.flatMap((l) => {
    try {
      const j = JSON.parse(l) as Record<string, unknown>;
      return typeof j === 'object' && j && 'message' in j ? [j] : [];
    } catch {
      return [];
    }
  });
  const fields = () => new Map(table('**Logs**').flatMap(([field, on]) => names(field).map((n) => [n, on] as const)));

  it('documents fields that every line, every delivery line and every task line carry', () => {
    const f = fields();
    for (const n of ['level', 'message', 'timestamp', 'service', 'worker_id', 'alt_stream_seq', 'deliveries', 'alt_id', 'task_id', 'trace_id', 'span_id', 'code', 'status', 'success_rate', 'tasks', 'duration_ms']) expect([n, f.has(n)]).toEqual([n, true]);
    const all = lines();
    expect(all.length).toBeGreaterThan(10);
    for (const l of all) expect(l).toMatchObject({ level: expect.any(String), message: expect.any(String), timestamp: expect.any(String), service: 'altlas-runner', worker_id: expect.stringMatching(/:\d+$/) });
    const delivery = all.filter((l) => 'alt_stream_seq' in l);
    expect(delivery.length).toBeGreaterThan(5);
    // `run started` is written before the job is decoded: the one delivery line without its id.
    for (const l of delivery) expect([l.message, l]).toEqual([l.message, expect.objectContaining({ deliveries: expect.any(Number), ...(l.message === 'run started' ? {} : { alt_id: expect.any(String) }), trace_id: expect.stringMatching(/^[0-9a-f]{32}$/), span_id: expect.stringMatching(/^[0-9a-f]{16}$/) })]);
    // The traced job's lines carry the producer's trace.
    for (const l of delivery.filter((x) => x.alt_id === 'alt_example_001')) expect([l.message, l.trace_id]).toEqual([l.message, traceId]);
  });

  it('writes one "run started" and one "run ended" line per run, with the outcomes the table names', () => {
    const all = lines();
    const started = all.filter((l) => l.message === 'run started');
    const ended = all.filter((l) => l.message === 'run ended');
    expect(started).toHaveLength(3);
    for (const l of started) expect(l).toMatchObject({ level: 'info', alt_stream_seq: expect.any(Number), deliveries: 1, worker_id: expect.stringMatching(/:\d+$/) });
    expect(started.some((l) => 'alt_id' in l)).toBe(false);
    expect(ended.map((l) => [l.alt_stream_seq, l.alt_id, l.outcome]).sort()).toEqual([[1, 'alt_example_001', 'ack'], [2, 'plain', 'ack'], [3, 'broken-1', 'reject']]);
    for (const l of ended) expect(l).toMatchObject({ level: 'info', deliveries: 1, worker_id: started[0].worker_id });
    // Each run's lines lie between its two: its start before all of them, its end after.
    for (const seq of [1, 2, 3]) {
      const mine = all.filter((l) => l.alt_stream_seq === seq);
      expect([seq, mine[0].message, mine.at(-1)!.message]).toEqual([seq, 'run started', 'run ended']);
    }
    const documented = [...fields().get('outcome')!.matchAll(/`([a-z]+)`/g)].map((m) => m[1]).filter((m) => m !== 'run');
    expect(documented).toEqual(expect.arrayContaining(ended.map((l) => l.outcome as string)));
  });

  it('puts task_id on the task lines the table names, code on error lines, the outcome on "job finished"', () => {
    const all = lines();
    const taskMessages = [...fields().get('task_id')!.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    const seen = taskMessages.filter((m) => all.some((l) => l.message === m));
    // This run fails one AI attempt (so it logs it and the task's retry inside the client) and finishes tasks.
    expect(seen).toEqual(expect.arrayContaining(['AI attempt failed; it may be retried', 'task finished']));
    for (const l of all.filter((x) => taskMessages.includes(x.message as string))) expect([l.message, l]).toEqual([l.message, expect.objectContaining({ task_id: expect.any(String), alt_id: expect.any(String) })]);
    const errors = all.filter((l) => l.level === 'error' && 'alt_stream_seq' in l);
    expect(errors.map((l) => l.message)).toEqual(['job rejected']);
    for (const l of errors) expect(l.code).toEqual(expect.stringMatching(/^[A-Z_]+$/));
    const finished = all.filter((l) => l.message === 'job finished');
    expect(finished.map((l) => l.alt_id).sort()).toEqual(['alt_example_001', 'plain']);
    for (const l of finished) expect(l).toMatchObject({ status: expect.any(String), success_rate: expect.any(Number), tasks: expect.any(Number), duration_ms: expect.any(Number) });
  });
});
