/** The runner's metrics, through the OpenTelemetry API (a no-op until the SDK is started). */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { metrics } from '@opentelemetry/api';
import type { AttemptInfo, BreakerState } from '../ai/client.ts';
import type { TaskEvent } from '../engine/types.ts';
import { METRIC, METER_NAME } from './names.ts';
import { NO_TENANT, type UsageRecord } from '../usage/record.ts';
import { TOKEN_KINDS } from '../usage/totals.ts';
import { ERROR_CODES } from '../errors.ts';
import type { ModelFigures } from '../budget/model-budgets.ts';
import { LANES, laneOf, tenantOf } from '../flow/lanes.ts';

/** A lane and tenant with a count (jobs running here, messages stored on its subject). */
/** What the metrics read of the stream's backlog (ops/backlog.ts polls it). */
export interface BacklogFigures {
  pending: number;
  ack_pending: number;
  lanes: readonly { lane: string; pending: number }[];
}

export interface LaneCount {
  lane: string;
  tenant: string;
  count: number;
}

export interface MetricSources {
  /** The subjects of the jobs running here (running jobs by lane and tenant). */
  running?: () => string[];
  /** RUNNER_LANES: messages stored per lane and tenant at the intake's last scan; absent: no such gauge. */
  queued?: () => LaneCount[];
  /** Tenants with a label of their own (RUNNER_METRICS_TENANTS); the rest are `_other`. Default 100. */
  maxTenants?: number;
  inFlight: () => number;
  breakerState: () => BreakerState;
  /** Last polled backlog of the stream's consumers (every one: the lanes' too), or null when unknown. */
  consumer: () => BacklogFigures | null;
  /** Jobs waiting in the worker for the AI side. */
  waiting?: () => number;
  /** The rate limits per provider and model, as this worker knows and spends them. */
  limits?: () => readonly ModelFigures[];
  /** 1 while the worker takes no new work by an operator's pause or drain, else 0. */
  paused?: () => number;
  /** The worker's concurrency now (altlas workers set changes it live). */
  concurrency?: () => number;
}

/** Seconds: from a fast AI answer to a long job. */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const seconds = { unit: 's', advice: { explicitBucketBoundaries: SECONDS_BUCKETS } };

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2, isolated: 3 };

/** The lanes as metric labels: ALT_LAS's priorities, and `none` for a subject outside lanes. */
const LANE_LABELS = [...LANES, 'none'] as const;

/** The label of the tenants past RUNNER_METRICS_TENANTS. */
export const OTHER_TENANTS = '_other';

/**
 * Bounded tenant labels: the first `max` tenants this process sees keep their token, every later
 * one is `_other` (a label, once given, never changes: a counter's series stay whole). At most
 * 5 lanes × (max + 1) series per metric, whatever the number of tenants.
 */
export class TenantLabels {
  readonly #seen = new Set<string>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  of(tenant: string): string {
    if (this.#seen.has(tenant)) return tenant;
    if (this.#seen.size >= this.#max) return OTHER_TENANTS;
    this.#seen.add(tenant);
    return tenant;
  }
}

export class RunnerMetrics {
  readonly #meter = metrics.getMeter(METER_NAME);
  readonly #tenants: TenantLabels;
  readonly #laneStarted = this.#meter.createCounter(METRIC.laneStarted, { description: 'Jobs started (first deliveries) by lane (none: a subject outside lanes) and tenant (the first RUNNER_METRICS_TENANTS tenants by name, the rest _other).' });
  readonly #laneWait = this.#meter.createHistogram(METRIC.laneWait, { ...seconds, description: 'Time a job waited in NATS, from its publish to its start here (first deliveries), by lane and tenant.' });
  readonly #jobs = this.#meter.createCounter(METRIC.jobs, { description: 'Jobs handled, by outcome (ack, nak, reject) and .last status or error code.' });
  readonly #jobDuration = this.#meter.createHistogram(METRIC.jobDuration, { ...seconds, description: 'Time from delivery to the message being settled.' });
  readonly #taskDuration = this.#meter.createHistogram(METRIC.taskDuration, { ...seconds, description: 'Task duration by final status.' });
  readonly #aiDuration = this.#meter.createHistogram(METRIC.aiDuration, { ...seconds, description: 'AI request duration by provider, model and outcome.' });
  readonly #retries = this.#meter.createCounter(METRIC.retries, { description: 'Retries of tasks (kind=task) and of AI requests (kind=ai).' });
  readonly #redeliveries = this.#meter.createCounter(METRIC.redeliveries, { description: 'Deliveries of a message after its first.' });
  readonly #dlq = this.#meter.createCounter(METRIC.dlqRecords, { description: 'Messages dead-lettered, by error code.' });
  readonly #duplicates = this.#meter.createCounter(METRIC.duplicates, { description: '.last publishes the LAST stream reported as duplicates (a second run of one message).' });
  readonly #leaseLost = this.#meter.createCounter(METRIC.leaseLost, { description: 'Runs stopped because their lease was lost or a newer delivery claimed the message.' });
  readonly #aiTokens = this.#meter.createCounter(METRIC.aiTokens, { description: 'AI tokens the providers reported, by the model that answered, kind (input, output, cached_input, reasoning) and tenant; a count not reported is not added (see altlas_ai_calls_total).' });
  readonly #aiCost = this.#meter.createCounter(METRIC.aiCost, { description: 'Cost of AI calls at AI_PRICES, by model, tenant and currency; calls of unknown cost are not added (see altlas_ai_calls_total).' });
  readonly #aiCalls = this.#meter.createCounter(METRIC.aiCalls, { description: 'AI calls that reached the provider, by model, tenant, outcome (ok, failed), usage (reported, unknown) and cost (known, unknown).' });
  readonly #aiFallbacks = this.#meter.createCounter(METRIC.aiFallbacks, { description: 'AI calls moved on from one provider/model pair of a fallback chain to the next (from, to: endpoint/model).' });
  readonly #historyDropped = this.#meter.createCounter(METRIC.historyDropped, { description: 'Job history events dropped: the buffer of unconfirmed events was full (reason=full) or the stream did not store one (reason=failed).' });
  readonly #aiRateLimited = this.#meter.createCounter(METRIC.aiRateLimited, { description: 'AI HTTP attempts answered 429 (rate limited), by provider and model.' });
  readonly #loop = monitorEventLoopDelay({ resolution: 20 });

  constructor(sources: MetricSources) {
    this.#loop.enable();
    this.#tenants = new TenantLabels(sources.maxTenants ?? 100);
    for (const lane of LANE_LABELS) this.#laneStarted.add(0, { lane, tenant: NO_TENANT });
    this.#meter.createObservableGauge(METRIC.laneRunning, { description: 'Jobs running in this process by lane and tenant (0 with tenant _ for a lane with none).' }).addCallback((r) => {
      const counts = new Map<string, number>();
      for (const subject of sources.running?.() ?? []) {
        const key = `${laneOf(subject) ?? 'none'} ${this.#tenants.of(tenantOf(subject) ?? NO_TENANT)}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      for (const lane of LANE_LABELS) if (![...counts.keys()].some((k) => k.startsWith(`${lane} `))) counts.set(`${lane} ${NO_TENANT}`, 0);
      for (const [key, n] of counts) r.observe(n, { lane: key.slice(0, key.indexOf(' ')), tenant: key.slice(key.indexOf(' ') + 1) });
    });
    const queued = sources.queued;
    if (queued) {
      this.#meter.createObservableGauge(METRIC.laneQueued, { description: 'RUNNER_LANES: messages stored on a lane\'s subjects at this worker\'s last scan (waiting, and delivered but not yet acked), by lane and tenant.' }).addCallback((r) => {
        const counts = new Map<string, number>();
        for (const q of queued()) {
          const key = `${q.lane} ${this.#tenants.of(q.tenant)}`;
          counts.set(key, (counts.get(key) ?? 0) + q.count);
        }
        for (const [key, n] of counts) r.observe(n, { lane: key.slice(0, key.indexOf(' ')), tenant: key.slice(key.indexOf(' ') + 1) });
      });
    }
    // Counters start at 0, so that /metrics lists them (and a rate() alert has a series) before the first event.
    for (const kind of ['task', 'ai']) this.#retries.add(0, { kind });
    for (const status of ['success', 'partialsuccess', 'failure']) this.#jobs.add(0, { outcome: 'ack', status });
    for (const outcome of ['nak', 'reject', 'abandon']) this.#jobs.add(0, { outcome });
    for (const [code, info] of Object.entries(ERROR_CODES)) if (info.fate === 'reject') this.#dlq.add(0, { code });
    this.#redeliveries.add(0);
    this.#duplicates.add(0);
    this.#leaseLost.add(0);
    this.#aiFallbacks.add(0);
    this.#aiRateLimited.add(0);
    for (const reason of ['full', 'failed']) this.#historyDropped.add(0, { reason });
    this.#meter.createObservableGauge(METRIC.paused, { description: '1 while the worker takes no new work because an operator paused the fleet or drains it, else 0.' }).addCallback((r) => r.observe(sources.paused?.() ?? 0));
    this.#meter.createObservableGauge(METRIC.concurrency, { description: 'Jobs the worker runs at once now (RUNNER_CONCURRENCY, or what altlas workers set gave it).' }).addCallback((r) => {
      const n = sources.concurrency?.();
      if (n !== undefined) r.observe(n);
    });
    this.#meter.createObservableGauge(METRIC.inFlight, { description: 'Jobs running in this process.' }).addCallback((r) => r.observe(sources.inFlight()));
    this.#meter.createObservableGauge(METRIC.waitingForAi, { description: 'Jobs waiting in this process for the AI side to answer again.' }).addCallback((r) => r.observe(sources.waiting?.() ?? 0));
    this.#meter.createObservableGauge(METRIC.breakerState, { description: 'AI circuit breaker: 0 closed, 1 half-open, 2 open, 3 isolated.' })
      .addCallback((r) => r.observe(BREAKER_VALUE[sources.breakerState()]));
    this.#meter.createObservableGauge(METRIC.consumerPending, { description: 'Messages of the ALT stream not yet delivered, summed over its consumers (RUNNER_DURABLE and, with RUNNER_LANES, every lane consumer; polled).' })
      .addCallback((r) => {
        const c = sources.consumer();
        if (c) r.observe(c.pending);
      });
    this.#meter.createObservableGauge(METRIC.consumerAckPending, { description: 'Messages delivered and not yet acknowledged, summed over the stream\'s consumers (polled).' })
      .addCallback((r) => {
        const c = sources.consumer();
        if (c) r.observe(c.ack_pending);
      });
    this.#meter.createObservableGauge(METRIC.backlogPending, { description: 'Messages of the ALT stream not yet delivered, by lane (none: RUNNER_DURABLE\'s), summed over the lane\'s consumers (polled): the whole fleet\'s backlog, the same on every worker.' })
      .addCallback((r) => {
        for (const l of sources.consumer()?.lanes ?? []) r.observe(l.pending, { lane: l.lane });
      });
    this.#meter.createObservableGauge(METRIC.eventLoopDelay, { unit: 's', description: 'p99 event-loop delay since the last collection.' }).addCallback((r) => {
      r.observe(this.#loop.percentile(99) / 1e9);
      this.#loop.reset();
    });
    this.#meter.createObservableGauge(METRIC.memory, { unit: 'By', description: 'Process memory by type (rss, heap_used, external).' }).addCallback((r) => {
      const m = process.memoryUsage();
      r.observe(m.rss, { type: 'rss' });
      r.observe(m.heapUsed, { type: 'heap_used' });
      r.observe(m.external, { type: 'external' });
    });
    this.#limits(sources.limits ?? (() => []));
  }

  /** Gauges and counters of the rate limits per provider, model and unit (tokens, requests); +Inf where no limit is known. */
  #limits(figures: () => readonly ModelFigures[]): void {
    const unitGauge = (name: string, description: string, value: (f: ModelFigures) => number) =>
      this.#meter.createObservableGauge(name, { description }).addCallback((r) => {
        for (const f of figures()) r.observe(value(f), { provider: f.provider, model: f.model, unit: f.unit });
      });
    unitGauge(METRIC.aiLimit, 'The fleet\'s limit per minute of a provider\'s model, in tokens or requests: the tighter of AI_LIMITS and the limit learned from the provider (+Inf: none known).', (f) => f.limit ?? Number.POSITIVE_INFINITY);
    unitGauge(METRIC.aiLimitSlice, 'This worker\'s slice of the limit per minute (+Inf: no limit known).', (f) => f.spendable);
    unitGauge(METRIC.aiLimitReserved, 'Held by this worker\'s calls in flight (reserved before they were sent).', (f) => f.reserved);
    unitGauge(METRIC.aiLimitUsed, 'Spent by this worker within the last minute (settled with the usage reported).', (f) => f.used);
    unitGauge(METRIC.aiLimitRemaining, 'What this worker may still reserve of its slice now (+Inf: no limit known).', (f) => f.remaining);
    const perModel = (f: readonly ModelFigures[]) => f.filter((x) => x.unit === 'tokens');
    this.#meter.createObservableGauge(METRIC.aiLimitWaiting, { description: 'AI calls of this worker waiting for room in the model\'s limits.' }).addCallback((r) => {
      for (const f of perModel(figures())) r.observe(f.waiting, { provider: f.provider, model: f.model });
    });
    this.#meter.createObservableCounter(METRIC.aiLimitWait, { unit: 's', description: 'Time AI calls of this worker waited for room in the model\'s limits.' }).addCallback((r) => {
      for (const f of perModel(figures())) r.observe(f.waitedMs / 1_000, { provider: f.provider, model: f.model });
    });
  }

  /** A job started here: its subject, and how long it waited in NATS (first deliveries only). */
  laneStart(subject: string, deliveries: number, waitMs: number): void {
    if (deliveries > 1) return;
    const attrs = { lane: laneOf(subject) ?? 'none', tenant: this.#tenants.of(tenantOf(subject) ?? NO_TENANT) };
    this.#laneStarted.add(1, attrs);
    this.#laneWait.record(Math.max(0, waitMs) / 1000, attrs);
  }

  /** A job history event was dropped. */
  historyDropped(reason: 'full' | 'failed'): void {
    this.#historyDropped.add(1, { reason });
  }

  /** One settled delivery. */
  duplicate(): void {
    this.#duplicates.add(1);
  }

  leaseLost(): void {
    this.#leaseLost.add(1);
  }

  outcome(o: { verb: 'ack' | 'nak' | 'reject' | 'abandon'; code?: string; status?: string; durationMs: number; deliveries: number }): void {
    const attrs = { outcome: o.verb, ...(o.status ? { status: o.status } : {}), ...(o.code ? { code: o.code } : {}) };
    this.#jobs.add(1, attrs);
    this.#jobDuration.record(o.durationMs / 1000, { outcome: o.verb });
    if (o.deliveries > 1) this.#redeliveries.add(1);
    if (o.verb === 'reject') this.#dlq.add(1, { code: o.code ?? 'unknown' });
    if (o.verb === 'abandon' || o.code === 'LEASE_LOST') this.#leaseLost.add(1);
  }

  task(e: TaskEvent): void {
    if (e.type === 'task_retrying') this.#retries.add(1, { kind: 'task' });
    else if (e.type === 'task_finished' && e.result.start_time) this.#taskDuration.record(e.result.duration_ms / 1000, { status: e.result.status });
  }

  ai(info: AttemptInfo): void {
    this.#aiDuration.record(info.durationMs / 1000, { 'gen_ai.provider.name': info.provider, 'gen_ai.request.model': info.model, outcome: info.outcome });
    if (info.attempt > 1) this.#retries.add(1, { kind: 'ai' });
    if (info.status === 429) this.#aiRateLimited.add(1, { 'gen_ai.provider.name': info.provider, 'gen_ai.request.model': info.model });
  }

  /** A call moved on from pair `from` to pair `to` of its fallback chain. */
  fallback(from: string, to: string): void {
    this.#aiFallbacks.add(1, { from, to });
  }

  /** One AI call's usage record. */
  usage(r: UsageRecord): void {
    const tenant = r.tenant ?? NO_TENANT;
    const t = r.tokens;
    if (t) {
      for (const kind of TOKEN_KINDS) {
        const n = t[kind];
        if (n !== null) this.#aiTokens.add(n, { model: r.model, kind, tenant });
      }
    }
    if (r.cost !== null && r.currency) this.#aiCost.add(r.cost, { model: r.model, tenant, currency: r.currency });
    const reported = t !== null && t.input !== null && t.output !== null;
    this.#aiCalls.add(1, { model: r.model, tenant, outcome: r.outcome, usage: reported ? 'reported' : 'unknown', cost: r.cost === null ? 'unknown' : 'known' });
  }

  close(): void {
    this.#loop.disable();
  }
}
