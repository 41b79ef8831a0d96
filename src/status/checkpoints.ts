/**
 * Checkpoints and claims of one ALT message, in the KV bucket RUNNER_CHECKPOINT_BUCKET:
 *
 *   <stream>.<seq>.c.<delivery>-<n>   a batch of completed task results (resume after a crash)
 *   <stream>.<seq>.claim              the newest delivery that claimed the message (fencing)
 *
 * A batch is written only when the AI work completed since the last one would exceed
 * RUNNER_CHECKPOINT_BUDGET_MS, or its cost RUNNER_CHECKPOINT_BUDGET_COST, so a short, cheap job
 * writes none and a crash re-pays at most that much AI time and money per job (plus the calls in
 * flight). An output too large for one value goes to the
 * object store. Everything of a message is removed once its result is acknowledged: its keys by
 * delete markers, its objects message by message (the runner's user may purge neither). Keys are
 * listed and objects read without a consumer (see store-access.ts): a listing per job would
 * otherwise leave a consumer on the server for its five-minute inactivity threshold.
 */
import type { KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { TaskResult } from '../engine/types.ts';
import { subjectToken } from '../contract/subjects.ts';
import { IDENTITY_CODEC, type Codec } from '../security/codec.ts';
import { toNanos } from '../usage/prices.ts';
import { bucketEntries, readObject, removeObject } from './store-access.ts';

interface Batch {
  results: TaskResult[];
  /** Instance key → object name of an output kept in the object store. */
  refs?: Record<string, string>;
}

export interface Claim {
  deliveries: number;
  worker: string;
  at: string;
}

export interface CheckpointStoreOptions {
  kv: KV;
  bucket: string;
  obj: ObjectStore;
  /** The object store's bucket (RUNNER_OBJECT_BUCKET). */
  objBucket: string;
  jsm: JetStreamManager;
  /** Bytes: an output text above a quarter of this goes to the object store (the bucket's max value size). */
  maxValue: number;
  codec?: Codec;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class CheckpointStore {
  readonly #o: CheckpointStoreOptions;
  readonly #codec: Codec;

  constructor(options: CheckpointStoreOptions) {
    this.#o = options;
    this.#codec = options.codec ?? IDENTITY_CODEC;
  }

  #prefix(stream: string, seq: number): string {
    return `${subjectToken(stream)}.${seq}`;
  }

  /** Writes one batch; `n` numbers the batches of one delivery. Returns the object names it stored outputs under. */
  async saveBatch(stream: string, seq: number, deliveries: number, n: number, results: readonly TaskResult[]): Promise<string[]> {
    const prefix = this.#prefix(stream, seq);
    const refs: Record<string, string> = {};
    const stored = await Promise.all(results.map(async (r) => {
      // Stryker disable next-line StringLiteral: without an output the result is kept as it is before the text is looked at.
      const text = r.output?.text ?? '';
      if (!r.output || Buffer.byteLength(text) <= this.#o.maxValue / 4) return r;
      const name = `cp/${prefix}/${subjectToken(r.task_id)}`;
      await this.#o.obj.putBlob({ name }, this.#codec.seal(enc.encode(text), `obj:${name}`));
      refs[r.task_id] = name;
      return { ...r, output: { ...r.output, text: '' } };
    }));
    const value = Buffer.from(JSON.stringify({ results: stored, ...(Object.keys(refs).length ? { refs } : {}) } satisfies Batch));
    const key = `${prefix}.c.${deliveries}-${n}`;
    await this.#o.kv.put(key, this.#codec.seal(value, `kv:${key}`));
    return Object.values(refs);
  }

  /** The completed results stored for message `seq`, by instance key, and the object names they reference. */
  async load(stream: string, seq: number): Promise<{ results: Map<string, TaskResult>; objects: string[] }> {
    const out = new Map<string, TaskResult>();
    const objects: string[] = [];
    const prefix = this.#prefix(stream, seq);
    // Stryker disable next-line ConditionalExpression: a delete marker has no value, so either check alone drops it.
    const entries = (await bucketEntries(this.#o.jsm, this.#o.bucket, `${prefix}.c.*`)).filter((e) => e.operation === 'PUT' && e.value.length > 0);
    // Keys are unique (one entry per subject): no two compare equal.
    // Stryker disable next-line EqualityOperator: with unique keys, < and <= order alike.
    entries.sort((a, b) => (a.key < b.key ? -1 : 1));
    for (const { key, value } of entries) {
      const batch = JSON.parse(dec.decode(this.#codec.open(value, `kv:${key}`))) as Batch;
      for (const r of batch.results) {
        const name = batch.refs?.[r.task_id];
        if (name && r.output) {
          objects.push(name);
          const blob = await readObject(this.#o.jsm, this.#o.objBucket, name);
          if (!blob) continue; // the output is gone: the task runs again
          r.output = { ...r.output, text: dec.decode(this.#codec.open(blob, `obj:${name}`)) };
        }
        if (r.status === 'completed') out.set(r.task_id, r);
      }
    }
    return { results: out, objects };
  }

  /**
   * Claims the message for delivery `deliveries` (compare-and-set on the entry's revision).
   * Returns false when a newer (or the same) delivery holds the claim already.
   */
  async claim(stream: string, seq: number, deliveries: number, worker: string): Promise<boolean> {
    const key = `${this.#prefix(stream, seq)}.claim`;
    const value = enc.encode(JSON.stringify({ deliveries, worker, at: new Date().toISOString() } satisfies Claim));
    for (let attempt = 0; attempt < 3; attempt++) {
      const e = await this.#o.kv.get(key);
      try {
        // Stryker disable next-line ConditionalExpression: a delete marker has no value, so either check alone sees it (and an empty PUT fails the create and the read alike).
        if (!e || e.operation !== 'PUT' || e.value.length === 0) {
          await this.#o.kv.create(key, value);
          return true;
        }
        if (e.json<Claim>().deliveries >= deliveries) return false;
        await this.#o.kv.update(key, value, e.revision);
        return true;
      } catch {
        // Someone wrote between our read and our write: read again.
      }
    }
    return false;
  }

  /** The delivery that holds the claim, or 0 when none does. */
  async claimedBy(stream: string, seq: number): Promise<number> {
    const e = await this.#o.kv.get(`${this.#prefix(stream, seq)}.claim`);
    // Stryker disable next-line ConditionalExpression: a delete marker has no value, so the length check alone sees it.
    return e && e.operation === 'PUT' && e.value.length ? e.json<Claim>().deliveries : 0;
  }

  /** Removes every checkpoint and the claim of message `seq` (delete markers), and the outputs named. */
  async clear(stream: string, seq: number, objects: Iterable<string> = []): Promise<void> {
    const entries = await bucketEntries(this.#o.jsm, this.#o.bucket, `${this.#prefix(stream, seq)}.>`);
    await Promise.all(entries.filter((e) => e.operation === 'PUT').map((e) => this.#o.kv.delete(e.key)));
    for (const name of objects) await removeObject(this.#o.jsm, this.#o.objBucket, name).catch(() => {});
  }
}

/**
 * The checkpoint policy of one delivery: completed AI results wait in memory; when their AI time
 * (sum of durations) would exceed `budgetMs`, or their cost (`output.cost`, where known) would
 * exceed `budgetCostNanos`, they are written as one batch; so a call that cost more than the
 * money budget is written at once. A budget of 0 writes every result at once (for money: every
 * result with a cost).
 */
export class CheckpointBudget {
  readonly #budgetMs: number;
  readonly #budgetNanos: number;
  readonly #write: (batch: TaskResult[]) => Promise<void>;
  #pending: TaskResult[] = [];
  #unsavedMs = 0;
  #unsavedNanos = 0;
  #writes: Promise<void> = Promise.resolve();
  /** Batches written (for tests and benchmarks). */
  batches = 0;

  constructor(budgetMs: number, write: (batch: TaskResult[]) => Promise<void>, budgetCostNanos = Number.POSITIVE_INFINITY) {
    this.#budgetMs = budgetMs;
    this.#budgetNanos = budgetCostNanos;
    this.#write = write;
  }

  /** AI time completed and not yet written. */
  get unsavedMs(): number {
    return this.#unsavedMs;
  }

  /** Cost (nano-units) of the results completed and not yet written, where known. */
  get unsavedNanos(): number {
    return this.#unsavedNanos;
  }

  add(result: TaskResult): void {
    this.#pending.push(result);
    this.#unsavedMs += result.duration_ms;
    const cost = result.output?.cost;
    if (typeof cost === 'number') this.#unsavedNanos += toNanos(cost);
    if (this.#unsavedMs > this.#budgetMs || this.#unsavedNanos > this.#budgetNanos) this.flush();
  }

  /** Writes what is pending now (serialised after earlier writes). */
  flush(): Promise<void> {
    if (this.#pending.length === 0) return this.#writes;
    const batch = this.#pending;
    this.#pending = [];
    this.#unsavedMs = 0;
    this.#unsavedNanos = 0;
    this.batches++;
    this.#writes = this.#writes.then(() => this.#write(batch));
    return this.#writes;
  }

  /** Waits for the writes in flight. */
  settled(): Promise<void> {
    return this.#writes;
  }
}
