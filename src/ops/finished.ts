/**
 * Finished jobs, searched in the LAST stream (not the status bucket: a job is found as long as its
 * `.last` is kept, LAST_MAX_AGE_MS, whatever RUNNER_STATUS_TTL_MS): by time range (when the `.last`
 * was stored), status, error code (the job's, or any task's), title text and tenant, newest first,
 * a page at a time. Read by message gets (no consumer), at most {@link MAX_SCAN} messages per page:
 * a page that stopped there says where the next one starts.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { HEADERS } from '../contract/subjects.ts';
import { readLast } from '../last/read.ts';
import type { Last, LastStatus } from '../last/schema.ts';
import { IDENTITY_CODEC, type Codec } from '../security/codec.ts';
import { firstSeqSince } from '../status/store-access.ts';
import { tenantToken } from '../flow/lanes.ts';

/** Messages of LAST one page reads at most. */
export const MAX_SCAN = 20_000;
const BATCH = 64;

export interface FinishedFilter {
  /** Stored at or after. */
  since?: Date;
  /** Stored before. */
  until?: Date;
  status?: LastStatus;
  /** An error code of the job or of one of its tasks. */
  code?: string;
  /** Text in the title or the job id (case-insensitive). */
  text?: string;
  /** The tenant as given to publish (`beta.corp`), or its subject token (`beta_corp-44175d72`): the token of the subject the job came on. */
  tenant?: string;
  /** Jobs per page. */
  limit: number;
  /** The page token of the previous page: the search goes on below this stream sequence. */
  before?: number;
}

export interface FinishedJob {
  alt_id: string;
  title: string;
  status: LastStatus;
  success_rate: number;
  tasks_done: number;
  tasks_total: number;
  /** The job's error code (a failure form), else the first task's error code, else null. */
  code: string | null;
  tenant: string | null;
  execution_id: string;
  duration_ms: number;
  stored_at: string;
  /** The `.last`'s sequence in LAST. */
  seq: number;
}

export interface FinishedPage {
  jobs: FinishedJob[];
  /** Give it as `before` for the next page; null: no more. */
  next: number | null;
  /** Messages read. */
  scanned: number;
}

const codesOf = (last: Last): string[] => {
  const own = typeof last.metadata?.error_code === 'string' ? [last.metadata.error_code] : [];
  const tasks = Object.values(last.task_results ?? {}).map((r) => r.metadata?.error_code).filter((c): c is string => typeof c === 'string');
  return [...own, ...tasks];
};

/** The form of an error code a search takes (ALT_SCHEMA, AI_REJECTED, ...): the command and the dashboard refuse any other. */
export const CODE_FORM = /^[A-Z][A-Z0-9_]{0,63}$/;

/** The most jobs a page of a finished-jobs search holds (the command's and the dashboard's `limit`). */
export const PAGE_MAX = 1_000;

/** A page size as given: a whole number from 1 to PAGE_MAX in decimal digits (Number() would take 1e3, 0x4 and ' 3' too), else null. */
export const pageLimit = (text: string): number | null => {
  const n = /^[0-9]{1,4}$/.test(text) ? Number(text) : 0;
  return n >= 1 && n <= PAGE_MAX ? n : null;
};

/** What is wrong with a time range (a start later than its end), or null. */
export const rangeProblem = (since: Date | undefined, until: Date | undefined): string | null =>
  since && until && since.getTime() > until.getTime() ? `since (${since.toISOString()}) is later than until (${until.toISOString()})` : null;

/** Newest first, one page. */
export async function searchFinished(jsm: JetStreamManager, stream: string, filter: FinishedFilter, codec: Codec = IDENTITY_CODEC): Promise<FinishedPage> {
  const info = await jsm.streams.info(stream);
  const { first_seq: first, last_seq: last, messages } = info.state;
  if (messages === 0) return { jobs: [], next: null, scanned: 0 };
  const lo = filter.since ? await firstSeqSince(jsm, stream, first, last, filter.since) : first;
  let hi = filter.until ? (await firstSeqSince(jsm, stream, first, last, filter.until)) - 1 : last;
  if (filter.before !== undefined) hi = Math.min(hi, filter.before - 1);
  const text = filter.text?.toLowerCase();
  // The name publish was given maps to its token the way publish maps it; the token itself matches too.
  const tenants = filter.tenant === undefined ? null : new Set([filter.tenant, tenantToken(filter.tenant)]);
  const jobs: FinishedJob[] = [];
  let scanned = 0;
  let seq = hi;
  while (seq >= lo && jobs.length < filter.limit && scanned < MAX_SCAN) {
    const from = Math.max(lo, seq - BATCH + 1);
    const batch = await Promise.all(Array.from({ length: seq - from + 1 }, (_, i) => jsm.streams.getMessage(stream, { seq: seq - i }).catch(() => null)));
    for (const m of batch) {
      seq--;
      scanned++;
      if (!m) continue;
      const tenant = m.header?.get(HEADERS.lastTenant) || null;
      if (tenants && (tenant === null || !tenants.has(tenant))) continue;
      const status = m.header?.get(HEADERS.lastStatus) as LastStatus | undefined;
      if (filter.status && status && status !== filter.status) continue;
      let doc: Last;
      try {
        doc = readLast(m.data, codec);
      } catch {
        continue;
      }
      if (filter.status && doc.status !== filter.status) continue;
      const codes = codesOf(doc);
      if (filter.code && !codes.includes(filter.code)) continue;
      if (text && !doc.title.toLowerCase().includes(text) && !doc.alt_file_id.toLowerCase().includes(text)) continue;
      const results = Object.values(doc.task_results ?? {});
      jobs.push({
        alt_id: doc.alt_file_id, title: doc.title, status: doc.status, success_rate: doc.success_rate,
        tasks_done: results.filter((r) => r.status === 'completed').length, tasks_total: results.length, code: codes[0] ?? null, tenant,
        execution_id: doc.execution_id, duration_ms: doc.execution_time_ms, stored_at: m.time.toISOString(), seq: m.seq,
      });
      if (jobs.length >= filter.limit) break;
    }
  }
  return { jobs, next: seq >= lo ? seq + 1 : null, scanned };
}
