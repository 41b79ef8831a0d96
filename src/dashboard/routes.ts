/**
 * The dashboard's JSON API as a table: reads (GET) by path pattern, actions (POST) by name. A
 * route returns a plain body and names its redaction policy; the server shapes (and redacts)
 * every body in one place.
 */
import { HEADERS, subjectToken } from '../contract/subjects.ts';
import { dlqRecord, dlqRecords, originalToShow, purgeRecords, recordDescriber, replayRecord } from '../ops/dlq.ts';
import { isJobState, readJob, requestCancel } from '../ops/jobs.ts';
import { redactOriginal } from '../ops/dlq-redact.ts';
import { isSealed } from '../security/codec.ts';
import { redactValue } from '../security/redact.ts';
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
import { readHistory } from '../status/history-read.ts';
import { CODE_FORM, PAGE_MAX, pageLimit, rangeProblem, searchFinished } from '../ops/finished.ts';
import { LAST_STATUSES, type LastStatus } from '../last/schema.ts';
import { keptAlt, newestLast, taskDetail } from './detail.ts';
import { readPause } from '../ops/control.ts';

export type { DashboardData } from './data.ts';

/** The stable code of each answer other than 200 (the body is `{error, code}`); a 409 carries the refusing error's own code. */
export const HTTP_CODES: Record<number, string> = {
  400: 'BAD_INPUT', 401: 'UNAUTHORIZED', 403: 'READ_ONLY', 404: 'NOT_FOUND', 405: 'METHOD_NOT_ALLOWED', 409: 'REFUSED',
  413: 'BODY_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE', 421: 'HOST_NOT_ALLOWED', 500: 'INTERNAL', 503: 'NOT_READY',
};

/** An answer other than 200, with a message the page shows and a stable code. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, message: string, code = HTTP_CODES[status] ?? 'INTERNAL') {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Bad input: 400 BAD_INPUT. */
export const bad = (message: string) => new HttpError(400, message);

/** Characters of a job id, a task id or a search the dashboard takes at most. */
const MAX_ID = 256;
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A `limit` query parameter: a whole number from 1 to 1000 in decimal digits (absent: `fallback`). */
function limitOf(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = pageLimit(text);
  if (n === null) throw bad(`limit must be a whole number from 1 to ${PAGE_MAX}`);
  return n;
}

/** A job id, task id or similar: a non-empty string of at most 256 characters, no control characters. */
export function id(v: unknown, name: string): string {
  if (typeof v !== 'string' || !v) throw bad(`${name} is required (a non-empty string)`);
  if (v.length > MAX_ID) throw bad(`${name} is longer than ${MAX_ID} characters`);
  if (CONTROL.test(v)) throw bad(`${name} holds control characters`);
  return v;
}

/** A path's id, as {@link id} checks it. */
export const idParam = (v: string, name: string) => id(v, name);

/** A DLQ sequence: a positive whole number. */
function seqOf(v: unknown, name = 'seq'): number {
  const n = typeof v === 'string' && /^[0-9]{1,15}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) throw bad(`${name} must be a positive whole number`);
  return n;
}

/** An error code filter (ALT_SCHEMA, MAX_DELIVER_EXCEEDED, ...). */
function codeOf(v: unknown): string {
  if (typeof v !== 'string' || !CODE_FORM.test(v)) throw bad('code must be an error code (upper-case letters, digits and _)');
  return v;
}

/** A body holds only the fields an action takes (a misspelt filter is refused, not ignored). */
export function only(body: Record<string, unknown>, fields: readonly string[]): void {
  const extra = Object.keys(body).filter((k) => !fields.includes(k));
  if (extra.length) throw bad(`unknown field${extra.length > 1 ? 's' : ''} ${extra.slice(0, 5).join(', ')} (this action takes ${fields.length ? fields.join(', ') : 'none'})`);
}

/** A query parameter, at most `max` characters. */
function query(url: URL, name: string, max = MAX_ID): string | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  if (v.length > max || CONTROL.test(v)) throw bad(`${name}: at most ${max} characters, no control characters`);
  return v;
}

export interface RouteRequest {
  url: URL;
  /** The path's captured part (`/api/jobs/<id>` → the id, decoded). */
  param: string;
  body: Record<string, unknown>;
  /** Who acts (actions). */
  by?: string;
}

export type Handler = (d: DashboardData, r: RouteRequest) => Promise<unknown> | unknown;

/**
 * How a body is redacted: `data` for job data (status entries, a job's `.last`: the data policy,
 * so ordinary content comes through as the `.last` has it), `logs` for the rest (dead letters,
 * errors, actions: the logs policy); `masked` for a body its route masked itself, part by part
 * (a dead letter: its record under the logs policy, its original under the data policy, once:
 * masking the masked text again would change it).
 */
export type Policy = 'data' | 'logs' | 'masked';

/** Characters of a DLQ original the page gets at most. */
const MAX_PAYLOAD_CHARS = 200_000;

/** GET routes, matched in order. */
export const READS: { pattern: RegExp; policy: Policy; read: Handler }[] = [
  {
    pattern: /^\/api\/jobs$/,
    policy: 'data',
    read: (d, { url }) => {
      const state = query(url, 'state');
      if (state && !isJobState(state)) throw bad(`unknown state ${state}`);
      const limit = limitOf(query(url, 'limit'), 200);
      const r = d.live.list({ state, q: query(url, 'q', 1_000), limit });
      return { total: r.total, jobs: r.jobs, stats: d.live.stats(), unreadable: [...d.live.unreadable].slice(0, 100).map(([key, reason]) => ({ key, reason })) };
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
      const limit = limitOf(p.get('limit') ?? undefined, 50);
      const code = p.get('code') || undefined;
      if (code !== undefined) codeOf(code);
      for (const name of ['since', 'until', 'state', 'code', 'q', 'tenant', 'limit', 'page']) if (p.getAll(name).length > 1) throw bad(`${name} is given more than once`);
      const page = p.get('page') ? Number(p.get('page')) : undefined;
      if (page !== undefined && (!Number.isInteger(page) || page < 1)) throw new HttpError(400, 'page is the token of a previous answer');
      const [since, until] = [time('since'), time('until')];
      const range = rangeProblem(since, until);
      if (range) throw bad(`${range}: nothing can match`);
      return searchFinished(d.dlq.jsm, d.config.LAST_STREAM, {
        since, until, status: state as LastStatus | undefined, code, text: p.get('q') || undefined,
        tenant: p.get('tenant') || undefined, limit, before: page,
      }, d.codec);
    },
  },
  {
    // A job's .alt as received (RUNNER_KEEP_ALT), parsed so that the data policy masks its secrets.
    pattern: /^\/api\/jobs\/(.+)\/alt$/,
    policy: 'data',
    read: (d, { param }) => keptAlt(d, idParam(param, 'the job id')),
  },
  {
    // One task of a finished job: the prompt rebuilt from the kept .alt, and the full output (its artifact fetched now).
    pattern: /^\/api\/jobs\/([^/]+)\/tasks\/([^/]+)$/,
    policy: 'data',
    read: async (d, { url, param }) => {
      const id = idParam(param, 'the job id');
      let raw: string;
      try {
        raw = decodeURIComponent(/\/tasks\/([^/]+)$/.exec(url.pathname)![1]);
      } catch {
        throw bad('the task id is not valid percent-encoding');
      }
      const task = idParam(raw, 'the task id');
      const detail = await taskDetail(d, id, task);
      if (!detail) throw new HttpError(404, `no task ${task} in the .last of job ${id}`);
      return detail;
    },
  },
  {
    // A job's events from the history stream, oldest first (independent of the status bucket's TTL).
    pattern: /^\/api\/jobs\/(.+)\/history$/,
    policy: 'logs',
    read: async (d, { param }) => ({ alt_id: idParam(param, 'the job id'), events: await readHistory({ jsm: d.dlq.jsm, stream: d.config.HISTORY_STREAM, prefix: d.config.HISTORY_SUBJECT_PREFIX, codec: d.codec }, idParam(param, 'the job id')) }),
  },
  {
    pattern: /^\/api\/jobs\/(.+)$/,
    policy: 'data',
    read: async (d, { param }) => {
      const id = idParam(param, 'the job id');
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
  // The workers, the consumer's counts and the fleet's intake (its pause record: null when never paused).
  { pattern: /^\/api\/fleet$/, policy: 'logs', read: async (d) => ({ workers: d.live.workers(), stats: d.live.stats(), intake: await readPause(d.dlq.jsm, d.config.RUNNER_CONTROL_BUCKET) }) },
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
      const sinceText = query(url, 'since', 64) ?? '24h';
      const back = parseDuration(sinceText);
      const since = back !== null ? new Date(now - back) : parseRfc3339(sinceText);
      if (!since) throw new HttpError(400, `since: "${sinceText}" is neither a duration (15m, 24h, 7d) nor an RFC 3339 time`);
      const by = (query(url, 'by', 64) ?? null) as Grouping | null;
      if (by !== null && !GROUPINGS.includes(by)) throw new HttpError(400, `by must be one of ${GROUPINGS.join(', ')}`);
      return readUsage(d.dlq.jsm, { stream: d.config.USAGE_STREAM, since, until: new Date(now), by }).catch((e: Error) => {
        if (/stream not found/i.test(e.message)) throw new HttpError(404, `the usage stream ${d.config.USAGE_STREAM} does not exist yet (a worker creates it)`);
        throw e;
      });
    },
  },
  {
    pattern: /^\/api\/dlq$/,
    policy: 'logs',
    read: async (d, { url }) => {
      const code = query(url, 'code', 64);
      return { records: (await dlqRecords(d.dlq, { code: code === undefined ? undefined : codeOf(code) })).map(recordDescriber(d.codec)) };
    },
  },
  {
    // The original is job data (the data policy, as dlq show shows it); the record (its error) is masked as logs.
    pattern: /^\/api\/dlq\/([^/]+)$/,
    policy: 'masked',
    read: async (d, { param }) => {
      const seq = seqOf(param, 'the DLQ sequence');
      const m = await dlqRecord(d.dlq, seq);
      if (!m) throw new HttpError(404, `no DLQ record ${param}`);
      const shown = await originalToShow(d.dlq, m);
      if (!('bytes' in shown)) return { record: redactValue(recordDescriber(d.codec)(m), d.config.logRedactKeys), payload: shown.withheld };
      const original = isSealed(shown.bytes) ? d.codec.open(shown.bytes, 'alt') : shown.bytes;
      // As `altlas dlq show` shows it: a JSON or YAML original parsed and every secret key's value masked, else its text masked.
      const text = redactOriginal(original, m.header.get(HEADERS.contentType) || undefined, d.config.logRedactKeys);
      const payload = text.length > MAX_PAYLOAD_CHARS ? `${text.slice(0, MAX_PAYLOAD_CHARS)}\n… (${text.length} characters)` : text;
      return { record: redactValue(recordDescriber(d.codec)(m), d.config.logRedactKeys), payload };
    },
  },
];

/** The dead letters a replay or purge names: `{seq}` or `{code}` (one of them), or null when it names none. */
const records = async (d: DashboardData, body: Record<string, unknown>) => {
  if (body.seq !== undefined && body.code !== undefined) throw bad('give seq or code, not both');
  if (body.seq !== undefined) return [await dlqRecord(d.dlq, seqOf(body.seq))].filter((m) => m !== null);
  if (body.code !== undefined) return dlqRecords(d.dlq, { code: codeOf(body.code) });
  return null;
};

/** POST actions, by name (they need the token). */
export const ACTIONS: Record<string, Handler> = {
  cancel: async (d, { body, by }) => {
    only(body, ['alt_id']);
    const altId = id(body.alt_id, 'alt_id');
    const who = by ?? 'dashboard';
    // As altlas cancel: the history's entry before the request (for a finished job too: it cancels a waiting rerun).
    return await requestCancel({ kv: d.status, jsm: d.dlq.jsm, config: d.config }, altId, who, d.codec, (found) => recordAction(d.dlq.js, d.config, 'cancel_requested', altId, { by: who, detail: { found } }, d.codec));
  },
  /** Decides the approval task a parked job waits at (as altlas approve): 409 with the code when refused. */
  approve: async (d, { body, by }) => {
    only(body, ['alt_id', 'task', 'reject', 'comment']);
    const altId = id(body.alt_id, 'alt_id');
    const task = id(body.task, 'task');
    if (body.reject !== undefined && typeof body.reject !== 'boolean') throw bad('reject is true or false');
    if (body.comment !== undefined && (typeof body.comment !== 'string' || body.comment.length > 4_096)) throw bad('comment is a string of at most 4096 characters');
    const at = new Date();
    try {
      const r = await decide({ kv: d.status, jsm: d.dlq.jsm, js: d.dlq.js, objBucket: d.config.RUNNER_OBJECT_BUCKET, codec: d.codec }, {
        altId, task, decision: body.reject === true ? 'rejected' : 'approved', comment: typeof body.comment === 'string' ? body.comment : null, by: by ?? 'dashboard',
      });
      await recordAction(d.dlq.js, d.config, r.decision.decision === 'rejected' ? 'rejected' : 'approved', altId, { by: by ?? 'dashboard', task_id: task, detail: { comment: r.decision.comment ?? null } }, d.codec, at);
      return { alt_id: altId, ...r.decision, resume_seq: r.resumeSeq };
    } catch (e) {
      if (isAltlasError(e) && e.code.startsWith('APPROVAL_')) throw new HttpError(409, `${e.code}: ${e.message}`, e.code);
      throw e;
    }
  },
  /** Runs a finished job again from one task (as altlas replay): `{alt_id, from, alt?, name?, set?}` (no alt: the kept one); 409 with the code when refused. */
  replay_from: async (d, { body, by }) => {
    only(body, ['alt_id', 'from', 'alt', 'name', 'set']);
    const altId = id(body.alt_id, 'alt_id');
    const from = id(body.from, 'from');
    if (body.alt !== undefined && (typeof body.alt !== 'string' || !body.alt)) throw bad('alt is the job\'s .alt text');
    if (body.name !== undefined) id(body.name, 'name');
    if (body.set !== undefined && !Array.isArray(body.set)) throw bad('set is a list of KEY=VALUE texts');
    const sets = (body.set ?? []) as unknown[];
    if (sets.length > 256 || !sets.every((x) => typeof x === 'string' && x.includes('='))) throw bad('set is a list of KEY=VALUE texts (at most 256)');
    const at = new Date();
    try {
      const r = await publishReplay({ config: d.config, codec: d.codec, jsm: d.dlq.jsm, js: d.dlq.js, status: d.status }, {
        altId, from, alt: typeof body.alt === 'string' ? new TextEncoder().encode(body.alt) : null, hint: typeof body.name === 'string' ? body.name : undefined, sets: sets as string[],
      });
      await recordAction(d.dlq.js, d.config, 'replayed', altId, { by: by ?? 'dashboard', detail: { from, seq: r.seq, replay_of: r.last.execution_id } }, d.codec, at);
      return { alt_id: r.alt_id, replay_of: r.replay_of, from: r.from, kept: r.kept, seq: r.seq };
    } catch (e) {
      if (isAltlasError(e)) throw new HttpError(409, `${e.code}: ${e.message}`, e.code);
      throw e;
    }
  },
  replay: async (d, { body, by }) => {
    only(body, ['seq', 'code']);
    const list = await records(d, body);
    if (!list) throw new HttpError(400, 'replay takes seq or code');
    if (!list.length) throw new HttpError(404, 'no matching dead letter');
    const replayed = [];
    for (const m of list) {
      // Each stamped before its publish, as the commands' are.
      const at = new Date();
      const r = await replayRecord(d.dlq, m);
      const altId = m.header.get(HEADERS.altId);
      if (altId && !r.duplicate) await recordAction(d.dlq.js, d.config, 'dlq_replayed', altId, { by: by ?? 'dashboard', detail: { dlq_seq: m.seq, seq: r.seq } }, d.codec, at);
      replayed.push(r);
    }
    return { replayed };
  },
  purge: async (d, { body }) => {
    // Removing every dead letter is never the default: it takes `all: true`, as the command takes --yes.
    only(body, ['seq', 'code', 'all']);
    if (body.all !== undefined && body.all !== true) throw bad('all is true or absent');
    if (body.all === true && (body.seq !== undefined || body.code !== undefined)) throw bad('all: true goes alone');
    const list = body.all === true ? await dlqRecords(d.dlq) : await records(d, body);
    if (!list) throw new HttpError(400, 'purge takes seq, code, or all: true (to remove every dead letter)');
    return { removed: await purgeRecords(d.dlq, list) };
  },
};
