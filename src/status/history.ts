/**
 * Each job's history: every event of it (delivered to a worker, started, a task's failed attempts
 * and its outcome, lease lost, handed back, claimed, checkpointed, parked, resumed, its `.last`
 * stored, dead-lettered, and what operators did to it, with who did it) as one message on the
 * history stream (HISTORY_STREAM), subject `<HISTORY_SUBJECT_PREFIX>.<job token>`.
 *
 * The worker never waits for an event: {@link HistoryWriter} buffers it and goes on, and sends
 * the events of one job within HISTORY_FLUSH_MS as one message ({@link HistoryMessage}: what a
 * delivery's events share written once), the messages of the jobs that ended within a few
 * milliseconds together with one PubAck for them all; what it holds (buffered or not yet
 * confirmed) is bounded (HISTORY_BUFFER), and an event past that bound, or one the stream did not
 * confirm, is dropped and counted. Readers get a job's events by message gets on its subject (no
 * consumer).
 */
import { isPassingNatsError } from '../nats-errors.ts';
import { subjectToken } from '../contract/subjects.ts';
import { IDENTITY_CODEC, type Codec } from '../security/codec.ts';
import { redactText } from '../security/redact.ts';

/** What a drain whose worker's heartbeat ended before it drained means (altlas drain --wait, WORKER_GONE, and the fleet's history). */
export const GONE = 'ended its heartbeat before it drained (killed, or stopped and not answering): the jobs it held are redelivered and its drain request is removed; if it only stopped, it may still drain when it resumes (when it read the request before)';

/** The kinds of events, in the words `altlas history` prints. */
export const HISTORY_EVENTS = [
  'delivered', 'started', 'claimed', 'resumed', 'attempt_failed', 'task_finished', 'checkpointed', 'lease_lost', 'handed_back',
  'parked', 'last_stored', 'done_before', 'dead_lettered', 'cancel_requested', 'approved', 'rejected', 'replayed', 'dlq_replayed',
  'paused', 'unpaused', 'drain_requested', 'drained', 'drain_gone', 'concurrency_set',
] as const;
export type HistoryEventType = typeof HISTORY_EVENTS[number];

export interface HistoryEvent {
  type: HistoryEventType;
  /** RFC 3339, when it happened. */
  at: string;
  alt_id: string;
  /** The worker it happened on (worker events). */
  worker_id?: string;
  /** Who did it (operators' actions): the NATS user, or the dashboard's token name. */
  by?: string;
  alt_stream_seq?: number;
  deliveries?: number;
  task_id?: string;
  attempt?: number;
  /** A task's or the `.last`'s status. */
  status?: string;
  code?: string;
  /** An error text (the logs policy). */
  error?: string;
  /** Anything else the event says (tasks checkpointed, the replay's new job id, the tasks a redelivery took from checkpoints, ...). */
  detail?: Record<string, string | number | boolean | null | string[]>;
}

export interface HistoryWriterOptions {
  /** Publishes one message to the stream and resolves with its PubAck (rejects when refused or lost). */
  publish: (subject: string, data: Uint8Array) => Promise<unknown>;
  /**
   * Publishes one message without asking for a PubAck (throws when it cannot be sent). Given, the
   * messages of a group go this way but its last, which `publish` sends: its PubAck confirms them
   * all (see {@link HistoryWriter}). Absent, every message is sent by `publish`.
   */
  post?: (subject: string, data: Uint8Array) => void;
  prefix: string;
  /** Events held (buffered, or sent and not yet confirmed) at most (HISTORY_BUFFER). */
  maxPending: number;
  /** Milliseconds events wait to be sent with the others of their job (HISTORY_FLUSH_MS). Default 1,000. */
  flushMs?: number;
  /** Milliseconds the messages ready to go wait to be sent together, as one group with one PubAck. Default {@link GROUP_MS}. */
  groupMs?: number;
  codec?: Codec;
  /** An event was dropped (the buffer was full, or the stream did not store it). */
  onDrop?: (reason: 'full' | 'failed') => void;
  /** Milliseconds before a group the stream did not confirm (a passing failure) is sent again, doubled each time. Default {@link RETRY_MS}. */
  retryMs?: number;
  /** False while the connection is lost: a group's next try then waits for {@link HistoryWriter.resendWaiting} (the connection back) and is not counted. */
  connected?: () => boolean;
}

export const historySubject = (prefix: string, altId: string) => `${prefix}.${subjectToken(altId)}`;

/** The fleet's own history (pause, resume, drains, concurrency changes): two tokens, so no job's subject is it. */
export const fleetHistorySubject = (prefix: string) => `${prefix}._fleet.control`;
/** The id fleet events carry. */
export const FLEET = '_fleet';

/** Events of one job sent in one message at most (a larger batch is ready at once). */
const MAX_BATCH = 256;

/**
 * Milliseconds the messages ready to go (the jobs that left the worker) wait to be sent together:
 * one PubAck per group instead of one per job, at most 200 a second. A group goes with the job
 * that ends this long after its first (in that turn's socket write), or by a timer twice this long
 * after its first when no job ends meanwhile.
 */
export const GROUP_MS = 5;

/**
 * Events after which this worker writes nothing more of the job for now: its batch is ready at
 * once (sent with the next group) instead of waiting HISTORY_FLUSH_MS, so what a worker holds is
 * the events of the jobs it runs, not a second of every job it finished.
 */
const ENDS: ReadonlySet<HistoryEventType> = new Set(['last_stored', 'done_before', 'dead_lettered', 'handed_back', 'parked']);

/**
 * A group not confirmed for a passing reason (no PubAck in time, the connection lost, JetStream
 * temporarily unavailable while the server restarts) is sent again after this many milliseconds, doubled
 * each time up to 2 s, {@link RETRIES} times (0.5 + 1 + 2 + 2 + ... s: 13.5 s of a server that
 * answers but does not store), its events held meanwhile (within HISTORY_BUFFER); while the
 * connection is lost no try is made or counted, and once it is back the group goes at once
 * ({@link HistoryWriter.resendWaiting}). A refusal (no stream, a permission) is final.
 * A message stored but not acknowledged is stored twice: readers skip the copy.
 */
export const RETRY_MS = 500;
/** The longest wait between two tries, in RETRY_MS: 2 s. */
export const RETRY_CAP = 4;
export const RETRIES = 8;

/** What the events of one delivery share: written once in its job's message, not in each event. */
export interface HistoryShared {
  worker_id?: string;
  alt_stream_seq?: number;
  deliveries?: number;
}

/** An event as the worker hands it over: its type and its own fields (the writer stamps it). */
export type HistoryEntry = Omit<HistoryEvent, 'at' | 'alt_id'>;

/** An event in a stored message: its own fields, and `ms` after the message's `at` (absent: 0). */
type WireEvent = HistoryEntry & { ms?: number };

/**
 * One message of a job's events, as stored: the job, the instant of its first event, the fields
 * every event of it shares (the worker, the message, the delivery), and each event's own fields.
 * About half the bytes of the events written out one by one. `eventsOf` (./history-read.ts) reads it, and the
 * shapes stored before it (an array of events, one event).
 */
export interface HistoryMessage extends HistoryShared {
  alt_id: string;
  at: string;
  events: WireEvent[];
}

const NONE: HistoryShared = Object.freeze({});

interface Batch {
  subject: string;
  altId: string;
  /** The instant of its first event (ms). */
  t0: number;
  /** When its first event was added (ms): it goes HISTORY_FLUSH_MS later if its job has not left the worker by then. */
  since: number;
  /** What its events share ({@link NONE} once they share nothing: each carries its own). */
  shared: HistoryShared;
  events: WireEvent[];
}

/**
 * Writes events without waiting. The events of one job go as one message when the job leaves the
 * worker (its `.last` stored, dead-lettered, handed back or parked) or HISTORY_FLUSH_MS after the
 * first of them, so a short job costs one message; at most `maxPending` events are held.
 *
 * The messages ready within `groupMs` go together, each without a reply but the last, whose
 * PubAck confirms the group: a connection's messages reach the stream in the order they were sent,
 * so the stream acknowledging the last one stored the others before it; when it refuses it (no
 * stream, storage failing) or does not answer, the whole group's events are counted dropped. A
 * message the stream would refuse on its own while storing the next (larger than a
 * `max_msg_size` set on the stream, not set by the runner) would be counted stored.
 */
export class HistoryWriter {
  readonly #o: HistoryWriterOptions;
  readonly #batches = new Map<string, Batch>();
  /** Batches ready to go with the next group. */
  #ready: Batch[] = [];
  /** Events buffered or sent and not yet confirmed. */
  #held = 0;
  #dropped = 0;
  #timer: NodeJS.Timeout | null = null;
  #groupTimer: NodeJS.Timeout | null = null;
  /** Groups waiting to be sent again: each one's timer and its sending. */
  readonly #retries = new Map<NodeJS.Timeout, () => void>();
  /** When the first batch of the group waiting was ready (ms). */
  #since = 0;
  readonly #idle = new Set<() => void>();

  constructor(options: HistoryWriterOptions) {
    this.#o = options;
  }

  /** Events dropped so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Adds one event (to its job's subject, or `subject`); returns at once. */
  write(event: HistoryEvent, subject?: string): void {
    const { at, alt_id: altId, ...entry } = event;
    this.#add(altId, NONE, entry, Date.parse(at), subject);
  }

  /**
   * Adds one event of a delivery of job `altId` (stamped now), its shared fields apart (one object
   * per delivery: the job's message holds them once); returns at once. Takes `entry` over (it is
   * stored as given, its error text masked).
   */
  add(altId: string, shared: HistoryShared, entry: HistoryEntry): void {
    this.#add(altId, shared, entry, Date.now());
  }

  #add(altId: string, shared: HistoryShared, entry: WireEvent, at: number, subject?: string): void {
    if (this.#held >= this.#o.maxPending) {
      this.#drop('full', 1);
      return;
    }
    if (entry.error !== undefined) entry.error = redactText(entry.error.slice(0, 500));
    // A job's own subject is keyed by its id alone (its subject token is made once per batch); another subject by both.
    const key = subject === undefined ? altId : `${subject}\u0000${altId}`;
    let batch = this.#batches.get(key);
    if (!batch) this.#batches.set(key, (batch = { subject: subject ?? historySubject(this.#o.prefix, altId), altId, t0: at, since: Date.now(), shared, events: [] }));
    else if (batch.shared !== shared) {
      // Events of another delivery (or none's) in the same batch: each carries its own.
      if (batch.shared !== NONE) batch.events = batch.events.map((e) => ({ ...batch!.shared, ...e }));
      batch.shared = NONE;
      entry = { ...shared, ...entry };
    }
    if (at !== batch.t0) entry.ms = at - batch.t0;
    batch.events.push(entry);
    this.#held++;
    if (batch.events.length >= MAX_BATCH || ENDS.has(entry.type)) {
      this.#batches.delete(key);
      this.#queue(batch);
    }
    if (!this.#timer && this.#batches.size) this.#arm(this.#batches.values().next().value!.since);
  }

  /** The flush timer, for the batch begun at `since` (the oldest still gathering). */
  #arm(since: number): void {
    const flushMs = this.#o.flushMs ?? 1_000;
    this.#timer = setTimeout(() => this.#readyOld(), Math.max(0, since + flushMs - Date.now()));
    this.#timer.unref?.();
  }

  /**
   * The batches gathering for HISTORY_FLUSH_MS are ready, and only those: a job that began a moment
   * ago keeps its events for one message when it leaves. The map holds them oldest first.
   */
  #readyOld(): void {
    this.#timer = null;
    const due = Date.now() - (this.#o.flushMs ?? 1_000);
    for (const [key, b] of this.#batches) {
      if (b.since > due) {
        this.#arm(b.since);
        return;
      }
      this.#batches.delete(key);
      this.#queue(b);
    }
  }

  /** Every batch still gathering is ready. */
  #readyAll(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const b of this.#batches.values()) this.#queue(b);
    this.#batches.clear();
  }

  #queue(b: Batch): void {
    const groupMs = this.#o.groupMs ?? GROUP_MS;
    this.#ready.push(b);
    if (this.#ready.length === 1) {
      this.#since = Date.now();
      // Only for the last group of a burst: while jobs keep ending, the group goes with the one that ends
      // groupMs after the first, in that turn's socket write, not in a timer's turn of its own.
      this.#groupTimer = setTimeout(() => this.#sendGroup(), 2 * groupMs);
      this.#groupTimer.unref?.();
    } else if (Date.now() - this.#since >= groupMs) this.#sendGroup();
  }

  #bytes(b: Batch): Uint8Array {
    const codec = this.#o.codec ?? IDENTITY_CODEC;
    const s = b.shared;
    // Fields left undefined are not written.
    const body: HistoryMessage = { alt_id: b.altId, at: isoAt(b.t0), worker_id: s.worker_id, alt_stream_seq: s.alt_stream_seq, deliveries: s.deliveries, events: b.events };
    const bytes = Buffer.from(JSON.stringify(body));
    return codec.encrypts ? codec.seal(bytes, `history:${b.altId}`) : bytes;
  }

  /** Sends the ready batches: all but the last without a reply when `post` is given, the last confirming them. */
  #sendGroup(): void {
    if (this.#groupTimer) clearTimeout(this.#groupTimer);
    this.#groupTimer = null;
    const group = this.#ready;
    this.#ready = [];
    this.#send(group, 0);
  }

  /** Sends `group` (its `attempt`-th time): each run of posted messages is confirmed by the PubAck of the message after it. */
  #send(group: Batch[], attempt: number): void {
    const post = this.#o.post;
    let covered: Batch[] = [];
    for (let i = 0; i < group.length; i++) {
      const b = group[i];
      if (post && i < group.length - 1) {
        try {
          post(b.subject, this.#bytes(b));
          covered.push(b);
        } catch {
          // It cannot be sent (too large, the connection closed): dropped alone.
          this.#drop('failed', b.events.length);
          this.#release(b.events.length);
        }
        continue;
      }
      covered.push(b);
      this.#confirm(b, covered, attempt);
      covered = [];
    }
  }

  /** Publishes `b` and waits for its PubAck, which confirms the batches of `covered` (those posted before it, and itself). */
  #confirm(b: Batch, covered: Batch[], attempt: number): void {
    let sent: Promise<unknown>;
    try {
      sent = this.#o.publish(b.subject, this.#bytes(b));
    } catch (e) {
      sent = Promise.reject(e);
    }
    sent.then(() => this.#release(eventsIn(covered)), (e: unknown) => this.#failed(covered, attempt, e));
  }

  /** A group not confirmed: sent again after a passing failure while attempts remain, else its events are dropped. */
  #failed(covered: Batch[], attempt: number, e: unknown): void {
    const n = eventsIn(covered);
    if (attempt < RETRIES && notConfirmed(e)) {
      const again = () => {
        clearTimeout(t);
        this.#retries.delete(t);
        this.#send(covered, attempt + 1);
      };
      const retryMs = this.#o.retryMs ?? RETRY_MS;
      // While the connection is lost the try waits for it to be back (resendWaiting), uncounted.
      const t = setTimeout(() => {
        if (this.#o.connected?.() !== false) again();
      }, Math.min(retryMs * 2 ** attempt, RETRY_CAP * retryMs));
      t.unref?.();
      this.#retries.set(t, again);
      return;
    }
    this.#drop('failed', n);
    this.#release(n);
  }

  #release(n: number): void {
    this.#held -= n;
    if (this.#held === 0) for (const f of this.#idle) f();
  }

  #drop(reason: 'full' | 'failed', n: number): void {
    this.#dropped += n;
    for (let i = 0; i < n; i++) this.#o.onDrop?.(reason);
  }

  /**
   * Sends at once the groups waiting to be sent again (each its next try): what a flush does, and
   * what the worker does when its history connection is back after a loss, so that a crash soon
   * after a server restart does not lose what waited for its next try.
   */
  resendWaiting(): void {
    for (const again of [...this.#retries.values()]) again();
  }

  /** Sends what waits and resolves once every event is confirmed or dropped (shutdown), or after `limitMs`. */
  async flush(limitMs = 2_000): Promise<void> {
    this.#readyAll();
    this.#sendGroup();
    this.resendWaiting();
    if (this.#held === 0) return;
    let done!: () => void;
    const idle = new Promise<void>((r) => (done = r));
    this.#idle.add(done);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([idle, new Promise((r) => (timer = setTimeout(r, limitMs)))]);
    clearTimeout(timer);
    this.#idle.delete(done);
  }
}

const eventsIn = (batches: Batch[]) => batches.reduce((n, b) => n + b.events.length, 0);

/** A publish that got no answer for a passing reason (the worker's publisher says `TIMEOUT` when no PubAck came in time). */
const notConfirmed = (e: unknown) => isPassingNatsError(e) || ['TIMEOUT', 'DISCONNECTED'].includes((e as { code?: unknown } | null)?.code as string);

/** The last instant written as RFC 3339: a job's events mostly share their millisecond. */
let isoMs = Number.NaN;
let isoText = '';
function isoAt(ms: number): string {
  if (ms !== isoMs) {
    isoText = new Date(ms).toISOString();
    isoMs = ms;
  }
  return isoText;
}

/** An event's fields made safe to store: error texts under the logs policy. */
export function historyEvent(type: HistoryEventType, altId: string, fields: Omit<HistoryEvent, 'type' | 'alt_id' | 'at'> = {}, at?: Date): HistoryEvent {
  const e: HistoryEvent = { type, at: isoAt(at ? at.getTime() : Date.now()), alt_id: altId, ...fields };
  if (e.error !== undefined) e.error = redactText(e.error.slice(0, 500));
  return e;
}
