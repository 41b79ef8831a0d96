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
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';

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
  if (otlpMetrics) {
    const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
    readers.push(new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter(),
      exportIntervalMillis: Number(env.OTEL_METRIC_EXPORT_INTERVAL ?? 30_000),
    }));
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
