import { describe, expect, it } from '@jest/globals';
import { ExportResultCode } from '@opentelemetry/core';
import { AggregationTemporalityPreference, OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { OtlpPush, sharesPrometheusView } from '../../../src/telemetry/sdk.ts';

describe('OTLP metrics from the Prometheus reader', () => {
  it('is used only for an exporter that wants cumulative sums and default aggregations', () => {
    expect(sharesPrometheusView(new OTLPMetricExporter())).toBe(true);
    expect(sharesPrometheusView(new OTLPMetricExporter({ temporalityPreference: AggregationTemporalityPreference.DELTA }))).toBe(false);
    expect(sharesPrometheusView(new OTLPMetricExporter({ temporalityPreference: AggregationTemporalityPreference.LOWMEMORY }))).toBe(false);
  });

  it('exports the reader\'s collection every interval and once more at shutdown, then stops the exporter', async () => {
    const prometheus = new PrometheusExporter({ preventServerStart: true });
    const provider = new MeterProvider({ readers: [prometheus] });
    const counter = provider.getMeter('t').createCounter('altlas.test');
    const sent: number[] = [];
    let stopped = false;
    const exporter: PushMetricExporter = {
      export: (m: ResourceMetrics, done) => {
        const data = m.scopeMetrics.flatMap((s) => s.metrics).find((x) => x.descriptor.name === 'altlas.test');
        sent.push(data ? (data.dataPoints[0].value as number) : -1);
        done({ code: ExportResultCode.SUCCESS });
      },
      forceFlush: async () => {},
      shutdown: async () => {
        stopped = true;
      },
    };
    const push = new OtlpPush(prometheus, exporter, 50);
    counter.add(2);
    await new Promise((r) => setTimeout(r, 120));
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(sent[0]).toBe(2);
    counter.add(3);
    await push.shutdown();
    // Cumulative: the last export holds every record; nothing goes after the shutdown.
    expect(sent.at(-1)).toBe(5);
    expect(stopped).toBe(true);
    const n = sent.length;
    await new Promise((r) => setTimeout(r, 120));
    expect(sent.length).toBe(n);
    await provider.shutdown();
  });
});
