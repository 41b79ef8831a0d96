/**
 * `altlas results`: reads `.last` results from the LAST stream by plain message gets (the reader
 * role creates no consumer), and with --follow the ones published after, by a core subscription.
 */
import type { Msg } from '@nats-io/nats-core';
import type { Last } from '../last/index.ts';
import { HEADERS, subjectToken } from '../contract/subjects.ts';
import { payloadCodec } from '../security/codec.ts';
import { isAltlasError } from '../errors.ts';
import { readLast } from '../last/read.ts';
import { firstSeqSince, storedMessages } from '../status/store-access.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats } from './context.ts';
import { duration, fitCell, parseDuration, parseRfc3339, percent, table } from '../ops/format.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';

export const RESULTS_HELP = `Usage: altlas results [--follow] [--alt-id ID] [--since TIME] [--json] [options]

Lists .last results stored in the LAST stream: job id, status, success rate, tasks completed,
duration, end time; with --json, one .last document per line.

Options:
  --follow       keep printing new results until interrupted
  --alt-id ID    only the results of this job
  --since TIME   only results stored since an RFC 3339 time, or a duration such as 15m, 2h, 1d
${COMMON_HELP}

Exit: 0; 2 usage error.`;

/** Reads `--since`: an RFC 3339 time, or a duration back from now (s, m, h, d). */
/** `--since`: an RFC 3339 time, or a duration back from now (`90s`, `15m`, `1h30m`, `2d`). */
export function parseSince(text: string, now = Date.now(), option = '--since'): Date {
  const ms = parseDuration(text);
  if (ms !== null) return new Date(now - ms);
  const at = parseRfc3339(text);
  if (!at) throw new UsageError(`${option}: "${text}" is neither an RFC 3339 time (2025-04-01T12:00:00Z) nor a duration (90s, 15m, 1h30m, 2d)`);
  return at;
}

export function resultRow(last: Last): string[] {
  const results = Object.values(last.task_results);
  const done = results.filter((r) => r.status === 'completed').length;
  const err = last.metadata.error_code as string | undefined;
  return [last.alt_file_id || '(unknown)', err ? `${last.status} (${err})` : last.status, percent(last.success_rate), `${done}/${results.length}`, duration(last.execution_time_ms), last.end_time];
}

export const RESULT_HEADERS = ['JOB ID', 'STATUS', 'SUCCESS', 'TASKS', 'DURATION', 'FINISHED'];
/** Column widths of the --follow stream (rows are printed as they come, so the widths are fixed). */
const FOLLOW_WIDTHS = [36, 24, 8, 7, 9];
const followLine = (cells: string[]) => cells.map((c, i) => (i < FOLLOW_WIDTHS.length ? fitCell(c, FOLLOW_WIDTHS[i]) : c)).join('  ');

export async function resultsCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs({
    args: argv,
    options: { ...COMMON_OPTIONS, follow: { type: 'boolean', default: false }, 'alt-id': { type: 'string' }, since: { type: 'string' } },
  });
  if (values.help) {
    io.out(RESULTS_HELP);
    return EXIT.ok;
  }
  const config = configFrom(values);
  const codec = payloadCodec(config.PAYLOAD_KEYS);
  const since = values.since ? parseSince(values.since) : null;
  const altId = values['alt-id'];
  return withNats(config, async (s) => {
    const subject = altId ? `${config.LAST_SUBJECT_PREFIX}.${subjectToken(altId)}` : `${config.LAST_SUBJECT_PREFIX}.>`;
    const rows: string[][] = [];
    let sealed: { count: number; message: string } | null = null;
    /** Message ids shown: a result published while the stored ones were read comes both ways. */
    const shown = new Set<string>();
    const emit = (data: Uint8Array, headers: { get(k: string): string } | undefined) => {
      if (altId && headers?.get(HEADERS.altId) !== altId) return;
      const id = headers?.get(HEADERS.msgId);
      if (id) {
        if (shown.has(id)) return;
        shown.add(id);
      }
      let last: Last;
      try {
        last = readLast(data, codec);
      } catch (e) {
        // An encrypted result without its key is reported (not skipped in silence); anything else is not a .last.
        if (isAltlasError(e, 'ALT_DECRYPT')) sealed = { count: (sealed?.count ?? 0) + 1, message: e.message };
        return;
      }
      if (values.json) io.out(JSON.stringify(last));
      else if (values.follow) io.out(followLine(resultRow(last)));
      else rows.push(resultRow(last));
    };
    if (values.follow && !values.json) io.out(followLine(RESULT_HEADERS));
    // Following: new results are held from before the stored ones are read, and shown after them.
    let held: Msg[] | null = [];
    const sub = values.follow ? s.nc.subscribe(subject, {
      callback: (_e, m) => {
        if (held) held.push(m);
        else emit(m.data, m.headers);
      },
    }) : null;
    if (sub) await s.nc.flush();
    const info = await s.jsm.streams.info(config.LAST_STREAM);
    const { first_seq: first, last_seq: lastSeq, messages } = info.state;
    if (messages > 0) {
      const from = since ? await firstSeqSince(s.jsm, config.LAST_STREAM, first, lastSeq, since) : first;
      for await (const m of storedMessages(s.jsm, config.LAST_STREAM, subject, from, lastSeq, !altId)) emit(m.data, m.header);
    }
    for (const m of held.splice(0)) emit(m.data, m.headers);
    held = null;
    if (sub) {
      let stop = () => {};
      await new Promise<void>((resolve) => {
        stop = resolve;
        process.once('SIGINT', stop);
        void s.nc.closed().then(stop);
      });
      process.off('SIGINT', stop);
      sub.unsubscribe();
    }
    if (!values.json && !values.follow) io.out(rows.length ? table(RESULT_HEADERS, rows) : 'no results');
    const unread = sealed as { count: number; message: string } | null;
    if (unread) {
      io.err(`altlas results: ${unread.count} result${unread.count === 1 ? '' : 's'} could not be read (ALT_DECRYPT): ${unread.message}`);
      return EXIT.failed;
    }
    return EXIT.ok;
  }, { role: 'reader', streams: [config.LAST_STREAM] });
}
