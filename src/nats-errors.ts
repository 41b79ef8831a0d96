/**
 * Which NATS failures are passing (the server restarting, a cut connection, a request that got no
 * answer in time) as opposed to what an operator must fix (a missing bucket, a permission, a
 * server without JetStream, which answers "no responders"). A worker that meets a passing one
 * while it starts tries again; the others end the start-up.
 */
import { ClosedConnectionError, ConnectionError, RequestError, TimeoutError } from '@nats-io/nats-core';
import { JetStreamApiError } from '@nats-io/jetstream';

/** JetStream's "temporarily unavailable" answers (a server still recovering its streams, a lost quorum). */
const UNAVAILABLE = /temporarily unavailable|no suitable peers|insufficient resources/i;

/** True when `e` (or an error in its cause chain) is a passing failure of the connection or of JetStream. */
export function isPassingNatsError(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x && depth < 8; x = (x as { cause?: unknown }).cause, depth++) {
    if (x instanceof TimeoutError || x instanceof ClosedConnectionError || x instanceof ConnectionError) return true;
    if (x instanceof RequestError && /timeout|closed|disconnect/i.test(x.message)) return true;
    if (x instanceof JetStreamApiError && (x.code === 503 || UNAVAILABLE.test(x.message))) return true;
    if (x instanceof Error && (x.name === 'TimeoutError' || /\b(timeout|timed out|connection (closed|lost)|disconnected)\b/i.test(x.message))) return true;
  }
  return false;
}
