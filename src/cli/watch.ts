/** `altlas watch <job-id>`: prints a job's AI answers as they come, task by task, until its `.last` is stored. */
import type { Last } from '../last/index.ts';
import { TaskPrinter } from '../progress/printer.ts';
import type { ViewEvent } from '../progress/view.ts';
import { warmUp, watchJob, type WatchJobOptions } from '../progress/watch-job.ts';
import { payloadCodec } from '../security/codec.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats, type Session } from './context.ts';
import { duration, percent } from '../ops/format.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';

export const WATCH_HELP = `Usage: altlas watch <job-id> [--timeout SECONDS] [--json] [options]

Prints the job's AI answers as they arrive, task by task (the text of tasks running beside the
one shown is printed when it ends), from the progress stream (PROGRESS_STREAM): what is stored
first, then live. The job may not be published yet: watch waits for it. A new attempt of a task
(a retry, a redelivery after a worker died) is announced on a line of its own, never glued to the
one before. After a lost connection it goes on from the last message it read. It ends when the
job's .last is stored, with the job's status; a job whose .last is stored already is replayed.
  --timeout SECONDS   give up after this long (default: wait as long as it takes)
  --json              one JSON object per event (run, attempt, text, end, gap) and a last one, done
${COMMON_HELP}

Exit: 0 the job succeeded; 1 it did not (partialsuccess, failure, cancelled) or --timeout passed
first; 2 usage error.`;

/** What `altlas watch` and `altlas publish --wait --stream` print of one job, and how they end. */
export interface JobStream {
  /** Prints the job's events; returns its `.last`, or null when `signal` stopped it first. */
  follow(jobId: string, altSeq?: number, signal?: AbortSignal, onWaiting?: () => void): Promise<Last | null>;
}

/** Writes text as it is (no line end added). */
const rawWriter = (io: Io) => (text: string) => (io.write ? io.write(Buffer.from(text)) : io.out(text));

/** Follows jobs for a person (text, task by task) or a program (JSON lines, as they come). */
export function jobStream(s: Session, io: Io, json: boolean): JobStream {
  const codec = payloadCodec(s.config.PAYLOAD_KEYS);
  const write = rawWriter(io);
  return {
    async follow(jobId, altSeq, signal, onWaiting) {
      const show = (e: ViewEvent, printer: TaskPrinter | null, out: (line: string) => void) => {
        if (printer) printer.onEvent(e);
        else out(JSON.stringify({ ...e, job: jobId, at: performance.timeOrigin + performance.now() }));
      };
      // What shows the first text is run once on nothing, so it is compiled before that text comes.
      const idle = json ? null : new TaskPrinter(() => {}, jobId);
      warmUp(codec, (e) => show(e, idle, () => {}));
      const printer = json ? null : new TaskPrinter(write, jobId);
      const onEvent = (e: ViewEvent) => show(e, printer, io.out);
      const options: WatchJobOptions = { nc: s.nc, jsm: s.jsm, config: s.config, codec, jobId, altSeq, onEvent, signal, onWaiting };
      const r = await watchJob(options);
      printer?.finish();
      return r.last;
    },
  };
}

/** The closing line (or JSON object) of a followed job. */
export function jobOutcome(io: Io, json: boolean, jobId: string, last: Last | null, timeoutS: number | null): number {
  if (!last) {
    if (json) io.out(JSON.stringify({ type: 'done', job: jobId, status: null, error: 'timeout' }));
    else io.out(`timeout   ${jobId}: no .last within ${timeoutS} s`);
    return EXIT.failed;
  }
  if (json) io.out(JSON.stringify({ type: 'done', job: jobId, status: last.status, success_rate: last.success_rate, execution_time_ms: last.execution_time_ms, error: (last.metadata.error_code as string | undefined) ?? null }));
  else io.out(`${last.status.padEnd(9)} ${jobId}: success ${percent(last.success_rate)}, ${duration(last.execution_time_ms)}${typeof last.metadata.error === 'string' ? `, ${last.metadata.error}` : ''}`);
  return last.status === 'success' ? EXIT.ok : EXIT.failed;
}

/** Parses --timeout: seconds > 0, or null for none. */
export function timeoutOption(text: string | undefined): number | null {
  if (text === undefined) return null;
  const s = Number(text);
  if (!Number.isFinite(s) || s <= 0) throw new UsageError('--timeout must be a number of seconds > 0');
  return s;
}

export async function watchCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, allowPositionals: true, options: { ...COMMON_OPTIONS, timeout: { type: 'string' } } });
  if (values.help) {
    io.out(WATCH_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('watch takes one job id');
  const timeoutS = timeoutOption(values.timeout);
  const config = configFrom(values);
  const signal = timeoutS === null ? undefined : AbortSignal.timeout(timeoutS * 1000);
  return withNats(config, async (s) => {
    const waiting = () => io.err(`altlas watch: nothing of ${positionals[0]} is stored yet; waiting for it`);
    const last = await jobStream(s, io, values.json === true).follow(positionals[0], undefined, signal, waiting);
    return jobOutcome(io, values.json === true, positionals[0], last, timeoutS);
  }, { role: 'reader', streams: [config.PROGRESS_STREAM, config.LAST_STREAM], reconnectForever: true });
}
