/**
 * The workers' sweep of parked jobs (every RUNNER_APPROVAL_SWEEP_MS): a park past its timeout is
 * decided by its on_timeout (compare-and-set on the decision key: one worker wins, a person's
 * decision before it stands) and resumed; a park decided but not resumed after a sweep interval
 * (the deciding command stopped between its decision and its publish) is resumed again (the
 * resume's message id makes a second publish a duplicate); a park whose job an operator cancelled
 * (altlas cancel) is resumed undecided, and its run ends cancelled; a park waiting for its
 * tenant's budget is resumed once its period turned (`resume_at`), by one worker (a compare-and-set
 * marks the resume sent; it is sent again when no worker took it a grace later). No worker needs
 * to hold the job.
 */
import type { KV } from '@nats-io/kv';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { isAltlasError } from '../errors.ts';
import type { Codec } from '../security/codec.ts';
import { bucketEntries } from '../status/store-access.ts';
import type { Logger } from '../telemetry/logger.ts';
import { isDecisionOf, type Decision } from './kind.ts';
import { cancelKey } from '../status/status.ts';
import { cancelCovers, cancelRequestOf, type CancelRequest } from '../status/fleet.ts';
import { decide, decisionKey, isBudgetPark, parkKey, resume, type ParkRecord } from './park.ts';

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

/** One pass over the parks (two listings of the status bucket, no read per park); returns how many it resumed. */
export async function sweepParks(o: SweepOptions): Promise<number> {
  const now = o.now ?? Date.now;
  const dec = new TextDecoder();
  let resumed = 0;
  // A value that is not what its key holds (not JSON; put there another way) is passed over.
  const parsed = (bytes: Uint8Array): unknown => {
    try {
      // Stryker disable BlockStatement: the catch returning undefined instead of null: passed over alike (no decision, no cancel's job, no park).
      return JSON.parse(dec.decode(bytes));
    } catch {
      // Stryker restore BlockStatement
      return null;
    }
  };
  const decisions = new Map<string, unknown>();
  for (const e of await bucketEntries(o.jsm, o.statusBucket, 'decision.>')) {
    if (e.operation === 'PUT' && e.value.length) decisions.set(e.key, parsed(e.value));
  }
  // Jobs an operator cancelled (altlas cancel): a parked one is resumed so that it ends cancelled,
  // when it was parked from a message stored before the cancel (a job parked later is not the one it was meant for).
  const cancels = new Map<string, CancelRequest>();
  for (const e of await bucketEntries(o.jsm, o.statusBucket, 'cancel.*')) {
    const req = e.operation === 'PUT' && e.value.length ? cancelRequestOf(parsed(e.value)) : null;
    if (req && e.key === cancelKey(req.alt_id)) cancels.set(req.alt_id, req);
  }
  for (const e of await bucketEntries(o.jsm, o.statusBucket, 'park.*')) {
    if (e.operation !== 'PUT' || e.value.length === 0) continue;
    const park = parsed(e.value) as ParkRecord | null;
    if (!park || typeof park.alt_id !== 'string' || typeof park.task !== 'string' || e.key !== parkKey(park.alt_id)) continue;
    if (park.resumed_seq !== undefined) continue;
    const value = decisions.get(decisionKey(park.alt_id, park.task));
    const decided: Decision | undefined = isDecisionOf(value, park.alt_id, park.task) ? value : undefined;
    const cancel = cancels.get(park.alt_id);
    if (!decided && cancel && cancelCovers(cancel, park)) {
      await resume(o, park).then(() => resumed++).catch((err: Error) => o.logger.warn('could not resume a cancelled parked job', { alt_id: park.alt_id, error: err.message }));
      continue;
    }
    if (isBudgetPark(park)) {
      if (await resumeBudgetPark(o, park, now())) resumed++;
      continue;
    }
    if (!decided && park.timeout_at && Date.parse(park.timeout_at) <= now()) {
      try {
        const r = await decide({ ...o, now }, { altId: park.alt_id, task: park.task, decision: BY_TIMEOUT[park.on_timeout] ?? 'failed', comment: null, by: 'timeout' });
        o.logger.info('an approval timed out: decided by its on_timeout and resumed', { alt_id: park.alt_id, task_id: park.task, decision: r.decision.decision });
        resumed++;
      } catch (err) {
        // A person (or another worker) decided first: that decision stands, and its resume is theirs.
        if (!isAltlasError(err, 'APPROVAL_DECIDED')) o.logger.warn('could not apply an approval timeout', { alt_id: park.alt_id, task_id: park.task, error: (err as Error).message });
      }
      continue;
    }
    // Decided, yet not resumed a sweep interval later: the decider stopped between its decision and its publish.
    if (!decided || now() - Date.parse(decided.decided_at) < o.graceMs) continue;
    await resume(o, park).then(() => resumed++).catch((err: Error) => o.logger.warn('could not resume a decided job', { alt_id: park.alt_id, error: err.message }));
  }
  return resumed;
}

/**
 * A budget park whose period turned: marked sent (compare-and-set on its record, so one sweeping
 * worker publishes it) and resumed; published again once a grace passed with no worker taking it.
 */
async function resumeBudgetPark(o: SweepOptions, park: ParkRecord, now: number): Promise<boolean> {
  if (!park.resume_at || Date.parse(park.resume_at) > now) return false;
  if (park.resume_sent_at && now - Date.parse(park.resume_sent_at) < o.graceMs) return false;
  const key = parkKey(park.alt_id);
  try {
    const e = await o.kv.get(key);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return false;
    const current = JSON.parse(new TextDecoder().decode(e.value)) as ParkRecord;
    // Another worker's sweep (or a resume) was first.
    if (current.resumed_seq !== undefined || current.resume_sent_at !== park.resume_sent_at || current.seq !== park.seq) return false;
    await o.kv.update(key, new TextEncoder().encode(JSON.stringify({ ...current, resume_sent_at: new Date(now).toISOString() })), e.revision);
  } catch {
    return false;
  }
  try {
    await resume(o, park);
    o.logger.info('a job waiting for its tenant\'s budget resumes: the period turned', { alt_id: park.alt_id, code: 'BUDGET_WAIT', resume_at: park.resume_at });
    return true;
  } catch (err) {
    o.logger.warn('could not resume a job waiting for its tenant\'s budget; the sweep tries again', { alt_id: park.alt_id, error: (err as Error).message });
    return false;
  }
}
