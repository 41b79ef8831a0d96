/**
 * `altlas replay JOB --from TASK --alt FILE [--set key=value]...`: runs a finished job again from
 * one task. The tasks that do not depend on it keep their recorded outputs (from its `.last`, an
 * output stored as an artifact read back whole); that task and everything downstream of it (2.0:
 * the top-level construct that holds it) run again. The kept results go to the status bucket as
 * the replay's seed; the job's `.alt` (the file given, with the `--set` changes) is published to
 * its original subject with `Altlas-Replay: <id>`; the new `.last` has a new execution id and
 * records `metadata.replay_of`.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Kvm } from '@nats-io/kv';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { decodeAlt } from '../alt/decode.ts';
import { DEFAULT_DECODE_LIMITS } from '../alt/limits.ts';
import { parsePayload } from '../alt/parse.ts';
import { AltlasError } from '../errors.ts';
import { parseArtifactUrl } from '../last/artifacts.ts';
import type { Last } from '../last/index.ts';
import { subjectToken } from '../messaging/subjects.ts';
import { applySet, keptResults, parseSet } from '../replay/plan.ts';
import { REPLAY_HEADER, seedKey, type ReplaySeed } from '../replay/seed.ts';
import { payloadCodec } from '../security/codec.ts';
import { readObject } from '../status/store-access.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats } from './context.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';
import { readLast } from './read-last.ts';

export const REPLAY_HELP = `Usage: altlas replay JOB-ID --from TASK-ID --alt FILE [--set KEY=VALUE]... [--wait] [--timeout 300] [--json] [options]

Runs a finished job again from one task: every task that does not depend on it keeps its
recorded output (from the job's newest .last and its artifacts) and is not run; the task and
everything downstream of it (2.0: the top-level construct or call that holds it) run again. The
job's .alt is FILE (a .alt is not kept once its job ran), which must be the same job id.
  --from TASK-ID       the task to run again from (a task id, a 2.0 segment id or instance key)
  --alt FILE           the job's .alt (JSON or YAML), e.g. with a fixed prompt
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
  if (typeof values.alt !== 'string' || !values.alt) throw new UsageError('replay needs --alt FILE (the job\'s .alt)');
  const altId = positionals[0];
  const from = values.from;
  const sets = ((values.set as string[] | undefined) ?? []).map(parseSet);
  const timeoutS = Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError('--timeout takes a positive number of seconds');
  const bytes = await readFile(values.alt);
  const doc = structuredClone(parsePayload(bytes, DEFAULT_DECODE_LIMITS, values.alt).value) as Record<string, unknown>;
  for (const s of sets) applySet(doc, s);
  const body = JSON.stringify(doc);
  const decoded = decodeAlt(body);
  if (!decoded.ok) throw decoded.error;
  if (decoded.job.id !== altId) throw new AltlasError('REPLAY_INVALID', `${values.alt} is job ${decoded.job.id}, not ${altId}`, { context: { altId } });
  const config = configFrom(values);
  const codec = payloadCodec(config.PAYLOAD_KEYS);
  return withNats(config, async (s) => {
    const lastSubject = `${config.LAST_SUBJECT_PREFIX}.${subjectToken(altId)}`;
    const stored = await s.jsm.streams.getMessage(config.LAST_STREAM, { last_by_subj: lastSubject }).catch(() => null);
    if (!stored) throw new AltlasError('REPLAY_INVALID', `job ${altId} has no .last in ${config.LAST_STREAM}: only a finished job is replayed`, { context: { altId } });
    const last: Last = readLast(stored.data, codec);
    const kept = keptResults(decoded.job, last, from);
    // An output stored as an artifact: the .last keeps a preview; the seed takes the whole text.
    for (const r of kept) {
      const art = (last.artifacts ?? []).find((a) => a.task_id === r.task_id && (a.metadata as Record<string, unknown>).stored === 'object');
      const loc = art ? parseArtifactUrl(art.path) : null;
      if (loc?.kind === 'obj' && r.output) {
        const blob = await readObject(s.jsm, loc.bucket, loc.name).catch(() => null);
        if (!blob) throw new AltlasError('REPLAY_INVALID', `the output of task ${r.task_id} (${art!.path}) is gone: it cannot be kept`, { context: { altId } });
        r.output = { ...r.output, text: new TextDecoder().decode(codec.open(blob, `obj:${loc.name}`)) };
      }
    }
    const id = randomUUID().replace(/-/g, '');
    const seed: ReplaySeed = { alt_id: altId, replay_of: { execution_id: last.execution_id, from, kept: kept.length, ...(sets.length ? { set: sets.map((x) => x.path) } : {}) }, results: kept };
    const kv = await new Kvm(s.nc).open(config.RUNNER_STATUS_BUCKET);
    await kv.put(seedKey(id), new TextEncoder().encode(JSON.stringify(seed)));
    const h = natsHeaders();
    h.set(REPLAY_HEADER, id);
    h.set('Content-Type', 'application/json');
    const subject = typeof last.metadata.source_subject === 'string' ? last.metadata.source_subject : config.ALT_SUBJECTS.split(',')[0].trim().replace(/\.>$/, '.submit');
    const ack = await s.js.publish(subject, codec.encrypts ? codec.seal(new TextEncoder().encode(body), 'alt') : body, { headers: h, msgID: `replay:${subjectToken(altId)}:${id}` });
    const out = { alt_id: altId, replay_of: last.execution_id, from, kept: kept.map((r) => r.task_id), seq: ack.seq };
    if (!values.wait) {
      io.out(values.json ? JSON.stringify(out) : `${altId}: replay of ${last.execution_id} from ${from} published (message ${ack.seq}); ${kept.length} task(s) kept`);
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
