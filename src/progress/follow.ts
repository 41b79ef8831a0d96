/**
 * Follows one job's progress on the progress stream without a consumer (the reader role creates
 * none): the stored messages by plain message gets (`next_by_subj` over the job's subjects, from
 * a sequence), and the new ones as the stream republishes them to the live prefix, each with its
 * stream sequence and the sequence of the message before it on the same subject. Every stored
 * message of the job is given once, each subject's in stream order:
 *
 * - live messages that arrive while stored ones are read are held and given after them;
 * - a live message whose predecessor on its subject was not given (lost on the way) is held, and
 *   the stream is read again from that subject's last given message;
 * - after a reconnect the stream is read again from the last sequence given (resume);
 * - {@link ProgressFollower.catchUp} reads what is stored up to now (before a watcher exits);
 * - a read that fails on the way (no answer in time, a reconnect in progress) is made again.
 */
import type { JetStreamManager, MsgRequest } from '@nats-io/jetstream';
import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Codec } from '../security/codec.ts';
import { decodeProgress, jobProgressFilter, type ProgressMessage } from './message.ts';
import { onReconnect, untilAnswered } from './reconnect.ts';

export interface FollowOptions {
  nc: NatsConnection;
  jsm: Pick<JetStreamManager, 'streams'>;
  /** PROGRESS_STREAM, PROGRESS_SUBJECT_PREFIX, PROGRESS_LIVE_PREFIX. */
  stream: string;
  prefix: string;
  livePrefix: string;
  jobId: string;
  codec: Codec;
  /** Each stored message of the job, once, with its stream sequence. */
  onMessage(m: ProgressMessage, seq: number): void;
  /** A message that could not be read: an error (ALT_DECRYPT), or null for a body that is not progress. */
  onUnreadable?(seq: number, error: Error | null): void;
}

/** Counts of what the follower did (tests, benchmarks). */
export interface FollowCounts {
  given: number;
  live: number;
  stored: number;
  rescans: number;
}

const num = (h: MsgHdrs | undefined, name: string) => Number(h?.get(name) ?? NaN);

export class ProgressFollower {
  readonly #o: FollowOptions;
  readonly #filter: string;
  /** Sequences given (a job's messages: hundreds, a few thousand at most). */
  readonly #given = new Set<number>();
  /** The last sequence given per subject. */
  readonly #lastBySubject = new Map<string, number>();
  /** Live messages held while the stream is read. */
  #held: Msg[] | null = [];
  #sub: Subscription | null = null;
  #unwatch: (() => void) | null = null;
  #next = 1;
  #reading: Promise<void> = Promise.resolve();
  #stopped = false;
  readonly counts: FollowCounts = { given: 0, live: 0, stored: 0, rescans: 0 };

  constructor(options: FollowOptions) {
    this.#o = options;
    this.#filter = jobProgressFilter(options.prefix, options.jobId);
  }

  /** Subscribes, reads what is stored, then gives the live messages; resumes after each reconnect. */
  async start(): Promise<void> {
    const { nc } = this.#o;
    this.#sub = nc.subscribe(jobProgressFilter(this.#o.livePrefix, this.#o.jobId), { callback: (err, m) => {
      if (!err) this.#live(m);
    } });
    // The subscription is in place before the stream is read: nothing falls between the two.
    await nc.flush();
    await this.#read(1);
    this.#unwatch = onReconnect(nc, () => void this.#read(this.#next).catch(() => {}));
  }

  /** Reads and gives what is stored now and was not given yet. */
  catchUp(): Promise<void> {
    return this.#read(this.#next);
  }

  stop(): void {
    this.#stopped = true;
    this.#unwatch?.();
    this.#sub?.unsubscribe();
    this.#sub = null;
  }

  /** Reads the stream from `from` to its end, one read at a time, holding live messages meanwhile. */
  #read(from: number): Promise<void> {
    const run = this.#reading.then(async () => {
      if (this.#stopped) return;
      this.#held ??= [];
      this.counts.rescans++;
      try {
        for (let seq = from; !this.#stopped;) {
          // The message get API takes next_by_subj (nats-server 2.9 and later); nats.js types only the direct get's.
          const query = { next_by_subj: this.#filter, seq } as unknown as MsgRequest;
          const m = await untilAnswered(() => this.#o.jsm.streams.getMessage(this.#o.stream, query), () => this.#stopped);
          if (!m) break;
          this.counts.stored++;
          this.#give(m.seq, m.subject, m.data);
          seq = m.seq + 1;
        }
      } finally {
        const held = this.#held ?? [];
        this.#held = null;
        for (const m of held) this.#live(m);
      }
    });
    // A failed read (a disconnect) is read again after the reconnect; the chain goes on.
    this.#reading = run.catch(() => {});
    return run;
  }

  #live(m: Msg): void {
    if (this.#stopped) return;
    if (this.#held) {
      this.#held.push(m);
      return;
    }
    const seq = num(m.headers, 'Nats-Sequence');
    const subject = m.headers?.get('Nats-Subject') ?? '';
    if (!Number.isInteger(seq) || this.#given.has(seq)) return;
    const before = num(m.headers, 'Nats-Last-Sequence');
    const last = this.#lastBySubject.get(subject) ?? 0;
    if (Number.isInteger(before) && before > last) {
      // Its predecessor on the subject never came: read again from the last one that did.
      this.#held = [m];
      void this.#read(last + 1).catch(() => {});
      return;
    }
    this.counts.live++;
    this.#give(seq, subject, m.data);
  }

  #give(seq: number, subject: string, data: Uint8Array): void {
    if (this.#given.has(seq)) return;
    this.#given.add(seq);
    if (seq >= this.#next) this.#next = seq + 1;
    if (seq > (this.#lastBySubject.get(subject) ?? 0)) this.#lastBySubject.set(subject, seq);
    let m: ProgressMessage | null;
    try {
      m = decodeProgress(data, this.#o.codec);
    } catch (e) {
      this.#o.onUnreadable?.(seq, e as Error);
      return;
    }
    if (!m || m.job !== this.#o.jobId) {
      if (!m) this.#o.onUnreadable?.(seq, null);
      return;
    }
    this.counts.given++;
    this.#o.onMessage(m, seq);
  }
}
