/**
 * The dashboard's JSON API as a table: reads (GET) by path pattern, actions (POST) by name. A
 * route returns a plain body and names its redaction policy; the server shapes (and redacts)
 * every body in one place.
 */
import { HEADERS, subjectToken } from '../contract/subjects.ts';
import { dlqRecord, dlqRecords, originalOf, purgeRecords, recordDescriber, replayRecord } from '../ops/dlq.ts';
import { isJobState, readJob, requestCancel } from '../ops/jobs.ts';
import { redactOriginal } from '../ops/dlq-redact.ts';
import { isSealed } from '../security/codec.ts';
import { readLast } from '../last/read.ts';
import type { DashboardData } from './data.ts';
import { parseDuration, parseRfc3339 } from '../ops/format.ts';
import { readUsage } from '../ops/usage-read.ts';
import { readLimits } from '../ops/limits.ts';
import { decide } from '../approval/park.ts';
import { publishReplay } from '../replay/publish.ts';
import { isAltlasError } from '../errors.ts';
import { GROUPINGS, type Grouping } from '../usage/window.ts';
import { recordAction } from '../ops/history.ts';
import { readHistory } from '../status/history.ts';
import { searchFinished } from '../ops/finished.ts';
import { LAST_STATUSES, type LastStatus } from '../last/schema.ts';
import { keptAlt, newestLast, taskDetail } from './detail.ts';

export type { DashboardData } from './data.ts';

/** An answer other than 200, with a message the page shows. */
export class HttpError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface RouteRequest {
  url: URL;
  /** The path's captured part (`/api/jobs/<id>` → the id, decoded). */
  param: string;
  body: Record<string, unknown>;
  /** Who acts (actions). */
  by?: string;
}

type Handler = (d: DashboardData, r: RouteRequest) => Promise<unknown> | unknown;

/**
 * How a body is redacted: `data` for job data (status entries, a job's `.last`: the data policy,
 * so ordinary content comes through as the `.last` has it), `logs` for the rest (dead letters,
 * errors, actions: the logs policy).
 */
export type Policy = 'data' | 'logs';

/** Characters of a DLQ original the page gets at most. */
const MAX_PAYLOAD_CHARS = 200_000;

/** GET routes, matched in order. */
export const READS: { pattern: RegExp; policy: Policy; read: Handler }[] = [
  {
    pattern: /^\/api\/jobs$/,
    policy: 'data',
    read: (d, { url }) => {
      const state = url.searchParams.get('state') || undefined;
      if (state && !isJobState(state)) throw new HttpError(400, `unknown state ${state}`);
      const limit = Math.min(1_000, Math.max(1, Number(url.searchParams.get('limit') ?? 200) || 200));
      const r = d.live.list({ state, q: url.searchParams.get('q') || undefined, limit });
      return { total: r.total, jobs: r.jobs, stats: d.live.stats() };
    },
  },
  {
    // Finished jobs searched in LAST (as altlas jobs --finished): ?since&until (durations or RFC 3339), state, code, q, tenant, limit, page.
    pattern: /^\/api\/finished$/,
    policy: 'data',
    read: async (d, { url }) => {
      const p = url.searchParams;
      const time = (name: string) => {
        const text = p.get(name);
        if (!text) return undefined;
        const back = parseDuration(text);
        const at = back !== null ? new Date(Date.now() - back) : parseRfc3339(text);
        if (!at) throw new HttpError(400, `${name}: "${text}" is neither a duration (15m, 24h, 7d) nor an RFC 3339 time`);
        return at;
      };
      const state = p.get('state') || undefined;
      if (state && !(LAST_STATUSES as readonly string[]).includes(state)) throw new HttpError(400, `state must be one of ${LAST_STATUSES.join(', ')}`);
      const limit = Math.min(1_000, Math.max(1, Number(p.get('limit') ?? 50) || 50));
      const page = p.get('page') ? Number(p.get('page')) : undefined;
      if (page !== undefined && (!Number.isInteger(page) || page < 1)) throw new HttpError(400, 'page is the token of a previous answer');
      return searchFinished(d.dlq.jsm, d.config.LAST_STREAM, {
        since: time('since'), until: time('until'), status: state as LastStatus | undefined, code: p.get('code') || undefined, text: p.get('q') || undefined,
        tenant: p.get('tenant') || undefined, limit, before: page,
      }, d.codec);
    },
  },
  {
    // A job's .alt as received (RUNNER_KEEP_ALT), parsed so that the data policy masks its secrets.
    pattern: /^\/api\/jobs\/(.+)\/alt$/,
    policy: 'data',
    read: (d, { param: id }) => keptAlt(d, id),
  },
  {
    // One task of a finished job: the prompt rebuilt from the kept .alt, and the full output (its artifact fetched now).
    pattern: /^\/api\/jobs\/([^/]+)\/tasks\/([^/]+)$/,
    policy: 'data',
    read: async (d, { url, param: id }) => {
      const task = decodeURIComponent(/\/tasks\/([^/]+)$/.exec(url.pathname)![1]);
      const detail = await taskDetail(d, id, task);
      if (!detail) throw new HttpError(404, `no task ${task} in the .last of job ${id}`);
      return detail;
    },
  },
  {
    // A job's events from the history stream, oldest first (independent of the status bucket's TTL).
    pattern: /^\/api\/jobs\/(.+)\/history$/,
    policy: 'logs',
    read: async (d, { param: id }) => ({ alt_id: id, events: await readHistory({ jsm: d.dlq.jsm, stream: d.config.HISTORY_STREAM, prefix: d.config.HISTORY_SUBJECT_PREFIX, codec: d.codec }, id) }),
  },
  {
    pattern: /^\/api\/jobs\/(.+)$/,
    policy: 'data',
    read: async (d, { param: id }) => {
      const { config } = d;
      // A job that finished within RUNNER_STATUS_FLUSH_MS wrote no entry: its .last is its record.
      const job = [...d.live.jobs.values()].find((j) => j.alt_id === id) ?? await readJob({ kv: d.status, jsm: d.dlq.jsm, config }, id, d.codec).catch(() => null);
      if (!job) {
        // No status entry (expired, or never written): the job as its .last has it, if one is kept.
        const found = await newestLast(d, id);
        if (!found) throw new HttpError(404, `no status for job ${id}`);
        return { job: null, last: found.last };
      }
      const stored = await d.dlq.jsm.streams.getMessage(config.LAST_STREAM, { last_by_subj: `${config.LAST_SUBJECT_PREFIX}.${subjectToken(id)}` }).catch(() => null);
      let last: unknown = null;
      if (stored && stored.header.get(HEADERS.altStreamSeq) === String(job.alt_stream_seq)) {
        try {
          last = readLast(stored.data, d.codec);
        } catch {
          last = null;
        }
      }
      return { job, last };
    },
  },
  { pattern: /^\/api\/fleet$/, policy: 'logs', read: (d) => ({ workers: d.live.workers(), stats: d.live.stats() }) },
  // The models' rate limits as the fleet divides them now (as `altlas limits --json`); none while no worker made the bucket.
  {
    pattern: /^\/api\/limits$/,
    policy: 'logs',
    read: async (d) => ({
      limits: await readLimits({ jsm: d.dlq.jsm, bucket: d.config.AI_LIMITS_BUCKET }).catch((e: Error) => {
        if (/stream not found/i.test(e.message)) return [];
        throw e;
      }),
    }),
  },
  {
    // The AI calls recorded in the usage stream over a window (as `altlas usage --json`): ?since=24h|<RFC 3339>&by=model|tenant|day.
    pattern: /^\/api\/usage$/,
    policy: 'data',
    read: async (d, { url }) => {
      const now = Date.now();
      const sinceText = url.searchParams.get('since') || '24h';
      const back = parseDuration(sinceText);
      const since = back !== null ? new Date(now - back) : parseRfc3339(sinceText);
      if (!since) throw new HttpError(400, `since: "${sinceText}" is neither a duration (15m, 24h, 7d) nor an RFC 3339 time`);
      const by = (url.searchParams.get('by') || null) as Grouping | null;
      if (by !== null && !GROUPINGS.includes(by)) throw new HttpError(400, `by must be one of ${GROUPINGS.join(', ')}`);
      return readUsage(d.dlq.jsm, { stream: d.config.USAGE_STREAM, since, until: new Date(now), by }).catch((e: Error) => {
        if (/stream not found/i.test(e.message)) throw new HttpError(404, `the usage stream ${d.config.USAGE_STREAM} does not exist yet (a worker creates it)`);
        throw e;
      });
    },
  },
  { pattern: /^\/api\/dlq$/, policy: 'logs', read: async (d, { url }) => ({ records: (await dlqRecords(d.dlq, { code: url.searchParams.get('code') || undefined })).map(recordDescriber(d.codec)) }) },
  {
    pattern: /^\/api\/dlq\/([^/]+)$/,
    policy: 'logs',
    read: async (d, { param }) => {
      const seq = Number(param);
      const m = Number.isInteger(seq) && seq > 0 ? await dlqRecord(d.dlq, seq) : null;
      if (!m) throw new HttpError(404, `no DLQ record ${param}`);
      const stored = await originalOf(d.dlq, m);
      const original = isSealed(stored) ? d.codec.open(stored, 'alt') : stored;
      // As `altlas dlq show` shows it: a JSON or YAML original parsed and every secret key's value masked, else its text masked.
      const text = redactOriginal(original, m.header.get(HEADERS.contentType) || undefined);
      const payload = text.length > MAX_PAYLOAD_CHARS ? `${text.slice(0, MAX_PAYLOAD_CHARS)}\n… (${text.length} characters)` : text;
      return { record: recordDescriber(d.codec)(m), payload };
    },
  },
];

const records = async (d: DashboardData, body: Record<string, unknown>) => {
  if (typeof body.seq === 'number') return [await dlqRecord(d.dlq, body.seq)].filter((m) => m !== null);
  if (typeof body.code === 'string' && body.code) return dlqRecords(d.dlq, { code: body.code });
  return null;
};

/** POST actions, by name (they need the token). */
export const ACTIONS: Record<string, Handler> = {
  cancel: async (d, { body, by }) => {
    if (typeof body.alt_id !== 'string' || !body.alt_id) throw new HttpError(400, 'alt_id is required');
    const r = await requestCancel({ kv: d.status, jsm: d.dlq.jsm, config: d.config }, body.alt_id, by ?? 'dashboard', d.codec);
    await recordAction(d.dlq.js, d.config, 'cancel_requested', body.alt_id, { by: by ?? 'dashboard' }, d.codec);
    return r;
  },
  /** Decides the approval task a parked job waits at (as altlas approve): 409 with the code when refused. */
  approve: async (d, { body, by }) => {
    if (typeof body.alt_id !== 'string' || !body.alt_id || typeof body.task !== 'string' || !body.task) throw new HttpError(400, 'alt_id and task are required');
    if (body.comment !== undefined && typeof body.comment !== 'string') throw new HttpError(400, 'comment is a string');
    try {
      const r = await decide({ kv: d.status, jsm: d.dlq.jsm, js: d.dlq.js, objBucket: d.config.RUNNER_OBJECT_BUCKET, codec: d.codec }, {
        altId: body.alt_id, task: body.task, decision: body.reject === true ? 'rejected' : 'approved', comment: typeof body.comment === 'string' ? body.comment : null, by: by ?? 'dashboard',
      });
      await recordAction(d.dlq.js, d.config, r.decision.decision === 'rejected' ? 'rejected' : 'approved', body.alt_id, { by: by ?? 'dashboard', task_id: body.task, detail: { comment: r.decision.comment ?? null } }, d.codec);
      return { alt_id: body.alt_id, ...r.decision, resume_seq: r.resumeSeq };
    } catch (e) {
      if (isAltlasError(e) && e.code.startsWith('APPROVAL_')) throw new HttpError(409, `${e.code}: ${e.message}`);
      throw e;
    }
  },
  /** Runs a finished job again from one task (as altlas replay): `{alt_id, from, alt?, name?, set?}` (no alt: the kept one); 409 with the code when refused. */
  replay_from: async (d, { body, by }) => {
    if (typeof body.alt_id !== 'string' || !body.alt_id || typeof body.from !== 'string' || !body.from) throw new HttpError(400, 'alt_id and from are required');
    if (body.alt !== undefined && (typeof body.alt !== 'string' || !body.alt)) throw new HttpError(400, 'alt is the job\'s .alt text');
    const sets = Array.isArray(body.set) ? body.set : [];
    if (!sets.every((x) => typeof x === 'string')) throw new HttpError(400, 'set is a list of KEY=VALUE texts');
    try {
      const r = await publishReplay({ config: d.config, codec: d.codec, jsm: d.dlq.jsm, js: d.dlq.js, status: d.status }, {
        altId: body.alt_id, from: body.from, alt: typeof body.alt === 'string' ? new TextEncoder().encode(body.alt) : null, hint: typeof body.name === 'string' ? body.name : undefined, sets: sets as string[],
      });
      await recordAction(d.dlq.js, d.config, 'replayed', body.alt_id, { by: by ?? 'dashboard', detail: { from: body.from, seq: r.seq, replay_of: r.last.execution_id } }, d.codec);
      return { alt_id: r.alt_id, replay_of: r.replay_of, from: r.from, kept: r.kept, seq: r.seq };
    } catch (e) {
      if (isAltlasError(e)) throw new HttpError(409, `${e.code}: ${e.message}`);
      throw e;
    }
  },
  replay: async (d, { body, by }) => {
    const list = await records(d, body);
    if (!list) throw new HttpError(400, 'replay takes seq or code');
    if (!list.length) throw new HttpError(404, 'no matching dead letter');
    const replayed = [];
    for (const m of list) {
      const r = await replayRecord(d.dlq, m);
      const altId = m.header.get(HEADERS.altId);
      if (altId && !r.duplicate) await recordAction(d.dlq.js, d.config, 'dlq_replayed', altId, { by: by ?? 'dashboard', detail: { dlq_seq: m.seq, seq: r.seq } }, d.codec);
      replayed.push(r);
    }
    return { replayed };
  },
  purge: async (d, { body }) => {
    // Removing every dead letter is never the default: it takes `all: true`, as the command takes --yes.
    const list = body.all === true ? await dlqRecords(d.dlq) : await records(d, body);
    if (!list) throw new HttpError(400, 'purge takes seq, code, or all: true (to remove every dead letter)');
    return { removed: await purgeRecords(d.dlq, list) };
  },
};
