/**
 * `altlas replay JOB --from TASK --alt FILE [--set key=value]...`: runs a finished job again from
 * one task. The tasks that do not depend on it keep their recorded outputs (from its `.last`, an
 * output stored as an artifact read back whole); that task and everything downstream of it (2.0:
 * the top-level construct that holds it) run again. The kept results go to the status bucket as
 * the replay's seed; the job's `.alt` (the file given, with the `--set` changes) is published to
 * its original subject with `Altlas-Replay: <id>`; the new `.last` has a new execution id and
 * records `metadata.replay_of`.
 */
import { readFile } from 'node:fs/promises';
import { Kvm } from '@nats-io/kv';
import { lastSubjectOf, publishReplay } from '../replay/publish.ts';
import { payloadCodec } from '../security/codec.ts';
import { actorOf, recordAction } from '../ops/history.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats } from './context.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';
import { readLast } from '../last/read.ts';

export const REPLAY_HELP = `Usage: altlas replay JOB-ID --from TASK-ID [--alt FILE] [--set KEY=VALUE]... [--wait] [--timeout 300] [--json] [options]

Runs a finished job again from one task: every task that does not depend on it keeps its
recorded output (from the job's newest .last and its artifacts) and is not run; the task and
everything downstream of it (2.0: the top-level construct or call that holds it) run again. The
job's .alt is FILE, or else the one the workers kept (RUNNER_KEEP_ALT=true); the same job id.
  --from TASK-ID       the task to run again from (a task id, a 2.0 segment id or instance key)
  --alt FILE           the job's .alt (JSON or YAML), e.g. with a fixed prompt; default: the kept one
  --set KEY=VALUE      <task>.<parameter>=VALUE sets a task's parameter (description/content: its text);
                       <name>=VALUE a 2.0 global variable (VALUE read as JSON when it parses, else text)
  --wait               wait for the replay's .last and print its status
  --timeout SECONDS    how long --wait waits (default 300)
  --json               one JSON object
${COMMON_HELP}

Exit: 0 published (with --wait: the replay succeeded); 1 refused (REPLAY_INVALID), failed, or
timed out; 2 usage error.`;

export async function replayCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv, allowPositionals: true,
    options: {
      ...COMMON_OPTIONS, from: { type: 'string' }, alt: { type: 'string' }, set: { type: 'string', multiple: true },
      wait: { type: 'boolean', default: false }, timeout: { type: 'string', default: '300' },
    },
  });
  if (values.help) {
    io.out(REPLAY_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('replay takes one job id');
  if (typeof values.from !== 'string' || !values.from) throw new UsageError('replay needs --from TASK-ID');
  const altId = positionals[0];
  const from = values.from;
  const timeoutS = Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError('--timeout takes a positive number of seconds');
  const alt = typeof values.alt === 'string' && values.alt ? await readFile(values.alt) : null;
  const config = configFrom(values);
  const codec = payloadCodec(config.PAYLOAD_KEYS);
  return withNats(config, async (s) => {
    const status = await new Kvm(s.nc).open(config.RUNNER_STATUS_BUCKET);
    // Stamped before the publish: the timeline shows the replay before its message's delivery.
    const at = new Date();
    const r = await publishReplay({ config, codec, jsm: s.jsm, js: s.js, status }, { altId, from, alt, hint: typeof values.alt === 'string' ? values.alt : undefined, sets: (values.set as string[] | undefined) ?? [] });
    const { last } = r;
    await recordAction(s.js, config, 'replayed', altId, { by: actorOf(config), detail: { from, seq: r.seq, replay_of: last.execution_id } }, codec, at);
    const out = { alt_id: altId, replay_of: r.replay_of, from, kept: r.kept, seq: r.seq };
    const lastSubject = lastSubjectOf(config, altId);
    if (!values.wait) {
      io.out(values.json ? JSON.stringify(out) : `${altId}: replay of ${last.execution_id} from ${from} published (message ${r.seq}); ${r.kept.length} task(s) kept`);
      return EXIT.ok;
    }
    const deadline = Date.now() + timeoutS * 1000;
    while (Date.now() < deadline) {
      const m = await s.jsm.streams.getMessage(config.LAST_STREAM, { last_by_subj: lastSubject }).catch(() => null);
      const next = m ? readLast(m.data, codec) : null;
      if (next && (next.metadata.replay_of as { execution_id?: string } | undefined)?.execution_id === last.execution_id && next.execution_id !== last.execution_id) {
        io.out(values.json ? JSON.stringify({ ...out, status: next.status, execution_id: next.execution_id }) : `${altId}: replay ${next.status} (execution ${next.execution_id}, replays ${last.execution_id})`);
        return next.status === 'success' ? EXIT.ok : EXIT.failed;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    io.err(`${altId}: no .last of the replay after ${timeoutS} s`);
    return EXIT.failed;
  }, { role: 'operator', streams: [config.LAST_STREAM, `KV_${config.RUNNER_STATUS_BUCKET}`] });
}
