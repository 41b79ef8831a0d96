/**
 * The decode worker thread: decodes payloads sent by {@link DecodePool} and answers with the
 * job or a plain copy of the error. A payload that would take too long is the pool's business:
 * it terminates this thread.
 */
import { parentPort } from 'node:worker_threads';
import { decodeAlt } from './decode.ts';
import type { DecodeLimits } from './limits.ts';

interface Request {
  id: number;
  bytes: Uint8Array;
  hint?: string;
  limits: DecodeLimits;
}

parentPort!.on('message', (req: Request) => {
  const r = decodeAlt(req.bytes, { hint: req.hint, limits: req.limits });
  if (r.ok) parentPort!.postMessage({ id: req.id, ok: true, job: r.job, warnings: r.warnings, syntax: r.syntax });
  else parentPort!.postMessage({ id: req.id, ok: false, error: { code: r.error.code, message: r.error.message, problems: r.error.problems, context: r.error.context }, header: r.header });
});
