/**
 * What the dashboard knows, kept live by one set of watches per dashboard process (never one per
 * browser): every job's status entry (a watch of the status bucket), the workers' heartbeats (a
 * watch of the workers bucket; both without a consumer, see status/store-access.ts), the
 * consumer's counts (polled every two seconds), the DLQ's size, and jobs and failures finished
 * per 10 s over the last 15 minutes. A job that finished within RUNNER_STATUS_FLUSH_MS wrote no
 * status entry: its completion is learnt from its `.last` as the LAST stream stores it (a core
 * subscription to the results' subjects, no consumer), and at start from the `.last`s stored in
 * the last 15 minutes (at most {@link BACKFILL_MAX}).
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { watchBucket, type BucketEntry } from '../status/store-access.ts';
import type { Config } from '../config/schema.ts';
import { lanePrefixOf, laneTotals, type LaneTotals } from '../flow/lanes.ts';
import type { Codec } from '../security/codec.ts';
import { isHeartbeat, type WorkerBeat } from '../status/fleet.ts';
import { decodeEntry, entryFromLast, FINAL_STATES, JOB_STATES, statusKey, UnreadableEntry, type FinishedLast, type StatusEntry } from '../status/status.ts';
import { readLast } from '../last/read.ts';
import { firstSeqSince, storedMessages } from '../status/store-access.ts';
import { readBacklog } from '../ops/backlog.ts';

export type LiveEvent =
  | { type: 'job'; job: StatusEntry }
  | { type: 'job-removed'; alt_id: string }
  | { type: 'workers'; workers: WorkerBeat[] }
  | { type: 'stats'; stats: Stats };

export interface Stats {
  counts: Record<string, number>;
  consumer: { pending: number; ack_pending: number; redelivered: number; waiting: number } | null;
  dlq: number;
  /** Messages stored per priority lane (waiting, or running and not yet acked), with the tenants that have the most. */
  lanes: LaneTotals[];
  /** Values of the status bucket that are not status entries (not JSON, or not of its shape): skipped. */
  unreadable: number;
  /** Jobs and failures finished per bucket of BUCKET_MS, oldest first, ending now. */
  rates: { bucket_ms: number; done: number[]; failed: number[] };
}

const BUCKET_MS = 10_000;
const BUCKETS = 90;
/** The most `.last`s read at start (the newest of the last BUCKETS × BUCKET_MS). */
export const BACKFILL_MAX = 1_000;

export interface LiveOptions {
  config: Pick<Config, 'ALT_STREAM' | 'ALT_SUBJECTS' | 'RUNNER_DURABLE' | 'DLQ_STREAM' | 'RUNNER_HEARTBEAT_MS' | 'RUNNER_STATUS_BUCKET' | 'RUNNER_WORKERS_BUCKET' | 'LAST_SUBJECT_PREFIX' | 'LAST_STREAM'>;
  nc: NatsConnection;
  jsm: JetStreamManager;
  codec: Codec;
}

export class Live {
  readonly jobs = new Map<string, StatusEntry>();
  /** Keys of the status bucket whose value is not a status entry, with the reason (shown, not listed as jobs). */
  readonly unreadable = new Map<string, string>();
  readonly #workers = new Map<string, WorkerBeat>();
  readonly #listeners = new Set<(e: LiveEvent) => void>();
  readonly #o: LiveOptions;
  readonly #stops: (() => void)[] = [];
  #consumer: Stats['consumer'] = null;
  #dlq = 0;
  #lanes: LaneTotals[] = [];

  constructor(options: LiveOptions) {
    this.#o = options;
  }

  /** Starts the watches; resolves once the initial values are in. */
  async start(): Promise<void> {
    await Promise.all([
      this.#watch(this.#o.config.RUNNER_STATUS_BUCKET, (e) => this.#onJob(e)),
      this.#watch(this.#o.config.RUNNER_WORKERS_BUCKET, (e) => this.#onWorker(e)),
    ]);
    const results = this.#o.nc.subscribe(`${this.#o.config.LAST_SUBJECT_PREFIX}.>`, { callback: (_e, m) => this.#onLast(m.data, new Date().toISOString(), true) });
    this.#stops.push(() => results.unsubscribe());
    await this.#backfill();
    await this.#poll();
    const timer = setInterval(() => void this.#poll().then(() => this.#emit({ type: 'stats', stats: this.stats() })), 2_000);
    timer.unref();
    this.#stops.push(() => clearInterval(timer));
  }

  stop(): void {
    for (const s of this.#stops.splice(0)) s();
    this.#listeners.clear();
  }

  subscribe(fn: (e: LiveEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Workers whose heartbeat is younger than three beats. */
  workers(): WorkerBeat[] {
    const cutoff = Date.now() - this.#o.config.RUNNER_HEARTBEAT_MS * 3;
    return [...this.#workers.values()].filter((w) => Date.parse(w.seen_at) >= cutoff).sort((a, b) => a.worker_id.localeCompare(b.worker_id));
  }

  stats(): Stats {
    const counts: Record<string, number> = Object.fromEntries(JOB_STATES.map((s) => [s, 0]));
    const done = new Array<number>(BUCKETS).fill(0);
    const failed = new Array<number>(BUCKETS).fill(0);
    const end = Math.floor(Date.now() / BUCKET_MS) * BUCKET_MS + BUCKET_MS;
    for (const j of this.jobs.values()) {
      counts[j.state] = (counts[j.state] ?? 0) + 1;
      if (!j.finished_at || !FINAL_STATES.includes(j.state)) continue;
      const i = BUCKETS - 1 - Math.floor((end - 1 - Date.parse(j.finished_at)) / BUCKET_MS);
      if (i < 0 || i >= BUCKETS) continue;
      done[i]++;
      if (j.state === 'failed') failed[i]++;
    }
    return { counts, consumer: this.#consumer, dlq: this.#dlq, lanes: this.#lanes, unreadable: this.unreadable.size, rates: { bucket_ms: BUCKET_MS, done, failed } };
  }

  /** The newest jobs first, filtered by state and by text in the id, title or worker. */
  list(filter: { state?: string; q?: string; limit: number }): { total: number; jobs: StatusEntry[] } {
    const q = filter.q?.toLowerCase();
    const matching = [...this.jobs.values()].filter((j) => (!filter.state || j.state === filter.state)
      && (!q || j.alt_id.toLowerCase().includes(q) || j.title.toLowerCase().includes(q) || j.worker_id.toLowerCase().includes(q)));
    matching.sort((a, b) => (b.started_at ?? b.received_at).localeCompare(a.started_at ?? a.received_at));
    return { total: matching.length, jobs: matching.slice(0, filter.limit) };
  }

  #emit(e: LiveEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        // a listener that fails (a closed response) is removed by its owner
      }
    }
  }

  async #watch(bucket: string, on: (e: BucketEntry) => void): Promise<void> {
    const w = await watchBucket(this.#o.nc, this.#o.jsm, bucket, '>', on);
    this.#stops.push(() => w.stop());
  }

  #onJob(e: BucketEntry): void {
    if (e.key.startsWith('cancel.') || e.key.startsWith('_probe.') || e.key.startsWith('park.') || e.key.startsWith('decision.') || e.key.startsWith('replay.')) return;
    if (e.operation !== 'PUT' || e.value.length === 0) {
      this.unreadable.delete(e.key);
      const entry = this.jobs.get(e.key);
      if (entry) {
        this.jobs.delete(e.key);
        this.#emit({ type: 'job-removed', alt_id: entry.alt_id });
      }
      return;
    }
    try {
      const job = decodeEntry(e.value, this.#o.codec, e.key);
      this.unreadable.delete(e.key);
      this.jobs.set(e.key, job);
      if (e.isUpdate) this.#emit({ type: 'job', job });
    } catch (err) {
      // Not a status entry: counted as unreadable, and a job it replaced leaves the list.
      this.unreadable.set(e.key, err instanceof UnreadableEntry ? err.reason : 'unreadable');
      const entry = this.jobs.get(e.key);
      if (entry) {
        this.jobs.delete(e.key);
        this.#emit({ type: 'job-removed', alt_id: entry.alt_id });
      }
    }
  }

  /** The `.last`s stored in the last BUCKETS × BUCKET_MS (the newest BACKFILL_MAX): jobs finished before this dashboard started. */
  async #backfill(): Promise<void> {
    const { jsm, config } = this.#o;
    const info = await jsm.streams.info(config.LAST_STREAM).catch(() => null);
    if (!info || info.state.messages === 0) return;
    const { first_seq: first, last_seq: last } = info.state;
    const since = await firstSeqSince(jsm, config.LAST_STREAM, first, last, new Date(Date.now() - BUCKETS * BUCKET_MS));
    for await (const m of storedMessages(jsm, config.LAST_STREAM, '>', Math.max(since, last - BACKFILL_MAX + 1), last, true)) this.#onLast(m.data, m.time.toISOString(), false);
  }

  /** A `.last` stored: the job is finished (a job that wrote no entry appears here first). */
  #onLast(data: Uint8Array, storedAt: string, live: boolean): void {
    let job: StatusEntry;
    try {
      job = entryFromLast(readLast(data, this.#o.codec) as unknown as FinishedLast, storedAt);
    } catch {
      return; // not a .last this dashboard can read
    }
    if (!job.alt_id) return;
    const key = statusKey(job.alt_id);
    const known = this.jobs.get(key);
    // The entry of that message already final says more (its worker): it stays; so does a newer run's.
    if (known && known.alt_stream_seq === job.alt_stream_seq && FINAL_STATES.includes(known.state)) return;
    if (known && known.alt_stream_seq !== job.alt_stream_seq && known.updated_at > job.updated_at) return;
    this.jobs.set(key, job);
    if (live) this.#emit({ type: 'job', job });
  }

  #onWorker(e: BucketEntry): void {
    if (e.key.startsWith('_probe.')) return;
    if (e.operation !== 'PUT' || e.value.length === 0) this.#workers.delete(e.key);
    else {
      try {
        const beat = e.json<WorkerBeat>();
        if (!isHeartbeat(beat)) return;
        this.#workers.set(e.key, beat);
      } catch {
        return;
      }
    }
    if (e.isUpdate) this.#emit({ type: 'workers', workers: this.workers() });
  }

  async #poll(): Promise<void> {
    const { jsm, config } = this.#o;
    // Every consumer of the stream: with RUNNER_LANES the backlog is on the lane consumers.
    const c = await readBacklog(jsm, config.ALT_STREAM, config.RUNNER_DURABLE);
    this.#consumer = c ? { pending: c.pending, ack_pending: c.ack_pending, redelivered: c.redelivered, waiting: c.waiting } : null;
    this.#dlq = (await jsm.streams.info(config.DLQ_STREAM).catch(() => null))?.state.messages ?? 0;
    const alt = await jsm.streams.info(config.ALT_STREAM, { subjects_filter: `${lanePrefixOf(config.ALT_SUBJECTS)}.*.*` }).catch(() => null);
    this.#lanes = laneTotals(alt?.state.subjects ?? {});
  }
}
