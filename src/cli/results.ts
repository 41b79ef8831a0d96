/** `altlas results`: reads `.last` results from the LAST stream with an ephemeral ordered consumer. */
import { DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import type { Last } from '../last/index.ts';
import { HEADERS, subjectToken } from '../messaging/subjects.ts';
import { payloadCodec } from '../security/codec.ts';
import { isAltlasError } from '../errors.ts';
import { readLast } from './read-last.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats } from './context.ts';
import { duration, fitCell, parseDuration, parseRfc3339, percent, table } from './format.ts';
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
export function parseSince(text: string, now = Date.now()): Date {
  const ms = parseDuration(text);
  if (ms !== null) return new Date(now - ms);
  const at = parseRfc3339(text);
  if (!at) throw new UsageError(`--since: "${text}" is neither an RFC 3339 time (2025-04-01T12:00:00Z) nor a duration (90s, 15m, 1h30m, 2d)`);
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
    const consumer = await s.js.consumers.get(config.LAST_STREAM, {
      filter_subjects: altId ? `${config.LAST_SUBJECT_PREFIX}.${subjectToken(altId)}` : `${config.LAST_SUBJECT_PREFIX}.>`,
      ...(since ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: since.toISOString() } : { deliver_policy: DeliverPolicy.All }),
    });
    const rows: string[][] = [];
    let sealed: { count: number; message: string } | null = null;
    const emit = (m: JsMsg) => {
      if (altId && m.headers?.get(HEADERS.altId) !== altId) return;
      let last: Last;
      try {
        last = readLast(m.data, codec);
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
    const pending = (await consumer.info()).num_pending;
    if (pending > 0 || values.follow) {
      const messages = await consumer.consume();
      const stop = () => void messages.close();
      process.once('SIGINT', stop);
      try {
        for await (const m of messages) {
          emit(m);
          if (!values.follow && m.info.pending === 0) break;
        }
      } finally {
        process.off('SIGINT', stop);
      }
    }
    if (!values.json && !values.follow) io.out(rows.length ? table(RESULT_HEADERS, rows) : 'no results');
    const unread = sealed as { count: number; message: string } | null;
    if (unread) {
      io.err(`altlas results: ${unread.count} result${unread.count === 1 ? '' : 's'} could not be read (ALT_DECRYPT): ${unread.message}`);
      return EXIT.failed;
    }
    return EXIT.ok;
  }, { streams: [config.LAST_STREAM] });
}
