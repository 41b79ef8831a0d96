/**
 * A job's `.last` in the LAST stream, by subject (`<LAST_SUBJECT_PREFIX>.<job id token>`, the
 * last message stored on it): the record of a finished job that wrote no status entry (one that
 * finished within RUNNER_STATUS_FLUSH_MS). A plain message get: the reader role suffices.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Config } from '../config/schema.ts';
import { HEADERS, subjectToken } from '../contract/subjects.ts';
import type { Codec } from '../security/codec.ts';
import { readLast } from './read.ts';
import type { Last } from './schema.ts';

export type LookupConfig = Pick<Config, 'LAST_STREAM' | 'LAST_SUBJECT_PREFIX'>;

export interface StoredLast {
  last: Last;
  /** When the server stored it (ISO 8601). */
  storedAt: string;
  /** The sequence of the ALT message it is the result of (its Alt-Stream-Seq header), when it says. */
  altStreamSeq: number | null;
}

/** The subject a job's `.last` is stored on. */
export const lastSubjectOf = (config: Pick<Config, 'LAST_SUBJECT_PREFIX'>, altId: string) => `${config.LAST_SUBJECT_PREFIX}.${subjectToken(altId)}`;

/**
 * The newest `.last` stored for a job, or null when there is none (or the stream does not exist).
 * Throws when it cannot be read (ALT_DECRYPT without its key) or the server does not answer.
 */
export async function lookupLast(jsm: JetStreamManager, config: LookupConfig, altId: string, codec: Codec): Promise<StoredLast | null> {
  const stored = await jsm.streams.getMessage(config.LAST_STREAM, { last_by_subj: lastSubjectOf(config, altId) }).catch((e: Error) => {
    if (/no message found|stream not found|not found/i.test(e.message)) return null;
    throw e;
  });
  if (!stored) return null;
  const last = readLast(stored.data, codec);
  // A .last on this job's subject names this job (a copy of another job's, put there by a JetStream
  // API answer whose reply subject named it, is not this job's).
  if (typeof last.alt_file_id !== 'string' || subjectToken(last.alt_file_id) !== subjectToken(altId)) return null;
  const seq = Number(stored.header?.get(HEADERS.altStreamSeq));
  return { last, storedAt: stored.time.toISOString(), altStreamSeq: Number.isInteger(seq) && seq > 0 ? seq : null };
}
