/**
 * The workers' sweep of parked jobs (every RUNNER_APPROVAL_SWEEP_MS): a park past its timeout is
 * decided by its on_timeout (compare-and-set on the decision key: one worker wins, a person's
 * decision before it stands) and resumed; a park decided but not resumed after a sweep interval
 * (the deciding command stopped between its decision and its publish) is resumed again (the
 * resume's message id makes a second publish a duplicate). No worker needs to hold the job.
 */
import type { KV } from '@nats-io/kv';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { isAltlasError } from '../errors.ts';
import type { Codec } from '../security/codec.ts';
import { bucketEntries } from '../status/store-access.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Decision } from './kind.ts';
import { decide, decisionKey, readPark, resume } from './park.ts';

export interface SweepOptions {
  kv: KV;
  jsm: JetStreamManager;
  js: JetStreamClient;
  statusBucket: string;
  objBucket: string;
  codec?: Codec;
  logger: Logger;
  /** How long a decision may wait for its resume before the sweep publishes it again. */
  graceMs: number;
  now?: () => number;
}

const BY_TIMEOUT: Record<string, Decision['decision']> = { approve: 'approved', reject: 'rejected', fail: 'failed' };

/** One pass over the parks; returns how many it resumed. */
export async function sweepParks(o: SweepOptions): Promise<number> {
  const now = o.now ?? Date.now;
  let resumed = 0;
  for (const e of await bucketEntries(o.jsm, o.statusBucket, 'park.*')) {
    if (e.operation !== 'PUT' || e.value.length === 0) continue;
    const altId = (JSON.parse(new TextDecoder().decode(e.value)) as { alt_id: string }).alt_id;
    const found = await readPark(o.kv, altId, o.codec);
    if (!found || found.park.resumed_seq !== undefined) continue;
    const { park } = found;
    try {
      if (park.timeout_at && Date.parse(park.timeout_at) <= now()) {
        const r = await decide({ ...o, objBucket: o.objBucket, now }, { altId, task: park.task, decision: BY_TIMEOUT[park.on_timeout] ?? 'failed', comment: null, by: 'timeout' });
        o.logger.info('an approval timed out: decided by its on_timeout and resumed', { alt_id: altId, task_id: park.task, decision: r.decision.decision });
        resumed++;
        continue;
      }
    } catch (err) {
      if (!isAltlasError(err, 'APPROVAL_DECIDED')) {
        o.logger.warn('could not apply an approval timeout', { alt_id: altId, task_id: park.task, error: (err as Error).message });
        continue;
      }
    }
    const d = await o.kv.get(decisionKey(altId, park.task));
    if (!d || d.operation !== 'PUT' || d.value.length === 0) continue;
    const decided = d.json<Decision>();
    if (now() - Date.parse(decided.decided_at) < o.graceMs) continue;
    await resume(o, park).then(() => resumed++).catch((err: Error) => o.logger.warn('could not resume a decided job', { alt_id: altId, error: err.message }));
  }
  return resumed;
}
