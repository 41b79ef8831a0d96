/**
 * Starts the OpenTelemetry SDK, configured by the standard OTEL_* variables (OTLP over HTTP;
 * OTEL_SDK_DISABLED=true turns tracing and OTLP export off). A Prometheus reader is always
 * attached so that `/metrics` works with or without a collector. Export failures are quiet: the
 * SDK's diagnostic logger stays off unless OTEL_LOG_LEVEL asks for it.
 */
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';

export interface Telemetry {
  /** Serves the Prometheus text of every metric. */
  prometheus: PrometheusExporter;
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

/** Starts the SDK once per process and returns it (later calls return the same). */
export function startTelemetry(env: NodeJS.ProcessEnv = process.env): Telemetry {
  const existing = currentTelemetry();
  if (existing) return existing;
  env.OTEL_SERVICE_NAME ??= 'altlas-runner';
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  let stop: () => Promise<void>;
  if (env.OTEL_SDK_DISABLED === 'true') {
    const provider = new MeterProvider({ readers: [prometheus] });
    metrics.setGlobalMeterProvider(provider);
    stop = () => provider.shutdown();
  } else {
    const readers: IMetricReader[] = [prometheus];
    const exporters = (env.OTEL_METRICS_EXPORTER ?? 'otlp').split(',').map((s) => s.trim());
    if (exporters.includes('otlp')) {
      readers.push(new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter(),
        exportIntervalMillis: Number(env.OTEL_METRIC_EXPORT_INTERVAL ?? 30_000),
      }));
    }
    const sdk = new NodeSDK({ metricReaders: readers, instrumentations: [] });
    sdk.start();
    stop = () => sdk.shutdown();
  }
  let stopped: Promise<void> | null = null;
  // A collector that cannot be reached must not hold the process: the last flush gets a bounded time.
  const bounded = () => Promise.race([stop().catch(() => {}), new Promise<void>((r) => setTimeout(r, SHUTDOWN_LIMIT_MS).unref())]);
  const telemetry: Telemetry = { prometheus, shutdown: () => (stopped ??= bounded()) };
  (globalThis as Holder)[KEY] = telemetry;
  return telemetry;
}
