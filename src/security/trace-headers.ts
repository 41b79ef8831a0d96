/**
 * W3C `baggage` and `tracestate` travel from a job to its `.last` and DLQ copy (copied, or
 * injected again from the propagated context). They are producer data copied into results, so
 * each member goes through the data policy: a member whose key names a secret, or whose value
 * holds a credential, keeps its key with the value `[REDACTED]`. Under PAYLOAD_KEYS neither
 * header is written at all: a header cannot be encrypted, and the trace goes on by traceparent.
 */
import type { MsgHdrs } from '@nats-io/nats-core';
import { REDACTED, isSecretKeyName, redactDataText } from './redact.ts';

const decode = (v: string) => {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
};

/** One `key=value;props,key2=value2` list with secret members' values masked. */
export function redactMemberList(list: string): string {
  return list.split(',').map((member) => {
    const eq = member.indexOf('=');
    if (eq < 0) return member;
    const key = member.slice(0, eq).trim();
    const rest = member.slice(eq + 1);
    const semi = rest.indexOf(';');
    const value = semi < 0 ? rest : rest.slice(0, semi);
    const props = semi < 0 ? '' : rest.slice(semi);
    const plain = decode(value.trim());
    const secret = isSecretKeyName(key) || redactDataText(plain) !== plain || redactDataText(`${key}=${plain}`) !== `${key}=${plain}`;
    return secret ? `${member.slice(0, eq)}=${REDACTED}${redactDataText(props)}` : member;
  }).join(',');
}

/** Makes the trace headers of an outgoing `.last` or DLQ copy safe: redacted, or dropped when payloads are encrypted. */
export function sanitizeTraceHeaders(h: MsgHdrs, encrypted: boolean): void {
  for (const name of ['baggage', 'tracestate']) {
    const v = h.get(name);
    if (!v) continue;
    if (encrypted) h.delete(name);
    else {
      const safe = redactMemberList(v);
      if (safe !== v) h.set(name, safe);
    }
  }
}
