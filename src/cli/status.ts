/** `altlas status`: the streams and the consumer at a glance. */
import { Kvm } from '@nats-io/kv';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats, type Session } from './context.ts';
import { table } from '../ops/format.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';
import { decodeEntry, entryFromLast, statusKey, UnreadableEntry, type FinishedLast, type StatusEntry } from '../status/status.ts';
import { readJob } from '../ops/jobs.ts';
import { lastSubjectOf } from '../last/lookup.ts';
import { readLast } from '../last/read.ts';
import { payloadCodec } from '../security/codec.ts';
import { watchBucket } from '../status/store-access.ts';
import { backlogOf, readBacklog } from '../ops/backlog.ts';

export const STATUS_HELP = `Usage: altlas status [options]
       altlas status <job-id> [--watch] [options]

Without a job id: the ALT, LAST and DLQ streams (messages, bytes) and the backlog of the
stream's consumers (pending, ack pending, redelivered, pull requests waiting: roughly the workers
bound): RUNNER_DURABLE's, and with RUNNER_LANES every lane consumer's, summed and per lane.
With a job id: the job's status entry (RUNNER_STATUS_BUCKET): its state, deliveries, worker,
times, and each task's state and attempts; --watch follows it until it is finished (on a
terminal, updating the one block in place). A job that finished within RUNNER_STATUS_FLUSH_MS
wrote no entry: it is shown from its .last in the LAST stream.
${COMMON_HELP}

Exit: 0; 1 a stream or the consumer is missing, or no such job; 2 usage error.`;

const FINAL: readonly string[] = ['completed', 'failed', 'cancelled'];

/** One job's entry as text: a headline, where it runs, and its tasks. */
function entryText(e: StatusEntry): string {
  const lines = [
    `job ${e.alt_id}: ${e.state}${e.last_status ? ` (.last ${e.last_status})` : ''}${e.error ? `, ${e.error.code}: ${e.error.message}` : ''}`,
    `  ${e.alt_stream} seq ${e.alt_stream_seq}, delivery ${e.deliveries}, worker ${e.worker_id}, updated ${e.updated_at}`,
  ];
  const tasks = Object.entries(e.tasks);
  if (tasks.length) {
    const counts = tasks.reduce<Record<string, number>>((a, [, t]) => ({ ...a, [t.state]: (a[t.state] ?? 0) + 1 }), {});
    lines.push(`  tasks: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}\n`);
    lines.push(table(['TASK', 'STATE', 'ATTEMPTS', 'STARTED', 'FINISHED'], tasks.map(([id, t]) => [id, t.resumed ? `${t.state} (resumed)` : t.state, String(t.attempts), t.started_at ?? '-', t.finished_at ?? '-'])));
  }
  return lines.join('\n');
}

/**
 * Shows successive entries of a job: on a terminal each one replaces the one before (the cursor
 * goes back up over it and clears it); elsewhere each is printed after the last, a blank line
 * between them.
 */
function entryWriter(io: Io, inPlace: boolean): (e: StatusEntry) => void {
  let shown = 0;
  return (e) => {
    const text = entryText(e);
    if (inPlace && shown) io.out(`\x1b[${shown}A\r\x1b[J${text}`);
    else io.out(shown && !inPlace ? `\n${text}` : text);
    shown = text.split('\n').length;
  };
}

async function jobStatus(s: Session, altId: string, watch: boolean, json: boolean, io: Io): Promise<number> {
  const kv = await new Kvm(s.nc).open(s.config.RUNNER_STATUS_BUCKET);
  const write = entryWriter(io, watch && process.stdout.isTTY === true);
  const show = (e: StatusEntry) => (json ? io.out(JSON.stringify(e)) : write(e));
  const codec = payloadCodec(s.config.PAYLOAD_KEYS);
  let entry: StatusEntry | null;
  try {
    entry = await readJob({ kv, jsm: s.jsm, config: s.config }, altId, codec, { strict: true });
  } catch (e) {
    if (!(e instanceof UnreadableEntry)) throw e;
    io.err(`altlas status: ${e.message}`);
    if (!watch) return EXIT.failed;
    entry = null;
  }
  if (!watch || (entry && FINAL.includes(entry.state))) {
    if (!entry) {
      io.err(`no status for job ${altId} in ${s.config.RUNNER_STATUS_BUCKET} or ${s.config.LAST_STREAM}`);
      return EXIT.failed;
    }
    show(entry);
    return EXIT.ok;
  }
  if (!entry && !json) io.out(`waiting for job ${altId}...`);
  // A watch without a consumer (the reader role creates none): the entry, then each write as it is published.
  let stop = () => {};
  const done = new Promise<void>((resolve) => (stop = resolve));
  let finished = false;
  // A job that finishes within RUNNER_STATUS_FLUSH_MS writes no entry: its .last, as it is stored, ends the watch.
  const lastSub = s.nc.subscribe(lastSubjectOf(s.config, altId), {
    callback: (_e, m) => {
      if (finished) return;
      try {
        finished = true;
        show(entryFromLast(readLast(m.data, codec) as unknown as FinishedLast, new Date().toISOString()));
      } catch {
        finished = false;
        return;
      }
      stop();
    },
  });
  const watcher = await watchBucket(s.nc, s.jsm, s.config.RUNNER_STATUS_BUCKET, statusKey(altId), (u) => {
    if (finished || u.operation !== 'PUT' || u.value.length === 0) return;
    let e: StatusEntry;
    try {
      e = decodeEntry(u.value, codec, statusKey(altId));
    } catch (err) {
      // Said and skipped: the watch goes on to the next write.
      io.err(`altlas status: ${(err as Error).message}: skipped`);
      return;
    }
    show(e);
    if (FINAL.includes(e.state)) {
      finished = true;
      stop();
    }
  });
  // A .last stored between the first read and the subscriptions: read again once they are in place.
  await s.nc.flush();
  const again = finished ? null : await readJob({ kv, jsm: s.jsm, config: s.config }, altId, codec);
  if (!finished && again && FINAL.includes(again.state)) {
    finished = true;
    show(again);
    stop();
  }
  process.once('SIGINT', stop);
  try {
    await done;
  } finally {
    process.off('SIGINT', stop);
    watcher.stop();
    lastSub.unsubscribe();
  }
  return EXIT.ok;
}

export async function statusCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, allowPositionals: true, options: { ...COMMON_OPTIONS, watch: { type: 'boolean', default: false } } });
  if (values.help) {
    io.out(STATUS_HELP);
    return EXIT.ok;
  }
  const config = configFrom(values);
  if (positionals.length > 1) throw new UsageError('status takes at most one job id');
  if (positionals.length === 1) return withNats(config, (s) => jobStatus(s, positionals[0], values.watch === true, values.json === true, io), { role: 'reader', streams: [`KV_${config.RUNNER_STATUS_BUCKET}`] });
  if (values.watch) throw new UsageError('--watch needs a job id');
  return withNats(config, async (s) => {
    const streams = [];
    for (const name of [config.ALT_STREAM, config.LAST_STREAM, config.DLQ_STREAM]) {
      const info = await s.jsm.streams.info(name).catch(() => null);
      streams.push({ stream: name, exists: info !== null, messages: info?.state.messages ?? 0, bytes: info?.state.bytes ?? 0, subjects: info?.config.subjects ?? [] });
    }
    const c = await s.jsm.consumers.info(config.ALT_STREAM, config.RUNNER_DURABLE).catch(() => null);
    // The backlog of every consumer of the stream: with RUNNER_LANES the jobs wait on the lane consumers.
    const b = c && ((await readBacklog(s.jsm, config.ALT_STREAM, config.RUNNER_DURABLE)) ?? backlogOf([c]));
    const consumer = c && b && {
      consumer: config.RUNNER_DURABLE, pending: b.pending, ack_pending: b.ack_pending, redelivered: b.redelivered,
      waiting: b.waiting, delivered: c.delivered.stream_seq, ack_floor: c.ack_floor.stream_seq, consumers: b.consumers, lanes: b.lanes,
    };
    const dlq = streams[2].messages;
    if (values.json) io.out(JSON.stringify({ server: s.nc.getServer(), version: s.nc.info?.version, streams, consumer, dlq }));
    else {
      io.out(`server ${s.nc.getServer()} (nats-server ${s.nc.info?.version ?? '?'})\n`);
      io.out(table(['STREAM', 'MESSAGES', 'BYTES', 'SUBJECTS'], streams.map((x) => [x.stream, x.exists ? String(x.messages) : 'missing', String(x.bytes), x.subjects.join(',')])));
      io.out('');
      io.out(consumer ? table(['CONSUMER', 'PENDING', 'ACK PENDING', 'REDELIVERED', 'PULLS WAITING', 'DLQ'], [
        [consumer.consumers > 1 ? `${consumer.consumer} + ${consumer.consumers - 1} more` : consumer.consumer, String(consumer.pending), String(consumer.ack_pending), String(consumer.redelivered), String(consumer.waiting), String(dlq)],
        // Per lane once lane consumers exist (RUNNER_LANES).
        ...(consumer.lanes.some((l) => l.lane !== 'none' && l.consumers > 0)
          ? consumer.lanes.map((l) => [`  lane ${l.lane} (${l.consumers})`, String(l.pending), String(l.ack_pending), '', '', ''])
          : []),
      ]) : `consumer ${config.RUNNER_DURABLE} on ${config.ALT_STREAM}: missing`);
    }
    return streams.every((x) => x.exists) && consumer ? EXIT.ok : EXIT.failed;
  }, { role: 'reader' });
}
