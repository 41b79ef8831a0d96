/**
 * A dead letter as `altlas dlq show` (and the dashboard) shows it: the original job is the
 * user's data, redacted with the data policy (exact secret key names and precise credential
 * formats, so ordinary text comes through unchanged), parsed within the decoding limits when it
 * parses (every secret key's value masked, at any depth) and as text when it does not; header
 * values (error texts among them) with the logs policy.
 */
import type { MsgHdrs } from '@nats-io/nats-core';
import { DEFAULT_DECODE_LIMITS } from '../alt/limits.ts';
import { parsePayload } from '../alt/parse.ts';
import { redactData, redactDataText, redactText } from '../security/redact.ts';
import { stringify } from 'yaml';

/** The original bytes of a dead letter as text with its secrets masked; JSON and YAML keep their syntax. */
export function redactOriginal(bytes: Uint8Array, hint?: string, extra?: readonly string[]): string {
  try {
    const { value, syntax } = parsePayload(bytes, DEFAULT_DECODE_LIMITS, hint);
    const safe = redactData(value, extra);
    return syntax === 'json' ? JSON.stringify(safe, null, 2) : stringify(safe);
  } catch {
    // Not a document (the reason it was dead-lettered, often): its text, its credentials masked.
    return redactDataText(Buffer.from(bytes).toString('utf8'), extra);
  }
}

/** Every header of a dead letter, each value redacted. */
export function redactHeaders(h: MsgHdrs): Record<string, string> {
  return Object.fromEntries([...h].map(([k, v]) => [k, redactText(v.join(', '))]));
}
