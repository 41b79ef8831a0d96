/**
 * `altlas jobs --watch`: a live table of the jobs of the status bucket and the workers, like top.
 * A job that wrote no entry (it finished within RUNNER_STATUS_FLUSH_MS) appears from its `.last`.
 * On a terminal the table is redrawn in place every --interval seconds; otherwise (a pipe, a log)
 * each change of a job is one plain line (--json: the entry). Ctrl-C ends it with exit 0. A watch
 * without a consumer (the reader role creates none): the entries, then each write as published.
 */
import { payloadCodec } from '../security/codec.ts';
import { decodeEntry, entryFromLast, FINAL_STATES, JOB_STATES, statusKey, type FinishedLast, type StatusEntry } from '../status/status.ts';
import { readLast } from '../last/read.ts';
import { watchBucket } from '../status/store-access.ts';
import { isJobState, listWorkers, notAJob } from '../ops/jobs.ts';
import { duration, table } from '../ops/format.ts';
import { prefixOf } from '../text.ts';
import { configFrom, withNats } from './context.ts';
import { EXIT, UsageError, type Io } from './output.ts';

type WatchValues = { state?: string; interval?: string; json?: boolean } & Parameters<typeof configFrom>[0];

/** What a job's line says; a change of it is shown. */
const lineOf = (j: StatusEntry) => `${j.alt_id}  ${j.state}${j.error ? ` (${j.error.code})` : ''}  ${j.tasks_done}/${j.tasks_total}  ${j.worker_id}`;

export async function watchJobs(values: WatchValues, io: Io, tty = process.stdout.isTTY === true, rows = () => process.stdout.rows || 40): Promise<number> {
  if (values.state !== undefined && !isJobState(values.state)) throw new UsageError(`--state must be one of: ${JOB_STATES.join(', ')}`);
  const intervalS = Number(values.interval ?? 1);
  if (!Number.isFinite(intervalS) || intervalS < 0.1) throw new UsageError('--interval takes a number of seconds, at least 0.1');
  const config = configFrom(values);
  const codec = payloadCodec(config.PAYLOAD_KEYS);
  return withNats(config, async (s) => {
    const jobs = new Map<string, StatusEntry>();
    const shown = new Map<string, string>();
    const changed = new Set<string>();
    const watch = await watchBucket(s.nc, s.jsm, config.RUNNER_STATUS_BUCKET, '>', (e) => {
      if (notAJob(e.key)) return;
      if (e.operation !== 'PUT' || e.value.length === 0) {
        jobs.delete(e.key);
        return;
      }
      try {
        const entry = decodeEntry(e.value, codec, e.key);
        jobs.set(e.key, entry);
        changed.add(e.key);
      } catch {
        // not a status entry this process can read
      }
    });
    // A job that finished within RUNNER_STATUS_FLUSH_MS wrote no entry: its .last, as it is stored, says so.
    const results = s.nc.subscribe(`${config.LAST_SUBJECT_PREFIX}.>`, {
      callback: (_e, m) => {
        let entry: StatusEntry;
        try {
          entry = entryFromLast(readLast(m.data, codec) as unknown as FinishedLast, new Date().toISOString());
        } catch {
          return; // not a .last this process can read
        }
        if (!entry.alt_id) return;
        const key = statusKey(entry.alt_id);
        const known = jobs.get(key);
        // The final entry of that message says more (its worker): it stays.
        if (known && known.alt_stream_seq === entry.alt_stream_seq && FINAL_STATES.includes(known.state)) return;
        jobs.set(key, entry);
        changed.add(key);
      },
    });
    const draw = async () => {
      const list = [...jobs.values()].filter((j) => !values.state || j.state === values.state).sort((a, b) => b.updated_at.localeCompare(a.updated_at));
      if (!tty) {
        // Plain lines: each job whose line changed since it was last shown.
        for (const key of [...changed]) {
          changed.delete(key);
          const j = jobs.get(key);
          if (!j || (values.state && j.state !== values.state)) continue;
          const line = lineOf(j);
          if (shown.get(key) === line) continue;
          shown.set(key, line);
          io.out(values.json ? JSON.stringify(j) : `${j.updated_at}  ${line}`);
        }
        return;
      }
      changed.clear();
      const workers = await listWorkers({ jsm: s.jsm, bucket: config.RUNNER_WORKERS_BUCKET }).catch(() => []);
      const counts = new Map<string, number>();
      for (const j of jobs.values()) counts.set(j.state, (counts.get(j.state) ?? 0) + 1);
      const head = [
        `altlas jobs --watch  ${new Date().toISOString()}  (Ctrl-C ends)`,
        `workers ${workers.length}${workers.some((w) => w.paused) ? ` (${workers.filter((w) => w.paused).length} paused)` : ''}, in flight ${workers.reduce((n, w) => n + w.in_flight, 0)}/${workers.reduce((n, w) => n + w.concurrency, 0)}; jobs: ${JOB_STATES.filter((x) => counts.get(x)).map((x) => `${x} ${counts.get(x)}`).join(', ') || 'none'}`,
        '',
      ];
      const room = Math.max(1, rows() - head.length - 2);
      const body = list.length ? table(['JOB ID', 'STATE', 'TASKS', 'DELIVERIES', 'WORKER', 'UPDATED', 'TITLE'], list.slice(0, room).map((j) => [
        j.alt_id, j.error ? `${j.state} (${j.error.code})` : j.state, `${j.tasks_done}/${j.tasks_total}`, String(j.deliveries), j.worker_id,
        `${duration(Math.max(0, Date.now() - Date.parse(j.updated_at)))} ago`, prefixOf(j.title ?? '', 40),
      ])) : 'no jobs';
      // Home, clear, draw: the table stays in place.
      io.out(`\x1b[H\x1b[2J${[...head, body].join('\n')}`);
    };
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const onSignal = () => stop();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // Off a terminal, one line on standard error says the watch is on (the lines that follow are the changes).
    if (!tty) io.err(`watching the jobs of ${config.RUNNER_STATUS_BUCKET}; Ctrl-C ends`);
    try {
      await draw();
      let timer: NodeJS.Timeout | undefined;
      let ended = false;
      const tick = async () => {
        await draw().catch(() => {});
        if (!ended) timer = setTimeout(() => void tick(), intervalS * 1000);
      };
      timer = setTimeout(() => void tick(), intervalS * 1000);
      await stopped;
      ended = true;
      clearTimeout(timer);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      watch.stop();
      results.unsubscribe();
    }
    if (tty) io.out('');
    return EXIT.ok;
  }, { role: 'reader', streams: [`KV_${config.RUNNER_STATUS_BUCKET}`], reconnectForever: true });
}
