/**
 * Each job's history: every event of it (delivered to a worker, started, a task's failed attempts
 * and its outcome, lease lost, handed back, claimed, checkpointed, parked, resumed, its `.last`
 * stored, dead-lettered, and what operators did to it, with who did it) as one message on the
 * history stream (HISTORY_STREAM), subject `<HISTORY_SUBJECT_PREFIX>.<job token>`.
 *
 * The worker never waits for an event: {@link HistoryWriter} buffers it and goes on, and sends
 * the events of one job within HISTORY_FLUSH_MS as one message; what it holds (buffered or not
 * yet confirmed) is bounded (HISTORY_BUFFER), and an event past that bound, or one the stream
 * refused, is dropped and counted. Readers get a job's events by message gets on its
 * subject (no consumer).
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { subjectToken } from '../contract/subjects.ts';
import { IDENTITY_CODEC, isSealed, type Codec } from '../security/codec.ts';
import { redactText } from '../security/redact.ts';
import { storedMessages } from './store-access.ts';

/** What a drain whose worker's heartbeat ended before it drained means (altlas drain --wait, WORKER_GONE, and the fleet's history). */
export const GONE = 'ended its heartbeat before it drained (killed, or stopped and not answering): the jobs it held are redelivered and its drain request is removed; if it only stopped, it may still drain when it resumes (when it read the request before)';

/** The kinds of events, in the words `altlas history` prints. */
export const HISTORY_EVENTS = [
  'delivered', 'started', 'claimed', 'resumed', 'attempt_failed', 'task_finished', 'checkpointed', 'lease_lost', 'handed_back',
  'parked', 'last_stored', 'dead_lettered', 'cancel_requested', 'approved', 'rejected', 'replayed', 'dlq_replayed',
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
  prefix: string;
  /** Events held (buffered, or sent and not yet confirmed) at most (HISTORY_BUFFER). */
  maxPending: number;
  /** Milliseconds events wait to be sent with the others of their job (HISTORY_FLUSH_MS). Default 1,000. */
  flushMs?: number;
  codec?: Codec;
  /** An event was dropped (the buffer was full, or the stream did not store it). */
  onDrop?: (reason: 'full' | 'failed') => void;
}

export const historySubject = (prefix: string, altId: string) => `${prefix}.${subjectToken(altId)}`;

/** The fleet's own history (pause, resume, drains, concurrency changes): two tokens, so no job's subject is it. */
export const fleetHistorySubject = (prefix: string) => `${prefix}._fleet.control`;
/** The id fleet events carry. */
export const FLEET = '_fleet';

/** Events of one job sent in one message at most (a larger batch goes at once). */
const MAX_BATCH = 256;

/**
 * Events after which this worker writes nothing more of the job for now: its batch goes at once
 * (in the connection's next write) instead of waiting HISTORY_FLUSH_MS, so what a worker holds is
 * the events of the jobs it runs, not a second of every job it finished.
 */
const ENDS: ReadonlySet<HistoryEventType> = new Set(['last_stored', 'dead_lettered', 'handed_back', 'parked']);


interface Batch {
  subject: string;
  altId: string;
  events: HistoryEvent[];
}

/**
 * Writes events without waiting: the events of one job go as one message (a JSON array) when the
 * job leaves the worker (its `.last` stored, dead-lettered, handed back or parked) or
 * HISTORY_FLUSH_MS after the first of them, so a short job costs one publish; at most `maxPending`
 * events are held.
 */
export class HistoryWriter {
  readonly #o: HistoryWriterOptions;
  readonly #batches = new Map<string, Batch>();
  /** Events buffered or sent and not yet confirmed. */
  #held = 0;
  #dropped = 0;
  #timer: NodeJS.Timeout | null = null;
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
    if (this.#held >= this.#o.maxPending) {
      this.#drop('full', 1);
      return;
    }
    // A job's own subject is keyed by its id alone (its subject token is made once per batch); another subject by both.
    const key = subject === undefined ? event.alt_id : `${subject}\u0000${event.alt_id}`;
    let batch = this.#batches.get(key);
    if (!batch) this.#batches.set(key, (batch = { subject: subject ?? historySubject(this.#o.prefix, event.alt_id), altId: event.alt_id, events: [] }));
    batch.events.push(event);
    this.#held++;
    if (batch.events.length >= MAX_BATCH || ENDS.has(event.type)) {
      this.#batches.delete(key);
      this.#send(batch);
    }
    if (!this.#timer && this.#batches.size) {
      this.#timer = setTimeout(() => this.#sendAll(), this.#o.flushMs ?? 1_000);
      this.#timer.unref?.();
    }
  }

  #sendAll(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const batches = [...this.#batches.values()];
    this.#batches.clear();
    for (const b of batches) this.#send(b);
  }

  #send(b: Batch): void {
    const codec = this.#o.codec ?? IDENTITY_CODEC;
    const bytes = Buffer.from(JSON.stringify(b.events));
    const n = b.events.length;
    let sent: Promise<unknown>;
    try {
      sent = this.#o.publish(b.subject, codec.encrypts ? codec.seal(bytes, `history:${b.altId}`) : bytes);
    } catch (e) {
      sent = Promise.reject(e);
    }
    sent.then(() => {}, () => this.#drop('failed', n)).finally(() => {
      this.#held -= n;
      if (this.#held === 0) for (const f of this.#idle) f();
    });
  }

  #drop(reason: 'full' | 'failed', n: number): void {
    this.#dropped += n;
    for (let i = 0; i < n; i++) this.#o.onDrop?.(reason);
  }

  /** Sends what waits and resolves once every event is confirmed or dropped (shutdown), or after `limitMs`. */
  async flush(limitMs = 2_000): Promise<void> {
    this.#sendAll();
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

export interface HistorySource {
  jsm: JetStreamManager;
  stream: string;
  prefix: string;
  codec?: Codec;
}

/** A job's events (or with `altId` {@link FLEET}, the fleet's), oldest first by their time (empty when it has none, or the stream does not exist). */
export async function readHistory(src: HistorySource, altId: string, limit = 10_000): Promise<HistoryEvent[]> {
  const info = await src.jsm.streams.info(src.stream).catch((e: Error) => {
    if (/stream not found/i.test(e.message)) return null;
    throw e;
  });
  if (!info || info.state.messages === 0) return [];
  const codec = src.codec ?? IDENTITY_CODEC;
  const out: HistoryEvent[] = [];
  const subject = altId === FLEET ? fleetHistorySubject(src.prefix) : historySubject(src.prefix, altId);
  for await (const m of storedMessages(src.jsm, src.stream, subject, info.state.first_seq, info.state.last_seq)) {
    try {
      const bytes = isSealed(m.data) ? codec.open(m.data, `history:${altId}`) : m.data;
      const body = JSON.parse(new TextDecoder().decode(bytes)) as HistoryEvent | HistoryEvent[];
      // A message holds one event or a job's batch; ids that share a subject token (cut long ids) are told apart by the id each event names.
      for (const e of Array.isArray(body) ? body : [body]) if (e.alt_id === altId) out.push(e);
    } catch {
      // an event this process cannot read (another key) is left out
    }
    if (out.length >= limit) break;
  }
  // A worker sends a job's events in batches, an operator's action at once: the timeline is by time. An operator's
  // action is stamped before what it causes, so at the same millisecond it comes first; other ties in stored order.
  return out.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || Number(isAction(b)) - Number(isAction(a)));
}

/** An operator's action (a command's or the dashboard's), not a worker's event. */
const isAction = (e: HistoryEvent) => e.by !== undefined && e.worker_id === undefined;

/** The ids of a detail that lists them (a redelivery's tasks from checkpoints). */
const idsOf = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

/** One event as a line of `altlas history`: what happened, where and who. */
export function describeEvent(e: HistoryEvent): string {
  const on = e.worker_id ? ` on ${e.worker_id}` : '';
  const by = e.by ? ` by ${e.by}` : '';
  const code = e.code ? ` (${e.code}${e.error ? `: ${e.error}` : ''})` : e.error ? ` (${e.error})` : '';
  const d = e.detail ?? {};
  switch (e.type) {
    case 'delivered': return `delivered (delivery ${e.deliveries ?? '?'}, message ${e.alt_stream_seq ?? '?'}) to ${e.worker_id ?? 'a worker'}${d.held ? `, held: ${d.held}` : ''}`;
    case 'started': {
      const resumed = idsOf(d.from_checkpoints);
      const tasks = d.tasks !== undefined ? `${d.tasks} task${d.tasks === 1 ? '' : 's'}` : '';
      const from = resumed.length ? `${resumed.length} from checkpoints: ${resumed.join(', ')}` : '';
      return `started${on}${tasks || from ? ` (${[tasks, from].filter(Boolean).join('; ')})` : ''}`;
    }
    case 'claimed': return `claimed (delivery ${e.deliveries ?? '?'})${on}`;
    case 'resumed': return `resumed after ${d.reason === 'budget' ? 'its tenant\'s budget period turned' : 'approval'}${on}${d.completed !== undefined ? ` (${d.completed} tasks done before)` : ''}`;
    case 'attempt_failed': return `task ${e.task_id} attempt ${e.attempt} failed${code}${on}`;
    case 'task_finished': return `task ${e.task_id} ${e.status}${e.attempt && e.attempt > 1 ? ` after ${e.attempt} attempts` : ''}${code}${on}`;
    case 'checkpointed': return `checkpointed ${d.tasks ?? '?'} task(s)${on}`;
    case 'lease_lost': return `lease lost${on}${code}`;
    case 'handed_back': return `handed back${on}${code}`;
    case 'parked': return e.code === 'BUDGET_WAIT' ? `parked: its tenant's budget is spent until the period turns${on}` : `parked: waiting for a person${d.task ? ` at task ${d.task}` : ''}${on}`;
    case 'last_stored': return `.last stored (${e.status ?? '?'})${on}${e.code ? ` (${e.code})` : ''}`;
    case 'dead_lettered': return `dead-lettered${code}${on}`;
    case 'cancel_requested': return `cancel requested${by}${d.found === 'queued_or_unknown' ? ' (no state recorded yet: waiting in the stream, just started, or no such job)' : ''}`;
    case 'approved': return `task ${e.task_id} approved${by}${d.comment ? `: ${d.comment}` : ''}`;
    case 'rejected': return `task ${e.task_id} rejected${by}${d.comment ? `: ${d.comment}` : ''}`;
    case 'replayed': return `replay from task ${d.from ?? '?'} published${by} (message ${d.seq ?? '?'})`;
    case 'dlq_replayed': return `dead letter ${d.dlq_seq ?? '?'} replayed${by}`;
    case 'paused': return `intake paused${by}${d.worker ? ` on ${d.worker}` : ' on every worker'}`;
    case 'unpaused': return `intake resumed${by}${d.worker ? ` on ${d.worker}` : ' on every worker'}`;
    case 'drain_requested': return `drain of ${d.worker ?? '?'} requested${by}`;
    case 'drained': return `${d.worker ?? e.worker_id ?? '?'} drained: it finished what it held and exits`;
    case 'drain_gone': return `${d.worker ?? '?'}, asked to drain${by}, ${GONE}`;
    case 'concurrency_set': return `concurrency of ${d.worker ?? '?'} set to ${d.concurrency ?? '?'}${by}${e.worker_id ? ' (applied)' : ''}`;
    default: return `${e.type}${on}${by}${code}`;
  }
}
