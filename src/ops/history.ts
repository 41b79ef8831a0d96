/**
 * What operators do, in the jobs' (and the fleet's) history: a cancel request, an approval, a
 * replay, a pause, a drain... each with who did it. The identity is the NATS user the command
 * connects as (NATS_USER, or the name in the user JWT of NATS_CREDS), else the system user and
 * host; the dashboard's actions carry the name of the token they came with.
 */
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Config } from '../config/schema.ts';
import { IDENTITY_CODEC, type Codec } from '../security/codec.ts';
import { FLEET, fleetHistorySubject, historyEvent, historySubject, type HistoryEvent, type HistoryEventType } from '../status/history.ts';

export type HistoryConfig = Pick<Config, 'HISTORY_ENABLED' | 'HISTORY_SUBJECT_PREFIX'>;

/** The `name` claim of the user JWT in a .creds file, or null. */
export function credsUserName(path: string): string | null {
  try {
    const text = readFileSync(path, 'utf8');
    const jwt = /-----BEGIN NATS USER JWT-----\s*([A-Za-z0-9._-]+)\s*------END NATS USER JWT------/.exec(text)?.[1];
    const payload = jwt?.split('.')[1];
    if (!payload) return null;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { name?: unknown };
    return typeof claims.name === 'string' && claims.name ? claims.name : null;
  } catch {
    return null;
  }
}

/** Who acts, for a command line: `nats:<user>` when the NATS user is known, else `<system user>@<host>`. */
export function actorOf(c: Pick<Config, 'NATS_USER' | 'NATS_CREDS'>): string {
  const user = c.NATS_USER || (c.NATS_CREDS ? credsUserName(c.NATS_CREDS) : null);
  if (user) return `nats:${user}`;
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // no passwd entry (a container's numeric user)
  }
  return `${name}@${hostname()}`;
}

/**
 * Stores one action in the history (waiting for the stream's ack: an operator's command is no hot
 * path). False when history is off or the event could not be stored; an action is never refused
 * for its history. `at`: when the action began, taken before what it does (a publish, a control
 * write), so the timeline shows it before its effects even when it is stored after them.
 */
export async function recordAction(js: JetStreamClient, c: HistoryConfig, type: HistoryEventType, altId: string, fields: Omit<HistoryEvent, 'type' | 'alt_id' | 'at'>, codec: Codec = IDENTITY_CODEC, at = new Date()): Promise<boolean> {
  if (!c.HISTORY_ENABLED) return false;
  const event = historyEvent(type, altId, fields, at);
  const subject = altId === FLEET ? fleetHistorySubject(c.HISTORY_SUBJECT_PREFIX) : historySubject(c.HISTORY_SUBJECT_PREFIX, altId);
  const bytes = new TextEncoder().encode(JSON.stringify(event));
  try {
    await js.publish(subject, codec.encrypts ? codec.seal(bytes, `history:${altId}`) : bytes, { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}
