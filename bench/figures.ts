/**
 * The one line of JSON that bench:worker and bench:peer end with, so that a script can read their
 * figures: every figure the benchmark names, `null` when its part did not run (BENCH_ONLY), ratios
 * rounded to three places, and the machine's load average of the last minute beside them.
 */
import { loadavg } from 'node:os';

export type Figures = Record<string, number | null>;

/** A rate or a CPU figure of one contestant (a phase of bench:worker, a worker of bench:peer). */
export interface Measured {
  jobsPerS: number;
  /** CPU µs per job of the worker process. */
  cpuUsPerJob?: number;
  /** CPU µs per job of its server (nats-server, or Redis for BullMQ). */
  serverUsPerJob?: number;
}

const round = (v: number, places: number) => {
  const f = 10 ** places;
  return Math.round(v * f) / f;
};

/** a ÷ b, or null when either is missing or not a finite positive number. */
export function over(a: number | undefined | null, b: number | undefined | null): number | null {
  if (a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return null;
  return round(a / b, 3);
}

const value = (v: number | undefined | null, places = 0) => (v == null || !Number.isFinite(v) ? null : round(v, places));

/** bench:worker's figures from its phases (by name) and its memory and start-up part. */
export function workerFigures(
  phases: Record<string, Measured | undefined>,
  memory: { backlogPeak?: number; inFlightRss?: number; startMs?: number } | null,
): Figures {
  const rate = (name: string) => phases[name]?.jobsPerS;
  const mb = (bytes: number | undefined) => (bytes === undefined ? null : value(bytes / 1024 / 1024, 1));
  return {
    worker_over_floor: over(rate('worker'), rate('floor')),
    default_over_worker: over(rate('default'), rate('worker')),
    telemetry100_over_default: over(rate('telemetry-100'), rate('default')),
    telemetry10_over_default: over(rate('telemetry-10'), rate('default')),
    drain_peak_rss_mb: mb(memory?.backlogPeak),
    inflight_rss_mb: mb(memory?.inFlightRss),
    start_to_first_last_ms: value(memory?.startMs),
    // (worker + nats-server) CPU µs per job of the default configuration ÷ that of the protocol floor.
    cpu_default_over_floor: over(cpuWithServer(phases.default), cpuWithServer(phases.floor)),
    // The job history's cost: the default configuration ÷ the same without history.
    history_on_over_off: over(rate('default'), rate('no-history')),
    load1: value(loadavg()[0], 2),
  };
}

/** The worker's and its server's CPU µs per job together, when both were measured. */
export function cpuWithServer(m: Measured | undefined): number | undefined {
  return m?.cpuUsPerJob === undefined || m.serverUsPerJob === undefined ? undefined : m.cpuUsPerJob + m.serverUsPerJob;
}

/** bench:peer's figures from its three contestants (undefined when not run). */
export function peerFigures(altlas: Measured | undefined, bullmq: Measured | undefined, floor: Measured | undefined): Figures {
  return {
    altlas_over_bullmq: over(altlas?.jobsPerS, bullmq?.jobsPerS),
    cpu_altlas_over_bullmq: over(altlas?.cpuUsPerJob, bullmq?.cpuUsPerJob),
    // (worker + nats-server) CPU per job ÷ (worker + Redis).
    cpu_with_server_altlas_over_bullmq: over(cpuWithServer(altlas), cpuWithServer(bullmq)),
    altlas_over_floor: over(altlas?.jobsPerS, floor?.jobsPerS),
    altlas_jobs_per_s: value(altlas?.jobsPerS),
    bullmq_jobs_per_s: value(bullmq?.jobsPerS),
    floor_jobs_per_s: value(floor?.jobsPerS),
    load1: value(loadavg()[0], 2),
  };
}

/** The last line a benchmark prints: its figures as one line of JSON. */
export function jsonLine(figures: Figures): string {
  return JSON.stringify(figures);
}
