/** `altlas history <job-id>`: a job's timeline from the history stream; `--fleet`: the fleet's (pause, drains, concurrency). */
import { payloadCodec } from '../security/codec.ts';
import { FLEET } from '../status/history.ts';
import { describeEvent, readHistory } from '../status/history-read.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats } from './context.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';

export const HISTORY_HELP = `Usage: altlas history <job-id> [--json] [options]
       altlas history --fleet [--json] [options]

A job's timeline from the history stream (HISTORY_STREAM, kept HISTORY_MAX_AGE_MS, independent of
the status bucket's TTL), oldest first: each delivery and the worker it went to, the start, each
task's failed attempts and outcome, checkpoints, claims, lost leases, hand-backs, parking and
resuming, the .last stored or the dead letter, and what operators did (cancel requests,
approvals, replays) with who did it. --fleet: the fleet's own events instead (pause, resume,
drains, concurrency changes).
  --fleet     the fleet's events
  --json      one JSON object per event
${COMMON_HELP}

Exit: 0; 1 no event of the job is stored; 2 usage error.`;

export async function historyCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, allowPositionals: true, options: { ...COMMON_OPTIONS, fleet: { type: 'boolean', default: false } } });
  if (values.help) {
    io.out(HISTORY_HELP);
    return EXIT.ok;
  }
  if (values.fleet ? positionals.length !== 0 : positionals.length !== 1) throw new UsageError(values.fleet ? 'history --fleet takes no job id' : 'history takes one job id (or --fleet)');
  const id = values.fleet ? FLEET : positionals[0];
  const config = configFrom(values);
  return withNats(config, async (s) => {
    const events = await readHistory({ jsm: s.jsm, stream: config.HISTORY_STREAM, prefix: config.HISTORY_SUBJECT_PREFIX, codec: payloadCodec(config.PAYLOAD_KEYS) }, id);
    if (!events.length) {
      io.err(values.fleet ? 'no fleet event is stored' : `no history of job ${id} (unknown, older than HISTORY_MAX_AGE_MS, or HISTORY_ENABLED=false)`);
      return EXIT.failed;
    }
    for (const e of events) io.out(values.json ? JSON.stringify(e) : `${e.at}  ${describeEvent(e)}`);
    return EXIT.ok;
  }, { role: 'reader', streams: [config.HISTORY_STREAM] });
}
