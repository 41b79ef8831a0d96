/**
 * Publishing a replay (shared by `altlas replay` and the dashboard): the job's `.alt` with the
 * `--set` changes, checked to be that job; its newest `.last` read; the results kept (an output
 * stored as an artifact read back whole) written as the replay's seed; the job published to its
 * original subject with `Altlas-Replay: <id>`.
 */
import { randomUUID } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { decodeAlt } from '../alt/decode.ts';
import { DEFAULT_DECODE_LIMITS } from '../alt/limits.ts';
import { parsePayload } from '../alt/parse.ts';
import type { Config } from '../config/schema.ts';
import { AltlasError } from '../errors.ts';
import { parseArtifactUrl } from '../last/artifacts.ts';
import type { Last } from '../last/index.ts';
import { subjectToken } from '../contract/subjects.ts';
import type { Codec } from '../security/codec.ts';
import { readObject } from '../status/store-access.ts';
import { readLast } from '../last/read.ts';
import { applySet, keptResults, parseSet } from './plan.ts';
import { REPLAY_HEADER, keptAltObject, seedKey, type ReplaySeed } from './seed.ts';

export interface ReplayRequest {
  altId: string;
  from: string;
  /** The job's `.alt` (JSON or YAML) and a name or content type for its syntax; absent: the one kept by RUNNER_KEEP_ALT. */
  alt?: Uint8Array | null;
  hint?: string;
  /** `KEY=VALUE` texts. */
  sets: readonly string[];
}

export interface ReplaySession {
  config: Config;
  codec: Codec;
  jsm: JetStreamManager;
  js: JetStreamClient;
  /** The status bucket (the seed goes there). */
  status: KV;
}

export interface Replayed {
  alt_id: string;
  replay_of: string;
  from: string;
  kept: string[];
  seq: number;
  /** The `.last` replayed (to wait for the next one). */
  last: Last;
}

/** The subject of a job's results. */
export const lastSubjectOf = (config: Pick<Config, 'LAST_SUBJECT_PREFIX'>, altId: string) => `${config.LAST_SUBJECT_PREFIX}.${subjectToken(altId)}`;

/** Publishes a replay; throws REPLAY_INVALID (and the decoder's codes for an invalid `.alt`). */
export async function publishReplay(s: ReplaySession, r: ReplayRequest): Promise<Replayed> {
  const { config, codec } = s;
  const sets = r.sets.map(parseSet);
  let alt = r.alt ?? null;
  if (!alt) {
    // Kept in RUNNER_BODY_BUCKET (by an earlier version: in RUNNER_OBJECT_BUCKET).
    const kept = await readObject(s.jsm, config.RUNNER_BODY_BUCKET, keptAltObject(r.altId)).catch(() => null)
      ?? await readObject(s.jsm, config.RUNNER_OBJECT_BUCKET, keptAltObject(r.altId)).catch(() => null);
    if (!kept) throw new AltlasError('REPLAY_INVALID', `no .alt of job ${r.altId} is kept (workers keep them with RUNNER_KEEP_ALT=true): give the job's .alt`, { context: { altId: r.altId } });
    alt = codec.open(kept, 'alt');
  }
  const doc = structuredClone(parsePayload(alt, DEFAULT_DECODE_LIMITS, r.hint).value) as Record<string, unknown>;
  for (const x of sets) applySet(doc, x);
  const body = JSON.stringify(doc);
  const decoded = decodeAlt(body);
  if (!decoded.ok) throw decoded.error;
  if (decoded.job.id !== r.altId) throw new AltlasError('REPLAY_INVALID', `the .alt given is job ${decoded.job.id}, not ${r.altId}`, { context: { altId: r.altId } });
  const stored = await s.jsm.streams.getMessage(config.LAST_STREAM, { last_by_subj: lastSubjectOf(config, r.altId) }).catch(() => null);
  if (!stored) throw new AltlasError('REPLAY_INVALID', `job ${r.altId} has no .last in ${config.LAST_STREAM}: only a finished job is replayed`, { context: { altId: r.altId } });
  const last = readLast(stored.data, codec);
  const kept = keptResults(decoded.job, last, r.from);
  // An output stored as an artifact: the .last keeps a preview; the seed takes the whole text.
  for (const k of kept) {
    const art = (last.artifacts ?? []).find((a) => a.task_id === k.task_id && (a.metadata as Record<string, unknown>).stored === 'object');
    const loc = art ? parseArtifactUrl(art.path) : null;
    if (loc?.kind === 'obj' && k.output) {
      const blob = await readObject(s.jsm, loc.bucket, loc.name).catch(() => null);
      if (!blob) throw new AltlasError('REPLAY_INVALID', `the output of task ${k.task_id} (${art!.path}) is gone: it cannot be kept`, { context: { altId: r.altId } });
      k.output = { ...k.output, text: new TextDecoder().decode(codec.open(blob, `obj:${loc.name}`)) };
    }
  }
  const id = randomUUID().replace(/-/g, '');
  const seed: ReplaySeed = { alt_id: r.altId, replay_of: { execution_id: last.execution_id, from: r.from, kept: kept.length, ...(sets.length ? { set: sets.map((x) => x.path) } : {}) }, results: kept };
  await s.status.put(seedKey(id), new TextEncoder().encode(JSON.stringify(seed)));
  const h = natsHeaders();
  h.set(REPLAY_HEADER, id);
  h.set('Content-Type', 'application/json');
  const subject = typeof last.metadata.source_subject === 'string' ? last.metadata.source_subject : config.ALT_SUBJECTS.split(',')[0].trim().replace(/\.>$/, '.submit');
  const ack = await s.js.publish(subject, codec.encrypts ? codec.seal(new TextEncoder().encode(body), 'alt') : body, { headers: h, msgID: `replay:${subjectToken(r.altId)}:${id}` });
  return { alt_id: r.altId, replay_of: last.execution_id, from: r.from, kept: kept.map((k) => k.task_id), seq: ack.seq, last };
}
