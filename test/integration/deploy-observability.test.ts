/**
 * The shipped Grafana dashboard and Prometheus alert rules (deploy/): every metric they use is one
 * a real worker serves on /metrics (but `up`, which Prometheus writes itself for each scrape), the
 * rules parse with `promtool check rules` (Debian's prometheus package; .ci/run installs it), and
 * the compose file loads both.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { freePort } from '../../src/devtools/nats-server.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { ROOT } from '../helpers/paths.ts';

const exec = promisify(execFile);
const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'dashboards', 'altlas-runner.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
const alertsPath = join(ROOT, 'deploy', 'prometheus', 'alerts.yml');
const alerts = parse(readFileSync(alertsPath, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };

/** The metric names an expression reads (PromQL functions, keywords and labels left out). */
function metricsOf(expr: string): string[] {
  const noStrings = expr.replace(/"[^"]*"/g, '""');
  const noLabels = noStrings.replace(/\{[^}]*\}/g, '').replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const words = [...noLabels.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1]);
  return words.filter((w) => !['and', 'or', 'unless', 'by', 'offset', 'bool', 'le'].includes(w) && !/^\d/.test(w) && !/^[smhdwy]$/.test(w));
}

const exprs = [
  ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `panel "${p.title}"`, expr: t.expr }))),
  ...alerts.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
];

let h: Harness;
let served = new Map<string, string>();
beforeAll(async () => {
  // A 429 first: the rate-limited counter gets a model's series too.
  h = await Harness.start(undefined, { failFirst: 1, errorStatus: 429, retryAfterS: 0 });
  const port = await freePort();
  await h.worker({ HTTP_PORT: String(port), AI_PRICES: join(ROOT, 'deploy', 'ai-prices.yaml') });
  await h.publish(job('observed', 2));
  await h.waitForLasts(1);
  const text = await eventually(async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), (t) => /^altlas_ai_tokens_total\{/m.test(t), 'the AI usage on /metrics');
  served = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
}, 120_000);
afterAll(async () => {
  await h?.close();
});

describe('deploy/grafana and deploy/prometheus', () => {
  it('use only metrics a worker serves on /metrics (and Prometheus\'s own up)', () => {
    expect(exprs.length).toBeGreaterThan(15);
    const missing: string[] = [];
    for (const { where, expr } of exprs) {
      for (const name of metricsOf(expr)) {
        if (name === 'up') continue;
        const family = name.replace(/_(bucket|sum|count)$/, '');
        const ok = served.has(name) || (family !== name && served.get(family) === 'histogram');
        if (!ok) missing.push(`${where}: ${name}`);
      }
    }
    expect(missing).toEqual([]);
    // What the issue names is there: throughput, percentiles, failures by code, DLQ, AI calls and 429s, tokens, cost, leases, lag.
    const all = exprs.map((e) => e.expr).join('\n');
    for (const m of ['altlas_jobs_total', 'altlas_job_duration_seconds_bucket', 'altlas_dlq_records_total', 'altlas_ai_calls_total', 'altlas_ai_rate_limited_total', 'altlas_ai_tokens_total', 'altlas_ai_cost_total', 'altlas_lease_lost_total', 'altlas_consumer_pending', 'altlas_ai_breaker_state']) expect(all).toContain(m);
    expect(alerts.groups.flatMap((g) => g.rules.map((r) => r.alert)).sort()).toEqual(['AltlasAiBreakerOpen', 'AltlasConsumerLagGrowing', 'AltlasDlqGrowing', 'AltlasLeaseLosses', 'AltlasNoWorkerHeartbeats']);
  });

  it('finds the metrics it checks (a name no worker serves is reported)', () => {
    expect(metricsOf('sum by (model) (rate(altlas_nope_total{code!="x"}[5m])) > 0 and up')).toEqual(['altlas_nope_total', 'up']);
    expect(served.has('altlas_nope_total')).toBe(false);
  });

  it('ships alert rules that promtool check rules accepts', async () => {
    const promtool = await exec('sh', ['-c', 'command -v promtool']).then((r) => r.stdout.trim(), () => '');
    if (!promtool) {
      console.log('skipped: promtool is not installed (Debian package prometheus; .ci/run installs it)');
      return;
    }
    const r = await exec(promtool, ['check', 'rules', alertsPath]);
    expect(r.stdout).toMatch(/SUCCESS: 5 rules found/);
  });

  it('are loaded by the compose file: Prometheus reads the rules, Grafana the data source and the dashboard', () => {
    const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { volumes?: string[]; depends_on?: string[] }> };
    const prometheus = parse(readFileSync(join(ROOT, 'deploy', 'prometheus.yml'), 'utf8')) as { rule_files: string[] };
    const mount = compose.services.prometheus.volumes!.find((v) => v.startsWith('./deploy/prometheus/alerts.yml:'))!;
    expect(prometheus.rule_files).toContain(mount.split(':')[1]);
    const grafana = compose.services.grafana;
    expect(grafana.volumes).toEqual(expect.arrayContaining(['./deploy/grafana/provisioning:/etc/grafana/provisioning:ro', './deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro']));
    const datasource = parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as { datasources: { uid: string; url: string }[] };
    expect(datasource.datasources[0]).toMatchObject({ uid: 'prometheus', url: 'http://prometheus:9090' });
    const provider = parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'provisioning', 'dashboards', 'altlas.yml'), 'utf8')) as { providers: { options: { path: string } }[] };
    expect(provider.providers[0].options.path).toBe('/var/lib/grafana/dashboards');
  });
});
