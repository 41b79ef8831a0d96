/**
 * Starts the OpenTelemetry SDK, configured by the standard OTEL_* variables (OTLP over HTTP).
 * Tracing and OTLP export are on when a collector is named (OTEL_EXPORTER_OTLP_ENDPOINT, or the
 * per-signal endpoint, or OTEL_TRACES_EXPORTER); OTEL_SDK_DISABLED=true turns them off. A Prometheus reader is always
 * attached so that `/metrics` works with or without a collector. Export failures are quiet: the
 * SDK's diagnostic logger stays off unless OTEL_LOG_LEVEL asks for it.
 */
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AggregationTemporality, AggregationType, InstrumentType, MeterProvider, PeriodicExportingMetricReader, type IMetricReader, type MetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';

export interface Telemetry {
  /** The Prometheus reader of every metric. */
  prometheus: PrometheusExporter;
  /** Serves `/metrics`: Prometheus text with the base unit in each name (`_seconds`, `_bytes`). */
  serveMetrics(req: IncomingMessage, res: ServerResponse): void;
  /** Flushes and stops exporting (idempotent). */
  shutdown(): Promise<void>;
}

const KEY = Symbol.for('altlas-runner.telemetry');
/** Milliseconds the final export may take at shutdown. */
const SHUTDOWN_LIMIT_MS = 2_000;
type Holder = { [KEY]?: Telemetry };

/** The telemetry started in this process, if any. */
export function currentTelemetry(): Telemetry | undefined {
  return (globalThis as Holder)[KEY];
}

/**
 * Starts the SDK once per process and returns it (later calls return the same). The tracing SDK
 * and the OTLP exporters are loaded only when a collector is configured (start-up time, memory).
 */
export async function startTelemetry(env: NodeJS.ProcessEnv = process.env): Promise<Telemetry> {
  const existing = currentTelemetry();
  if (existing) return existing;
  env.OTEL_SERVICE_NAME ??= 'altlas-runner';
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  let stop: () => Promise<void>;
  const off = env.OTEL_SDK_DISABLED === 'true';
  // Without a collector to send to, nothing is recorded for export: no spans are made and metrics
  // are only served at /metrics. (The SDK's own default would send to localhost:4318.)
  const tracing = !off && (Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) || (env.OTEL_TRACES_EXPORTER !== undefined && env.OTEL_TRACES_EXPORTER !== 'none'));
  const exporters = (env.OTEL_METRICS_EXPORTER ?? 'otlp').split(',').map((s) => s.trim());
  const otlpMetrics = !off && exporters.includes('otlp') && Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
  const readers: IMetricReader[] = [prometheus];
  let push: OtlpPush | null = null;
  if (otlpMetrics) {
    const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
    const exporter = new OTLPMetricExporter();
    const intervalMs = Number(env.OTEL_METRIC_EXPORT_INTERVAL ?? 30_000);
    // A reader of its own keeps a second aggregation of every instrument, paid on every record:
    // when the exporter wants what the Prometheus reader keeps, OTLP sends that reader's collection.
    if (sharesPrometheusView(exporter)) push = new OtlpPush(prometheus, exporter, intervalMs);
    else readers.push(new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: intervalMs }));
  }
  if (!tracing) {
    const provider = new MeterProvider({ readers });
    metrics.setGlobalMeterProvider(provider);
    stop = () => provider.shutdown();
  } else {
    const { NodeSDK } = await import('@opentelemetry/sdk-node');
    const sdk = new NodeSDK({ metricReaders: readers, instrumentations: [] });
    sdk.start();
    stop = () => sdk.shutdown();
  }
  if (push) {
    const stopProvider = stop;
    const pushing = push;
    stop = () => pushing.shutdown().then(stopProvider, stopProvider);
  }
  let stopped: Promise<void> | null = null;
  // A collector that cannot be reached must not hold the process: the last flush gets a bounded time.
  const bounded = () => Promise.race([stop().catch(() => {}), new Promise<void>((r) => setTimeout(r, SHUTDOWN_LIMIT_MS).unref())]);
  const telemetry: Telemetry = { prometheus, shutdown: () => (stopped ??= bounded()), serveMetrics: (req, res) => void serveMetrics(prometheus, res) };
  (globalThis as Holder)[KEY] = telemetry;
  return telemetry;
}

/** Prometheus suffixes of the OpenTelemetry units we use (Prometheus conventions: base units in the name). */
const UNIT_SUFFIX: Record<string, string> = { s: '_seconds', By: '_bytes', ms: '_milliseconds' };

/** The Prometheus name of an instrument: its OpenTelemetry name with the unit's suffix (`altlas.job.duration` + s → altlas_job_duration_seconds). */
export function prometheusName(name: string, unit: string | undefined): string {
  const base = name.replace(/[^a-zA-Z0-9_:]/g, '_');
  const suffix = unit ? UNIT_SUFFIX[unit] ?? '' : '';
  return suffix && !base.endsWith(suffix) ? `${base}${suffix}` : base;
}

const serializer = new PrometheusSerializer('', false);

async function serveMetrics(prometheus: PrometheusExporter, res: ServerResponse): Promise<void> {
  try {
    const { resourceMetrics } = await prometheus.collect();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const m of scope.metrics) (m as { descriptor: { name: string; unit: string } }).descriptor = { ...m.descriptor, name: prometheusName(m.descriptor.name, m.descriptor.unit) };
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(serializer.serialize(resourceMetrics));
  } catch (e) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`# metrics failed: ${(e as Error).message}\n`);
  }
}

/** True when an exporter wants cumulative temporality and the default aggregation for every kind of instrument, as the Prometheus reader keeps them. */
export function sharesPrometheusView(exporter: PushMetricExporter): boolean {
  return Object.values(InstrumentType).every((t) => (exporter.selectAggregationTemporality?.(t) ?? AggregationTemporality.CUMULATIVE) === AggregationTemporality.CUMULATIVE
    && (exporter.selectAggregation?.(t).type ?? AggregationType.DEFAULT) === AggregationType.DEFAULT);
}

/**
 * Exports a reader's collection every `intervalMs` (one at a time; a collector that cannot be
 * reached is quiet), and once more at shutdown before the exporter stops.
 */
export class OtlpPush {
  readonly #reader: MetricReader;
  readonly #exporter: PushMetricExporter;
  readonly #timer: NodeJS.Timeout;
  #running: Promise<void> | null = null;

  constructor(reader: MetricReader, exporter: PushMetricExporter, intervalMs: number) {
    this.#reader = reader;
    this.#exporter = exporter;
    this.#timer = setInterval(() => void this.#once(), intervalMs).unref();
  }

  #once(): Promise<void> {
    return (this.#running ??= this.#export().catch(() => {}).finally(() => {
      this.#running = null;
    }));
  }

  async #export(): Promise<void> {
    const { resourceMetrics } = await this.#reader.collect();
    if (!resourceMetrics.scopeMetrics.length) return;
    await new Promise<void>((resolve) => this.#exporter.export(resourceMetrics, () => resolve()));
  }

  /** Stops the timer, exports what is left and stops the exporter. */
  async shutdown(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
    await this.#once();
    await this.#exporter.shutdown().catch(() => {});
  }
}
