/**
 * A replay's seed: the recorded results a replay keeps, written by `altlas replay` to the status
 * bucket (`replay.<id>`, removed by its TTL) and read by the worker that takes the replay message
 * (header `Altlas-Replay: <id>`): they are its resume, so those tasks are not run again.
 */
import type { KV } from '@nats-io/kv';
import type { TaskResult } from '../engine/types.ts';
import { subjectToken } from '../contract/subjects.ts';

export const REPLAY_HEADER = 'Altlas-Replay';
export const seedKey = (id: string) => `replay.${id}`;

/** The object a job's `.alt` is kept under (RUNNER_KEEP_ALT). */
export const keptAltObject = (altId: string) => `alt/${subjectToken(altId)}`;

export interface ReplaySeed {
  alt_id: string;
  /** What the new `.last` records in `metadata.replay_of`. */
  replay_of: { execution_id: string; from: string; kept: number; set?: string[] };
  results: TaskResult[];
}

/** Reads a seed; null when there is none (expired, or a key never written). */
export async function readSeed(kv: KV, id: string): Promise<ReplaySeed | null> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return null;
  const e = await kv.get(seedKey(id));
  return e && e.operation === 'PUT' && e.value.length ? e.json<ReplaySeed>() : null;
}
