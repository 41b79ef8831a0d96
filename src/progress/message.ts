/**
 * The progress messages of AI answers, as they travel on the progress stream: their subjects,
 * message ids and bodies (JSON, sealed under PAYLOAD_KEYS). Pure.
 *
 * One HTTP attempt of an AI call is one progress *attempt*, named by an id of its own, so
 * that no two attempts ever share one (a redelivered run's attempts, on another worker after a
 * crash, are new attempts however the earlier run ended). Its messages are numbered from 0 by
 * `index`: text messages (`chunk`), then one final message (`end`) saying how the attempt ended,
 * with the text not sent yet and the byte count of the attempt's whole text.
 */
import { randomBytes } from 'node:crypto';
import type { AttemptOutcome } from '../ai/call.ts';
import { HEADERS, subjectToken } from '../contract/subjects.ts';
import type { Codec } from '../security/codec.ts';

/** Version of the body format (`v`). */
export const PROGRESS_VERSION = 1 as const;

/** Where a message belongs: the job's run, the task and the attempt; and its place in the attempt. */
export interface ProgressHead {
  v: typeof PROGRESS_VERSION;
  /** The job id (raw). */
  job: string;
  /** The ALT stream sequence of the job's message (one per publication of the job), when known. */
  alt_seq: number | null;
  /** The delivery of that message the run belongs to (1 = the first), when known. */
  deliveries: number | null;
  /** The task's instance key (the task id in 1.0, `loop[k]/segment` in 2.0). */
  task: string;
  /** The engine's attempt of the task (1 = the first), when known. */
  task_attempt: number | null;
  /** The HTTP attempt of the call (1 = the first). */
  http_attempt: number;
  /** The attempt's id: unique (a random part per process and a counter), never shared by two attempts. */
  attempt: string;
  /** 0-based position of this message within its attempt. */
  index: number;
}

/** Text of an attempt. */
export interface ProgressChunk extends ProgressHead {
  type: 'chunk';
  text: string;
}

/** The last message of an attempt: how it ended, the text not sent yet, and the attempt's whole text in bytes. */
export interface ProgressEnd extends ProgressHead {
  type: 'end';
  text: string;
  /** `ok` when the answer is complete; else why the attempt stopped (AttemptInfo.outcome). */
  outcome: AttemptOutcome;
  /** The class of a failure (`stream_cut`, `timeout`, ...), or null. */
  failure: string | null;
  /** The error code that stopped a cancelled attempt (`JOB_CANCELLED`, `TASK_TIMEOUT`, ...), or null. */
  code: string | null;
  /** UTF-8 bytes of the attempt's text, every message's text included. */
  bytes: number;
}

export type ProgressMessage = ProgressChunk | ProgressEnd;

/** The names a progress subject is made of. */
export interface ProgressNames {
  /** PROGRESS_SUBJECT_PREFIX: where the worker publishes. */
  prefix: string;
  /** PROGRESS_LIVE_PREFIX: where the stream republishes what it stored. */
  livePrefix: string;
}

/** The subject of a task's progress: `<prefix>.<job token>.<task token>`. */
export function progressSubject(prefix: string, jobId: string, task: string): string {
  return `${prefix}.${subjectToken(jobId)}.${subjectToken(task)}`;
}

/** Every subject of a job's progress under `prefix` (the stream's or the live one). */
export function jobProgressFilter(prefix: string, jobId: string): string {
  return `${prefix}.${subjectToken(jobId)}.>`;
}

/** The Nats-Msg-Id of a message: a re-sent message is stored once. */
export function progressMsgId(attempt: string, index: number): string {
  return `progress:${attempt}:${index}`;
}

/** 72 random bits drawn once per process: attempt ids of two processes never meet. */
const PROCESS_ID = randomBytes(9).toString('base64url');
let attempts = 0;

/**
 * A new attempt id: the process's 12 random base64url characters and a counter (a random draw per
 * attempt cost more than the rest of opening it).
 */
export function newAttemptId(): string {
  return `${PROCESS_ID}${(attempts++).toString(36)}`;
}

/** What the additional authenticated data of a sealed body says it is. */
const AAD = 'progress';

/** The body of a message, sealed when the codec encrypts; `headers` gets the key id then. */
export function encodeProgress(m: ProgressMessage, codec: Codec, headers: { set(k: string, v: string): void }): Uint8Array {
  const plain = Buffer.from(JSON.stringify(m));
  if (!codec.encrypts) return plain;
  headers.set(HEADERS.keyId, codec.keyId!);
  return codec.seal(plain, AAD);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nat = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const natOrNull = (v: unknown) => v === null || nat(v);
const strOrNull = (v: unknown) => v === null || typeof v === 'string';

/**
 * Reads a body: opened with the codec (ALT_DECRYPT is thrown when it cannot be), then checked.
 * Returns null for a body that is not a progress message of this version.
 */
export function decodeProgress(data: Uint8Array, codec: Codec): ProgressMessage | null {
  const bytes = codec.open(data, AAD);
  let m: unknown;
  try {
    m = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return null;
  }
  if (!isObject(m) || m.v !== PROGRESS_VERSION || (m.type !== 'chunk' && m.type !== 'end')) return null;
  if (typeof m.job !== 'string' || typeof m.task !== 'string' || typeof m.attempt !== 'string' || typeof m.text !== 'string') return null;
  if (!nat(m.index) || !nat(m.http_attempt) || !natOrNull(m.alt_seq) || !natOrNull(m.deliveries) || !natOrNull(m.task_attempt)) return null;
  if (m.type === 'end' && (typeof m.outcome !== 'string' || !nat(m.bytes) || !strOrNull(m.failure) || !strOrNull(m.code))) return null;
  return m as unknown as ProgressMessage;
}

/**
 * `text` in pieces of at most `maxBytes` UTF-8 bytes each, cut between code points (never inside
 * a surrogate pair or a character's bytes).
 */
export function splitUtf8(text: string, maxBytes: number): string[] {
  // Fast path: a UTF-16 unit is at most 3 UTF-8 bytes.
  if (text.length * 3 <= maxBytes) return [text];
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return [text];
  const out: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(bytes.length, start + maxBytes);
    // Back off to the first byte of a character (continuation bytes are 10xxxxxx).
    while (end < bytes.length && end > start && (bytes[end] & 0xc0) === 0x80) end--;
    out.push(bytes.toString('utf8', start, end));
    start = end;
  }
  return out;
}
