/**
 * What the worker records for each delivery: the job's status entry (pending → running →
 * completed / failed / retrying) and its task checkpoints; on a redelivery, the checkpoints of
 * the earlier deliveries are loaded so that only unfinished tasks run again.
 */
import type { KV } from '@nats-io/kv';
import type { Logger } from '../telemetry/logger.ts';
import type { DeliveryHooks, DeliveryInfo } from '../messaging/delivery.ts';
import type { Checkpoints } from './checkpoints.ts';
import { StatusTracker, type JobState } from './status.ts';

export interface RecorderOptions {
  status: KV;
  checkpoints: Checkpoints;
  workerId: string;
  /** Coalescing interval of status writes (RUNNER_STATUS_FLUSH_MS). */
  flushMs: number;
  logger: Logger;
}

export interface Settlement {
  verb: 'ack' | 'nak' | 'reject';
  /** The `.last` status, when one was stored. */
  status?: string;
  code?: string;
  message?: string;
  altId?: string | null;
  /** Remove every checkpoint of the message, not only those this delivery wrote. */
  clearAll?: boolean;
}

export class Recorder {
  readonly #o: RecorderOptions;

  constructor(options: RecorderOptions) {
    this.#o = options;
  }

  begin(d: DeliveryInfo): DeliveryRecord {
    return new DeliveryRecord(this.#o, d);
  }
}

export class DeliveryRecord {
  readonly #o: RecorderOptions;
  readonly #d: DeliveryInfo;
  #tracker: StatusTracker | null = null;
  /** Checkpoints written or loaded in this delivery: task id → output kept in the object store. */
  readonly #saved = new Map<string, boolean>();

  constructor(options: RecorderOptions, d: DeliveryInfo) {
    this.#o = options;
    this.#d = d;
  }

  /** The status tracker of this delivery, once the job id is known. */
  get tracker(): StatusTracker | null {
    return this.#tracker;
  }

  #track(altId: string): StatusTracker {
    this.#tracker ??= new StatusTracker(this.#o.status, {
      alt_id: altId, alt_stream: this.#d.stream, alt_stream_seq: this.#d.seq, deliveries: this.#d.deliveries, worker_id: this.#o.workerId,
    }, this.#o.flushMs, (e) => this.#o.logger.warn('could not write the job status', { error: e.message }));
    return this.#tracker;
  }

  /** Hooks for the delivery; on a redelivery they carry the tasks completed before. */
  async hooks(): Promise<DeliveryHooks> {
    const { stream, seq, deliveries } = this.#d;
    let completed = new Map<string, import('../engine/types.ts').TaskResult>();
    if (deliveries > 1) {
      completed = await this.#o.checkpoints.load(stream, seq).catch((e: Error) => {
        this.#o.logger.warn('could not load checkpoints; every task runs again', { error: e.message, alt_stream_seq: seq });
        return new Map();
      });
      if (completed.size) this.#o.logger.info('resuming from checkpoints', { alt_stream_seq: seq, completed_tasks: completed.size });
    }
    return {
      completed,
      onDecoded: async (job) => {
        const t = this.#track(job.id);
        await t.state('pending');
        await t.running(job, completed);
      },
      onEvent: (e) => this.#tracker?.onEvent(e),
      onTaskCompleted: async (result) => {
        try {
          this.#saved.set(result.task_id, await this.#o.checkpoints.save(stream, seq, result));
        } catch (e) {
          this.#o.logger.warn('could not store a checkpoint; the task would run again after a crash', { task_id: result.task_id, error: (e as Error).message });
        }
      },
    };
  }

  /** Records how the delivery ended; removes the checkpoints once the job is settled for good. */
  async settled(s: Settlement): Promise<void> {
    const altId = this.#tracker?.entry.alt_id ?? s.altId ?? null;
    if (altId) {
      const state: JobState = s.verb === 'nak' ? 'retrying' : s.verb === 'reject' || s.status === 'failure' ? 'failed' : 'completed';
      await this.#track(altId).state(state, {
        last_status: s.verb === 'ack' ? s.status ?? null : s.verb === 'reject' ? 'failure' : null,
        error: s.code ? { code: s.code, message: s.message ?? '' } : null,
      });
    }
    if (s.verb !== 'nak') {
      // A first delivery knows every checkpoint it wrote; a redelivery also clears those of earlier ones.
      const removal = this.#d.deliveries > 1 || s.clearAll
        ? this.#o.checkpoints.clear(this.#d.stream, this.#d.seq)
        : this.#o.checkpoints.remove(this.#d.stream, this.#d.seq, this.#saved);
      await removal.catch((e: Error) => this.#o.logger.warn('could not remove checkpoints; they expire', { error: e.message }));
    }
  }

  async close(): Promise<void> {
    await this.#tracker?.close();
  }
}
