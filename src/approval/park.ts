/**
 * Parked jobs: the records of a job that waits without holding a worker or its message (at an
 * approval task, for a person; or for its tenant's budget period to turn), the decisions, and the resume.
 *
 *   status bucket  park.<job>                 the park record (which message, which task, the question,
 *                                             the timeout, the object holding the body; the resume that holds it)
 *   status bucket  decision.<job>.<task>      a decision, created once (compare-and-set: a second one is refused)
 *   object store   park/<stream>.<seq>        the job's `.alt` body as it came (sealed under PAYLOAD_KEYS)
 *   checkpoints    <stream>.<seq>.c.*         its completed results (the checkpoints of the parked message)
 *
 * A decision republishes the body to the job's subject with the header `Altlas-Resume:
 * <stream>:<seq>` (message id `resume:<stream>:<seq>`: a second publish is a duplicate); the
 * worker that takes it claims the park record (compare-and-set), loads the parked message's
 * checkpoints and the decisions, and runs the job on: completed tasks are not run again. Once its
 * `.last` is stored the park's records are removed. A resume whose park is gone, or held by
 * another resume, is acked without running.
 *
 * A job parked for its tenant's budget (`reason: budget`) has no decision to wait for: the sweep
 * resumes it once `resume_at` is past (see sweep.ts), and a run that finds the tenant still over
 * parks it again from its resume message, so no delivery of any message is spent on the wait.
 */
import type { KV } from '@nats-io/kv';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { ObjectStore } from '@nats-io/obj';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import { AltlasError } from '../errors.ts';
import { subjectToken } from '../contract/subjects.ts';
import { IDENTITY_CODEC, isSealed, type Codec } from '../security/codec.ts';
import { redactMemberList } from '../security/trace-headers.ts';
import { REDACTED, isSecretKeyName, redactDataText } from '../security/redact.ts';
import { bucketEntries, readObject, removeObject } from '../status/store-access.ts';
import { isDecisionOf, type Decision, type OnTimeout } from './kind.ts';

/** The header that marks a resumed job's message: `<stream>:<seq>` of the parked message. */
export const RESUME_HEADER = 'Altlas-Resume';

/**
 * Where a cancel request looks a message up (see CancelRequest): a resume's is the parked message's
 * `<stream>:<seq>` its header names (a resume a cancel made the sweep publish is still the message
 * the cancel was meant for), any other message's its own.
 */
export function cancelOrigin(d: { stream: string; seq: number; headers?: { get(name: string): string } }): { stream: string; seq: number } {
  const origin = d.headers?.get(RESUME_HEADER) ?? '';
  const at = origin.lastIndexOf(':');
  const seq = Number(origin.slice(at + 1));
  return at > 0 && Number.isSafeInteger(seq) && seq > 0 ? { stream: origin.slice(0, at), seq } : { stream: d.stream, seq: d.seq };
}

/** Why a job is parked: an approval task waits for a person, or its tenant's budget for the period to turn. */
export type ParkReason = 'approval' | 'budget';

export interface ParkRecord {
  alt_id: string;
  /** Absent: `approval` (records written before budget parks existed). */
  reason?: ParkReason;
  /** The approval task's instance key (a budget park: the task whose call was refused, or empty). */
  task: string;
  /** Its question (sealed and base64 under PAYLOAD_KEYS: `question_sealed`). */
  question: string;
  question_sealed?: string;
  /** The parked message. */
  stream: string;
  seq: number;
  subject: string;
  /** Its headers (but its message id), to go with the resume. */
  headers: [string, string][];
  /** Object name of its body. */
  body: string;
  /** The object store of its body (RUNNER_BODY_BUCKET; absent in a park stored by an earlier version: the RUNNER_OBJECT_BUCKET given). */
  body_bucket?: string;
  parked_at: string;
  /** Null: no timeout. */
  timeout_at: string | null;
  on_timeout: OnTimeout;
  /** The resume message that holds the job, once one took it. */
  resumed_seq?: number;
  /** A budget park: when its tenant's period turns and the sweep resumes it. */
  resume_at?: string;
  /** A budget park: when a sweep published its resume (a compare-and-set, so one worker does). */
  resume_sent_at?: string;
}

/** True when a park waits for its tenant's budget, not for a person. */
export const isBudgetPark = (p: ParkRecord) => p.reason === 'budget';

export const parkKey = (altId: string) => `park.${subjectToken(altId)}`;
export const decisionKey = (altId: string, task: string) => `decision.${subjectToken(altId)}.${subjectToken(task)}`;
export const bodyObject = (stream: string, seq: number) => `park/${subjectToken(stream)}.${seq}`;

/** A header of a parked job as its record keeps it (null: not kept): `baggage`/`tracestate` members and secret-named headers masked, as a `.last` has them. */
export function parkedHeader(name: string, value: string, encrypted: boolean): string | null {
  const lower = name.toLowerCase();
  if (lower === 'baggage' || lower === 'tracestate') return encrypted ? null : redactMemberList(value);
  if (lower === 'content-type' || lower === 'traceparent' || lower.startsWith('nats-') || lower === 'altlas-key-id') return value;
  return isSecretKeyName(name) ? REDACTED : redactDataText(value);
}
export const resumeMsgId = (stream: string, seq: number) => `resume:${stream}:${seq}`;

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Reads a park record (its question opened when the codec holds the key); null when none. */
export async function readPark(kv: KV, altId: string, codec: Codec = IDENTITY_CODEC): Promise<{ park: ParkRecord; revision: number } | null> {
  const e = await kv.get(parkKey(altId));
  if (!e || e.operation !== 'PUT' || e.value.length === 0) return null;
  const park = JSON.parse(dec.decode(e.value)) as ParkRecord;
  if (park.question_sealed) {
    try {
      park.question = dec.decode(codec.open(Buffer.from(park.question_sealed, 'base64'), `park:${park.alt_id}`));
    } catch {
      // the question stays sealed
    }
  }
  return { park, revision: e.revision };
}

/** The decisions recorded for a job, by task key. */
export async function readDecisions(jsm: JetStreamManager, bucket: string, altId: string): Promise<Map<string, Decision>> {
  const out = new Map<string, Decision>();
  for (const e of await bucketEntries(jsm, bucket, `decision.${subjectToken(altId)}.*`)) {
    if (e.operation !== 'PUT' || e.value.length === 0) continue;
    let d: unknown;
    try {
      // Stryker disable BlockStatement: the catch without its continue leaves d undefined, which names no task and is passed over below.
      d = JSON.parse(dec.decode(e.value));
    } catch {
      // Stryker restore BlockStatement
      continue;
    }
    const task = (d as { task?: unknown } | null)?.task;
    if (typeof task === 'string' && e.key === decisionKey(altId, task) && isDecisionOf(d, altId, task)) out.set(task, d);
  }
  return out;
}

/** What deciding needs: the status bucket, the object store (the body) and a JetStream client (the resume). */
export interface DecideStores {
  kv: KV;
  jsm: JetStreamManager;
  js: JetStreamClient;
  /** RUNNER_OBJECT_BUCKET. */
  objBucket: string;
  codec?: Codec;
  now?: () => number;
}

/**
 * Records a decision for the task a job is parked at (compare-and-set: created once), then
 * resumes the job. Throws APPROVAL_NOT_WAITING (no park at that task), APPROVAL_DECIDED (a
 * decision exists), APPROVAL_TIMED_OUT (a person's decision after the timeout).
 */
export async function decide(s: DecideStores, input: { altId: string; task: string; decision: Decision['decision']; comment: string | null; by: string }): Promise<{ park: ParkRecord; decision: Decision; resumeSeq: number }> {
  const now = s.now ?? Date.now;
  const found = await readPark(s.kv, input.altId, s.codec);
  if (!found) throw new AltlasError('APPROVAL_NOT_WAITING', `job ${input.altId} is not waiting for a decision`, { context: { altId: input.altId, taskId: input.task } });
  const { park } = found;
  if (isBudgetPark(park)) throw new AltlasError('APPROVAL_NOT_WAITING', `job ${input.altId} waits for its tenant's budget, not for a decision`, { context: { altId: input.altId, taskId: input.task } });
  if (park.task !== input.task) throw new AltlasError('APPROVAL_NOT_WAITING', `job ${input.altId} is waiting at task ${park.task}, not ${input.task}`, { context: { altId: input.altId, taskId: input.task, waiting: park.task } });
  const key = decisionKey(input.altId, input.task);
  const existing = await s.kv.get(key);
  const decidedAlready = () => new AltlasError('APPROVAL_DECIDED', `task ${input.task} of job ${input.altId} was decided already`, { context: { altId: input.altId, taskId: input.task } });
  const held = existing && existing.operation === 'PUT' && existing.value.length ? existing : null;
  const valueOf = (bytes: Uint8Array): unknown => {
    try {
      // Stryker disable BlockStatement: the catch returning undefined instead of null: no decision either.
      return JSON.parse(dec.decode(bytes));
    } catch {
      // Stryker restore BlockStatement
      return null;
    }
  };
  if (held && isDecisionOf(valueOf(held.value), input.altId, input.task)) throw decidedAlready();
  if (input.by !== 'timeout' && park.timeout_at && Date.parse(park.timeout_at) <= now()) {
    throw new AltlasError('APPROVAL_TIMED_OUT', `the approval of task ${input.task} of job ${input.altId} timed out at ${park.timeout_at} (on_timeout: ${park.on_timeout})`, { context: { altId: input.altId, taskId: input.task } });
  }
  const decision: Decision = { task: input.task, decision: input.decision, comment: input.comment, by: input.by, decided_at: new Date(now()).toISOString(), alt_id: input.altId };
  try {
    // Created once; a value there that is no decision of this task is replaced (compare-and-set on its revision).
    if (held) await s.kv.update(key, enc.encode(JSON.stringify(decision)), held.revision);
    else await s.kv.create(key, enc.encode(JSON.stringify(decision)));
  } catch {
    throw decidedAlready();
  }
  const resumeSeq = await resume(s, park);
  return { park, decision, resumeSeq };
}

/** Republishes a parked job's body to its subject as a resume; returns the stream sequence (a duplicate's is the first one's). */
export async function resume(s: Pick<DecideStores, 'jsm' | 'js' | 'objBucket'>, park: ParkRecord): Promise<number> {
  const body = await readObject(s.jsm, park.body_bucket ?? s.objBucket, park.body);
  if (!body) throw new AltlasError('APPROVAL_NOT_WAITING', `the body of parked job ${park.alt_id} is gone (${park.body}): it cannot resume`, { context: { altId: park.alt_id } });
  const h: MsgHdrs = natsHeaders();
  for (const [k, v] of park.headers) h.append(k, v);
  h.set(RESUME_HEADER, `${park.stream}:${park.seq}`);
  const ack = await s.js.publish(park.subject, body, { headers: h, msgID: resumeMsgId(park.stream, park.seq) });
  return ack.seq;
}

/** The worker's side: parking a job, claiming a resume, and removing a park once its job ended. */
export interface ParkStoreOptions {
  status: KV;
  statusBucket: string;
  checkpoints: import('../status/checkpoints.ts').CheckpointStore;
  objects: ObjectStore;
  objBucket: string;
  /** Where bodies go (RUNNER_BODY_BUCKET, which the reader role does not read); absent: `objects`. */
  bodyObjects?: ObjectStore;
  bodyBucket?: string;
  jsm: JetStreamManager;
  codec?: Codec;
}

/** What a worker stores when a job parks. */
export interface ParkInput {
  altId: string;
  /** Default `approval`. */
  reason?: ParkReason;
  /** A budget park: epoch ms when the sweep resumes it. */
  resumeAt?: number;
  task: string;
  question: string;
  timeoutS: number | null;
  onTimeout: OnTimeout;
  /** The delivery; its headers are copied when they can be listed (a message's headers). */
  d: { stream: string; seq: number; subject: string; deliveries: number; data: Uint8Array; headers?: { get(name: string): string; keys?(): string[]; values?(name: string): string[] } };
  results: readonly import('../engine/types.ts').TaskResult[];
  /** The park this run resumed from, removed once the new one is stored. */
  from: ParkRecord | null;
}

export class ParkStore {
  readonly #o: ParkStoreOptions;
  readonly #codec: Codec;

  constructor(o: ParkStoreOptions) {
    this.#o = o;
    this.#codec = o.codec ?? IDENTITY_CODEC;
  }

  /**
   * Stores everything a resume needs, in this order: the completed results (a checkpoint batch of
   * the message), the body (sealed), the park record. Only then may the message be acked.
   */
  async park(p: ParkInput, now = Date.now()): Promise<ParkRecord> {
    const { d } = p;
    if (p.results.length) await this.#o.checkpoints.saveBatch(d.stream, d.seq, d.deliveries, 1_000_000, p.results);
    const body = bodyObject(d.stream, d.seq);
    const raw = isSealed(d.data) || !this.#codec.encrypts ? d.data : this.#codec.seal(d.data, 'alt');
    await (this.#o.bodyObjects ?? this.#o.objects).putBlob({ name: body }, raw);
    const headers: [string, string][] = [];
    const h = d.headers;
    if (h?.keys && h.values) for (const k of h.keys()) if (k !== 'Nats-Msg-Id' && k !== RESUME_HEADER) for (const v of h.values(k)) {
      // The record is readable by the reader role (the status bucket): header values are masked as results mask them, trace headers dropped under PAYLOAD_KEYS.
      const safe = parkedHeader(k, v, this.#codec.encrypts);
      if (safe !== null) headers.push([k, safe]);
    }
    const record: ParkRecord = {
      alt_id: p.altId, ...(p.reason === 'budget' ? { reason: 'budget' as const, resume_at: new Date(p.resumeAt ?? now).toISOString() } : {}), task: p.task, question: this.#codec.encrypts ? '' : p.question,
      ...(this.#codec.encrypts ? { question_sealed: Buffer.from(this.#codec.seal(enc.encode(p.question), `park:${p.altId}`)).toString('base64') } : {}),
      stream: d.stream, seq: d.seq, subject: d.subject, headers, body, ...(this.#o.bodyObjects && this.#o.bodyBucket ? { body_bucket: this.#o.bodyBucket } : {}), parked_at: new Date(now).toISOString(),
      timeout_at: p.timeoutS === null ? null : new Date(now + p.timeoutS * 1000).toISOString(), on_timeout: p.onTimeout,
    };
    // A resumed job parked again: the earlier park's records go first (its results are in the new batch), so no decision for the new task is removed.
    if (p.from) await this.#removeParked(p.from);
    await this.#o.status.put(parkKey(p.altId), enc.encode(JSON.stringify(record)));
    return record;
  }

  /**
   * Claims the park a resume message names for delivery `seq` (compare-and-set on the record).
   * Returns the park with its completed results and the decisions, or null when the park is gone
   * or another resume holds it (the message is then acked without running).
   */
  async claimResume(altId: string, origin: string, seq: number): Promise<{ park: ParkRecord; results: Map<string, import('../engine/types.ts').TaskResult>; decisions: Map<string, Decision> } | null> {
    const found = await readPark(this.#o.status, altId, this.#codec);
    if (!found || `${found.park.stream}:${found.park.seq}` !== origin) return null;
    const { park, revision } = found;
    if (park.resumed_seq !== undefined && park.resumed_seq !== seq) return null;
    if (park.resumed_seq === undefined) {
      const stored = { ...park, question: park.question_sealed ? '' : park.question, resumed_seq: seq };
      try {
        await this.#o.status.update(parkKey(altId), enc.encode(JSON.stringify(stored)), revision);
      } catch {
        return null;
      }
    }
    const { results } = await this.#o.checkpoints.load(park.stream, park.seq);
    const decisions = await readDecisions(this.#o.jsm, this.#o.statusBucket, altId);
    return { park, results, decisions };
  }

  /**
   * The park an earlier delivery of message `stream`/`seq` stored (resumed or not); null when
   * none. A redelivery that finds one (the park was stored, its ack lost) leaves the job to it.
   */
  async parkedAt(altId: string, stream: string, seq: number): Promise<ParkRecord | null> {
    const found = await readPark(this.#o.status, altId, this.#codec);
    return found && found.park.stream === stream && found.park.seq === seq ? found.park : null;
  }

  /** The job resumed by message `seq` ended (its `.last` stored and acked): its park's records are removed. */
  async finished(altId: string, seq: number): Promise<void> {
    const found = await readPark(this.#o.status, altId, this.#codec);
    if (!found || found.park.resumed_seq !== seq) return;
    await this.#removeParked(found.park);
    await this.#o.status.delete(parkKey(altId));
  }

  /** Removes the parked message's checkpoints, its body, and the job's decisions. */
  async #removeParked(park: ParkRecord): Promise<void> {
    const { objects } = await this.#o.checkpoints.load(park.stream, park.seq).catch(() => ({ objects: [] as string[] }));
    await this.#o.checkpoints.clear(park.stream, park.seq, objects);
    await removeObject(this.#o.jsm, park.body_bucket ?? this.#o.objBucket, park.body).catch(() => false);
    for (const e of await bucketEntries(this.#o.jsm, this.#o.statusBucket, `decision.${subjectToken(park.alt_id)}.*`)) {
      if (e.operation === 'PUT') await this.#o.status.delete(e.key);
    }
  }
}
