/** Job control: `altlas jobs`, `altlas cancel`, `altlas workers`, `altlas limits` and `altlas init`. */
import { hostname, userInfo } from 'node:os';
import { Kvm } from '@nats-io/kv';
import { ensureTopology } from '../messaging/topology.ts';
import { ensureArchiveConsumer } from '../messaging/archive.ts';
import { applyDifferences, describeDifference, describeValue, differences } from '../messaging/retention.ts';
import { isJobState, listJobs, listWorkers, readJob, requestCancel } from '../ops/jobs.ts';
import { readLimits } from '../ops/limits.ts';
import { payloadCodec } from '../security/codec.ts';
import { openStores } from '../status/open.ts';
import { FINAL_STATES, JOB_STATES, UnreadableEntry, type StatusEntry } from '../status/status.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { isLive } from '../status/fleet.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, permissionDenied, withNats } from './context.ts';
import { AltlasError } from '../errors.ts';
import { duration, table } from '../ops/format.ts';
import { EXIT, UsageError, parseCommandArgs, parseOptionsOnly, type Io } from './output.ts';
import { parseSince } from './results.ts';
import { prefixOf } from '../text.ts';
import { actorOf, recordAction } from '../ops/history.ts';
import { CODE_FORM, PAGE_MAX, pageLimit, rangeProblem, searchFinished } from '../ops/finished.ts';
import { LAST_STATUSES, type LastStatus } from '../last/statuses.ts';

export const JOBS_HELP = `Usage: altlas jobs [--state STATE] [--since TIME|DURATION] [--limit N] [--json] [options]
       altlas jobs --finished [--since T] [--until T] [--state S] [--code C] [--text T] [--tenant T] [--limit N] [--page TOKEN]
       altlas jobs --watch [--state STATE] [--interval SECONDS]

The jobs in the status bucket (RUNNER_STATUS_BUCKET), and the jobs that finished without an
entry (within RUNNER_STATUS_FLUSH_MS) from their .last in the LAST stream (stored since --since,
else in the last 15 minutes), newest first: id, state, tasks done, deliveries, worker and last
update. Entries expire after RUNNER_STATUS_TTL_MS.
  --state STATE           only jobs in this state: ${JOB_STATES.join(', ')}
  --since TIME|DURATION   only jobs updated since an RFC 3339 time or a duration ago (15m, 1h30m, 2d)
  --limit N               at most N jobs (default 100; 0: all)
  --json                  one JSON object (the status entry) per job
  --finished              search finished jobs in the LAST stream instead (kept LAST_MAX_AGE_MS,
                          whatever the status bucket's TTL), newest first: --since/--until (when
                          the .last was stored), --state success|partialsuccess|failure, --code
                          (the job's or a task's error code), --text (in the title or id), --tenant
                          (the name given to publish --tenant, or its subject token);
                          a page of --limit jobs (1 to 1000, default 100), then the --page token of the next
  --watch                 a live table of the jobs, redrawn in place on a terminal (plain lines
                          otherwise) every --interval seconds (default 1) until Ctrl-C
${COMMON_HELP}

Exit: 0; 2 usage error.`;

export const CANCEL_HELP = `Usage: altlas cancel JOB-ID... [--wait] [--json] [options]

Asks every worker to cancel the jobs' messages published before the cancel: a running job is
aborted where it runs (its AI requests are cancelled), ends with a .last whose unfinished tasks
are cancelled with code JOB_CANCELLED (its status from the tasks that completed), and is acked,
not redelivered. A job waiting in the stream is cancelled when a worker picks it up, without an
AI call (its status entry then says cancelled). A message of the job published after the cancel
runs. For a job whose last run finished, a message of it still waiting in the stream (a rerun)
is cancelled; one published later runs.
  --wait                  wait until each job's status is final and print it (at most 60 s; a
                          job whose last run finished: its state at once)
  --json                  one JSON object per job
${COMMON_HELP}

Exit: 0; 1 --wait timed out; 2 usage error.`;

export const WORKERS_HELP = `Usage: altlas workers [--json] [options]
       altlas workers set WORKER-ID --concurrency N (see altlas workers set --help)

The workers alive now (their heartbeats in RUNNER_WORKERS_BUCKET, which expire after three missed
beats): id, version, state (running, paused, or not answering: its heartbeat is older than two of
its intervals, and drain and workers set refuse it), jobs in flight of their concurrency, jobs
processed, jobs waiting for the AI side, the AI breaker, and when each was last seen.
${COMMON_HELP}

Exit: 0; 2 usage error.`;

export const INIT_HELP = `Usage: altlas init [--apply] [options]

Creates what the runner needs and is missing: the ALT, LAST, DLQ, usage, progress and history streams, the durable
consumer, the status, checkpoint, worker, budget and control buckets and the object store, with the settings of
the configuration (the same a worker with RUNNER_PROVISION=true creates). Existing ones are
checked and left as they are: a retention that differs from the configuration (LAST_MAX_AGE_MS,
LAST_MAX_BYTES, LAST_DUPLICATE_WINDOW_MS, DLQ_MAX_AGE_MS, the buckets' TTLs, the consumer's
RUNNER_ACK_WAIT_MS and RUNNER_MAX_DELIVER) is shown. Useful before the first worker runs, or
where workers run with RUNNER_PROVISION=false.
  --apply      apply the configured retention to what exists (each change is shown; subjects
               are never changed); updating streams takes an administrator's user (no role may)
${COMMON_HELP}

Exit: 0; 1 an existing stream does not match (TOPOLOGY_MISMATCH); 2 usage error.`;

const ago = (iso: string) => duration(Math.max(0, Date.now() - Date.parse(iso)));

/** A job's state in the table: a parked job's with its task and question (cut), else with its error code, or with a `.last` that is not plain success (`completed (partialsuccess)`). */
const stateText = (j: StatusEntry) => (j.error?.code === 'JOB_PARKED' ? `${j.state} (JOB_PARKED: ${prefixOf(j.error.message, 80)})` : j.error ? `${j.state} (${j.error.code})` : j.state === 'completed' && j.last_status && j.last_status !== 'success' ? `${j.state} (${j.last_status})` : j.state);

export async function jobsCommand(argv: string[], io: Io): Promise<number> {
  const values = parseOptionsOnly(argv, io, {
    ...COMMON_OPTIONS, state: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string', default: '100' },
    finished: { type: 'boolean', default: false }, until: { type: 'string' }, code: { type: 'string' }, text: { type: 'string' }, tenant: { type: 'string' }, page: { type: 'string' },
    watch: { type: 'boolean', default: false }, interval: { type: 'string', default: '1' },
  }, JOBS_HELP, 'jobs takes no arguments (altlas status <job-id> shows one job)');
  if (!values) return EXIT.ok;
  if (values.finished) return finishedJobs(values, io);
  for (const o of ['until', 'code', 'text', 'tenant', 'page'] as const) if (values[o] !== undefined) throw new UsageError(`--${o} goes with --finished`);
  if (values.watch) return (await import('./jobs-watch.ts')).watchJobs(values, io);
  if (values.state !== undefined && !isJobState(values.state)) throw new UsageError(`--state must be one of: ${JOB_STATES.join(', ')}`);
  // Decimal digits only, as --finished (Number() would take 1e3, 0x4 and ' 3' too).
  const limit = /^[0-9]{1,9}$/.test(values.limit ?? '') ? Number(values.limit) : NaN;
  if (!Number.isInteger(limit)) throw new UsageError('--limit must be a whole number >= 0, in decimal digits');
  const since = values.since === undefined ? undefined : parseSince(values.since);
  const config = configFrom(values);
  return withNats(config, async (s) => {
    const jobs = await listJobs({ jsm: s.jsm, bucket: config.RUNNER_STATUS_BUCKET }, { state: values.state as never, since, limit: limit || undefined, onUnreadable: (e) => io.err(`altlas jobs: ${e.message}: skipped`), lasts: { jsm: s.jsm, stream: config.LAST_STREAM } }, payloadCodec(config.PAYLOAD_KEYS));
    if (values.json) jobs.forEach((j) => io.out(JSON.stringify(j)));
    else if (!jobs.length) io.out('no jobs');
    else io.out(table(['JOB ID', 'STATE', 'TASKS', 'DELIVERIES', 'WORKER', 'UPDATED'], jobs.map((j) => [j.alt_id, stateText(j), `${j.tasks_done}/${j.tasks_total}`, String(j.deliveries), j.worker_id, `${j.updated_at} (${ago(j.updated_at)} ago)`])));
    return EXIT.ok;
  }, { role: 'reader', streams: [`KV_${config.RUNNER_STATUS_BUCKET}`] });
}

type JobsValues = { state?: string; since?: string; until?: string; code?: string; text?: string; tenant?: string; page?: string; limit?: string; json?: boolean } & Parameters<typeof configFrom>[0];

/** `altlas jobs --finished`: a page of finished jobs from the LAST stream. */
async function finishedJobs(values: JobsValues, io: Io): Promise<number> {
  if (values.state !== undefined && !(LAST_STATUSES as readonly string[]).includes(values.state)) throw new UsageError(`with --finished, --state must be one of: ${LAST_STATUSES.join(', ')}`);
  const limit = pageLimit(values.limit ?? '');
  if (limit === null) throw new UsageError(`--limit must be a whole number from 1 to ${PAGE_MAX}, in decimal digits`);
  const before = values.page === undefined ? undefined : Number(values.page);
  if (before !== undefined && (!Number.isInteger(before) || before < 1)) throw new UsageError('--page takes the token a previous page printed');
  if (values.code !== undefined && !CODE_FORM.test(values.code)) throw new UsageError(`--code takes an error code (upper-case letters, digits and _, e.g. AI_REJECTED), not "${prefixOf(values.code, 40)}"`);
  const since = values.since === undefined ? undefined : parseSince(values.since, Date.now(), '--since');
  const until = values.until === undefined ? undefined : parseSince(values.until, Date.now(), '--until');
  const range = rangeProblem(since, until);
  if (range) throw new UsageError(`--${range.replace(' until', ' --until')}: nothing can match`);
  const config = configFrom(values);
  return withNats(config, async (s) => {
    const page = await searchFinished(s.jsm, config.LAST_STREAM, {
      since, until, status: values.state as LastStatus | undefined, code: values.code, text: values.text, tenant: values.tenant, limit, before,
    }, payloadCodec(config.PAYLOAD_KEYS));
    if (values.json) {
      page.jobs.forEach((j) => io.out(JSON.stringify(j)));
      if (page.next !== null) io.out(JSON.stringify({ next_page: String(page.next) }));
      return EXIT.ok;
    }
    if (!page.jobs.length) io.out('no finished job matches');
    else io.out(table(['JOB ID', 'STATUS', 'TASKS', 'CODE', 'TENANT', 'DURATION', 'STORED', 'TITLE'], page.jobs.map((j) => [j.alt_id, j.status, `${j.tasks_done}/${j.tasks_total}`, j.code ?? '-', j.tenant ?? '-', duration(j.duration_ms), j.stored_at, prefixOf(j.title, 60)])));
    if (page.next !== null) io.out(`more: add --page ${page.next}`);
    return EXIT.ok;
  }, { role: 'reader', streams: [config.LAST_STREAM] });
}

export async function cancelCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, allowPositionals: true, options: { ...COMMON_OPTIONS, wait: { type: 'boolean', default: false } } });
  if (values.help) {
    io.out(CANCEL_HELP);
    return EXIT.ok;
  }
  if (!positionals.length) throw new UsageError('cancel takes one or more job ids');
  const config = configFrom(values);
  const codec = payloadCodec(config.PAYLOAD_KEYS);
  return withNats(config, async (s) => {
    const kv = await new Kvm(s.nc).open(config.RUNNER_STATUS_BUCKET);
    // A job that finished within RUNNER_STATUS_FLUSH_MS has no entry: its .last is its record.
    const source = { kv, jsm: s.jsm, config };
    const by = actorOf(config);
    let code: number = EXIT.ok;
    for (const id of positionals) {
      // The request goes to the history first: the worker's answer (the cancelled .last) comes after it.
      const r = await requestCancel(source, id, by, codec, (found) => recordAction(s.js, config, 'cancel_requested', id, { by, detail: { found } }, codec));
      if (!values.wait) {
        if (values.json) io.out(JSON.stringify({ ...r, requested: true }));
        else io.out(`cancel requested for ${id}: ${r.message}`);
        continue;
      }
      // Done when the job ended cancelled, or (a race the cancel lost) ended otherwise after the request; a finished job at once.
      const requestedAt = Date.now() - 1_000;
      const deadline = Date.now() + 60_000;
      const ended = (e: typeof entry) => e !== null && (r.found === 'finished' || e.state === 'cancelled' || (FINAL_STATES.includes(e.state) && (r.state === null || Date.parse(e.updated_at) >= requestedAt)));
      let entry = await readJob(source, id, codec);
      while (!ended(entry) && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 100));
        entry = await readJob(source, id, codec);
      }
      const done = ended(entry);
      if (values.json) io.out(JSON.stringify({ ...r, requested: true, final_state: done ? entry!.state : null }));
      else io.out(done ? `${id}: ${entry!.state}${entry!.error ? ` (${entry!.error.code})` : ''}` : `${id}: not finished after 60 s (state ${entry?.state ?? 'unknown'})`);
      if (!done) code = EXIT.failed;
    }
    return code;
  }, { role: 'operator', streams: [`KV_${config.RUNNER_STATUS_BUCKET}`, config.ALT_STREAM] });
}

export async function workersCommand(argv: string[], io: Io): Promise<number> {
  if (argv[0] === 'set') return (await import('./fleet.ts')).workersSetCommand(argv.slice(1), io);
  const values = parseOptionsOnly(argv, io, { ...COMMON_OPTIONS }, WORKERS_HELP, 'workers takes no arguments');
  if (!values) return EXIT.ok;
  const config = configFrom(values);
  return withNats(config, async (s) => {
    const workers = await listWorkers({ jsm: s.jsm, bucket: config.RUNNER_WORKERS_BUCKET });
    if (values.json) workers.forEach((w) => io.out(JSON.stringify(w)));
    else if (!workers.length) io.out('no worker alive');
    else io.out(table(['WORKER', 'VERSION', 'STATE', 'IN FLIGHT', 'PROCESSED', 'WAITING FOR AI', 'AI BREAKER', 'SEEN'], workers.map((w) => [w.worker_id, w.version, !isLive(w, config.RUNNER_HEARTBEAT_MS) ? 'not answering' : w.paused ? 'paused' : 'running', `${w.in_flight}/${w.concurrency}`, String(w.processed), String(w.waiting_for_ai), w.breaker, `${ago(w.seen_at)} ago`])));
    return EXIT.ok;
  }, { role: 'reader', streams: [`KV_${config.RUNNER_WORKERS_BUCKET}`] });
}

export const LIMITS_HELP = `Usage: altlas limits [--json] [options]

The live rate limits of the models, from the fleet's entries in AI_LIMITS_BUCKET: for each
provider, model and unit (tokens, requests), the fleet's limit per minute (the tighter of AI_LIMITS
and the limit learned from the provider's headers), the learned limit, the live workers and
their slices of the minute, what the spending of workers that left or died still holds, and what
no worker has leased. Each worker spends within its slice; the spending itself is in each
worker's metrics (altlas_ai_limit_used).
  --json                  one JSON object per model and unit, with every worker's slice
${COMMON_HELP}

Exit: 0; 2 usage error.`;

export async function limitsCommand(argv: string[], io: Io): Promise<number> {
  const values = parseOptionsOnly(argv, io, { ...COMMON_OPTIONS }, LIMITS_HELP, 'limits takes no arguments');
  if (!values) return EXIT.ok;
  const config = configFrom(values);
  return withNats(config, async (s) => {
    const limits = await readLimits({ jsm: s.jsm, bucket: config.AI_LIMITS_BUCKET });
    const n = (x: number | null) => (x === null ? '-' : String(x));
    if (values.json) limits.forEach((l) => io.out(JSON.stringify(l)));
    else if (!limits.length) io.out('no model limits in use');
    else io.out(table(['PROVIDER', 'MODEL', 'UNIT', 'LIMIT/MIN', 'LEARNED', 'WORKERS', 'SLICED', 'HELD BY GONE', 'FREE'], limits.map((l) => [l.provider, l.model, l.unit, n(l.limit), n(l.learned), String(l.slices.length), String(l.sliced), String(l.held_by_gone), n(l.free)])));
    return EXIT.ok;
  }, { role: 'reader', streams: [`KV_${config.AI_LIMITS_BUCKET}`] });
}

export async function initCommand(argv: string[], io: Io): Promise<number> {
  const values = parseOptionsOnly(argv, io, { ...COMMON_OPTIONS, apply: { type: 'boolean', default: false } }, INIT_HELP, 'init takes no arguments');
  if (!values) return EXIT.ok;
  const config = { ...configFrom(values), RUNNER_PROVISION: true };
  const all = [config.ALT_STREAM, config.LAST_STREAM, config.DLQ_STREAM, config.USAGE_STREAM, ...(config.PROGRESS_ENABLED ? [config.PROGRESS_STREAM] : []), ...(config.HISTORY_ENABLED ? [config.HISTORY_STREAM] : []), `KV_${config.RUNNER_STATUS_BUCKET}`, `KV_${config.RUNNER_CHECKPOINT_BUCKET}`, `KV_${config.RUNNER_WORKERS_BUCKET}`, `KV_${config.BUDGET_BUCKET}`, `KV_${config.AI_LIMITS_BUCKET}`, `KV_${config.RUNNER_CONTROL_BUCKET}`, `OBJ_${config.RUNNER_OBJECT_BUCKET}`, `OBJ_${config.RUNNER_BODY_BUCKET}`];
  // What exists, stream by stream (the runner may ask each of its streams, not list the account's).
  const existing = async (s: { jsm: { streams: { info(name: string): Promise<unknown> } } }) => {
    const out = new Set<string>();
    for (const name of all) {
      await s.jsm.streams.info(name).then(() => out.add(name), (e: Error) => {
        if (!/stream not found/i.test(e.message) && e.name !== 'StreamNotFoundError') throw e;
      });
    }
    return out;
  };
  return withNats(config, async (s) => {
    const before = await existing(s);
    const hadConsumer = (await s.jsm.consumers.info(config.ALT_STREAM, config.RUNNER_DURABLE).catch(() => null)) !== null;
    const consumer = await ensureTopology(s.jsm, config, silentLogger());
    const hadArchive = config.ARCHIVE_NOTIFY_SUBJECT ? (await s.jsm.consumers.info(config.LAST_STREAM, config.ARCHIVE_NOTIFY_DURABLE).catch(() => null)) !== null : true;
    if (config.ARCHIVE_NOTIFY_SUBJECT) await ensureArchiveConsumer(s.jsm, config, silentLogger());
    await openStores(s.nc, config, `init-${process.pid}`, payloadCodec(config.PAYLOAD_KEYS));
    const after = await existing(s);
    const made = all.filter((n) => after.has(n) && !before.has(n));
    const diffs = await differences(s.jsm, config);
    if (values.apply && diffs.length) {
      await applyDifferences(s.jsm, config, diffs).catch((e: unknown) => {
        const denied = permissionDenied(e, undefined);
        // No role may update a stream (it could change what another role's data keeps): --apply takes an administrator's user.
        throw denied ? new AltlasError('PERMISSION_DENIED', `${denied.message}: init --apply updates streams, which takes an administrator's user (no role may update a stream); without --apply, init creates what is missing and shows what differs`, { cause: e, context: denied.context }) : e;
      });
    }
    const consumerTarget = `${config.ALT_STREAM}.${config.RUNNER_DURABLE}`;
    if (values.json) {
      io.out(JSON.stringify({
        created: made.sort(), existing: all.filter((n) => !made.includes(n)), consumer: consumer.name, consumer_created: !hadConsumer,
        differences: diffs.map((d) => ({ ...d, description: describeDifference(d) })), applied: values.apply ? diffs.length : 0,
      }));
      return EXIT.ok;
    }
    const noted = (target: string) => {
      const list = diffs.filter((d) => d.target === target);
      return list.length && !values.apply ? ` (differs: ${list.map(describeDifference).join('; ')})` : '';
    };
    for (const n of all) io.out(`${made.includes(n) ? 'created ' : 'exists  '} ${n}${noted(n)}`);
    io.out(`consumer ${consumer.name} on ${config.ALT_STREAM}: ${hadConsumer ? 'exists' : 'created'}${noted(consumerTarget)}`);
    if (config.ARCHIVE_NOTIFY_SUBJECT) io.out(`consumer ${config.ARCHIVE_NOTIFY_DURABLE} on ${config.LAST_STREAM} (archive hand-off to ${config.ARCHIVE_NOTIFY_SUBJECT}): ${hadArchive ? 'exists' : 'created'}`);
    if (values.apply) {
      for (const d of diffs) io.out(`updated  ${d.target}: ${d.setting} ${describeValue(d.setting, d.have)} → ${describeValue(d.setting, d.want)} (${d.variable})`);
      if (!diffs.length) io.out('nothing to update: what exists has the configured retention');
    } else if (diffs.length) io.out('what exists differs from the configuration (shown above): "altlas init --apply" applies the configured values');
    return EXIT.ok;
  }, { role: 'runner' });
}
