/** `altlas publish <file|dir|->...`: sends `.alt` files to the ALT stream, optionally waiting for their `.last`. */
import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { headers as natsHeaders, type Msg } from '@nats-io/nats-core';
import { decodeAlt, recoverAltId } from '../alt/index.ts';
import { chooseSyntax } from '../alt/parse.ts';
import { decodeLimits } from '../config/load.ts';
import type { Last } from '../last/index.ts';
import { HEADERS, subjectToken } from '../contract/subjects.ts';
import { payloadCodec, type Codec } from '../security/codec.ts';
import { AltlasError } from '../errors.ts';
import { BUDGET_HEADERS } from '../budget/job-limits.ts';
import { readLast } from '../last/read.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, streamMissing, withNats, type Session } from './context.ts';
import { Progress, duration, percent } from '../ops/format.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';
import { expandInputs, readInput } from './validate.ts';
import { jobStream } from './watch.ts';
import { DEFAULT_LANE, lanePrefixOf, laneSubject, type Lane } from '../flow/lanes.ts';

export const PUBLISH_HELP = `Usage: altlas publish [options] <file|dir|->...

Publishes .alt files (JSON or YAML) to the ALT stream. Each file is validated first: an invalid
one is reported with its problems and skipped. Nats-Msg-Id is the job id, so publishing the same
file twice within the stream's duplicate window (2 minutes by default) gives one job; --rerun
runs it again. A W3C traceparent is set.

Each file goes to the subject of its own priority lane, <prefix>.<priority>.<tenant> (the
prefix from ALT_SUBJECTS, alt by default; the priority from the file, medium when it names none;
the tenant from --tenant, _ when none), e.g. alt.critical.acme: workers with RUNNER_LANES=true
start the highest lane first and share each lane fairly between tenants.

Options:
  --subject SUBJ     publish every file to this subject instead (e.g. alt.submit: no lane)
  --tenant T         the tenant the jobs are for: its subject token ends the subject, and the
                     Alt-Tenant header carries it as given
  --no-validate      send files as they are
  --rerun            run the jobs again even when the same ids were published within the stream's
                     duplicate window (a fresh Nats-Msg-Id instead of the job id)
  --wait             wait for each job's .last and print its status and success rate
  --stream           with --wait: print each job's AI answers as they come, task by task, job
                     after job (as altlas watch does), then its status
  --timeout SECONDS  how long --wait waits in all (default 300)
  --budget-tokens N  the jobs' budget in tokens (input and output of all their AI calls)
  --budget-cost X    the jobs' budget in money (AI_PRICES's currency); with a budget in the
                     file's metadata.budget, the tighter of the two applies
${COMMON_HELP}

Exit: 0 all published (and, with --wait, all succeeded); 1 a file was invalid, a job did not
succeed or --wait timed out; 2 usage error.`;

interface Sent {
  file: string;
  id: string | null;
  seq: number;
  duplicate: boolean;
}

const traceparent = () => `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;

/** Finds the `.last` of the ALT message `seq`: on the live subscription, or stored already. */
async function lookupLast(s: Session, sent: Sent, seen: Map<string, Last>, codec: Codec): Promise<Last | null> {
  const live = seen.get(String(sent.seq));
  if (live) return live;
  if (sent.id === null) return null;
  const stored = await s.jsm.streams.getMessage(s.config.LAST_STREAM, { last_by_subj: `${s.config.LAST_SUBJECT_PREFIX}.${subjectToken(sent.id)}` }).catch(() => null);
  if (stored && stored.header.get(HEADERS.altStreamSeq) === String(sent.seq)) return readLast(stored.data, codec);
  return null;
}

/**
 * No stream stored a publish to `subject`: the ALT stream is missing (STREAM_MISSING), or it
 * exists and takes other subjects (a usage error naming them).
 */
async function noStreamFor(s: Session, subject: string, cause: Error): Promise<Error> {
  const name = s.config.ALT_STREAM;
  try {
    const info = await s.jsm.streams.info(name);
    return new UsageError(`no stream stores subject ${subject}: the ${name} stream takes ${(info.config.subjects ?? []).join(', ')}; publish to one of those (--subject)`);
  } catch (e) {
    if (e instanceof Error && /stream not found/i.test(e.message)) return streamMissing([name], cause);
    // The user may not read the stream's configuration: say what the configuration expects.
    return new UsageError(`no stream stores subject ${subject}: is it one of the ${name} stream's subjects (ALT_SUBJECTS=${s.config.ALT_SUBJECTS})? Publish to one of those (--subject), or run "altlas init"`);
  }
}

export async function publishCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv, allowPositionals: true,
    options: {
      ...COMMON_OPTIONS, subject: { type: 'string' }, tenant: { type: 'string' }, 'no-validate': { type: 'boolean', default: false }, rerun: { type: 'boolean', default: false }, wait: { type: 'boolean', default: false }, stream: { type: 'boolean', default: false }, timeout: { type: 'string', default: '300' },
      'budget-tokens': { type: 'string' }, 'budget-cost': { type: 'string' },
    },
  });
  if (values.help) {
    io.out(PUBLISH_HELP);
    return EXIT.ok;
  }
  if (positionals.length === 0) throw new UsageError('publish needs at least one file, directory or -');
  if (values.stream && !values.wait) throw new UsageError('--stream goes with --wait');
  const timeoutS = Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError('--timeout must be a number of seconds > 0');
  const budgetTokens = values['budget-tokens'];
  if (budgetTokens !== undefined && !/^\d+$/.test(budgetTokens)) throw new UsageError('--budget-tokens must be a whole number >= 0');
  const budgetCost = values['budget-cost'];
  if (budgetCost !== undefined && !/^\d+(\.\d+)?$/.test(budgetCost)) throw new UsageError('--budget-cost must be a number >= 0');
  const config = configFrom(values);
  const codec = payloadCodec(config.PAYLOAD_KEYS);
  const files = await expandInputs(positionals);
  if (files.length === 0) throw new UsageError('no .alt files found');
  let failed = 0;

  return withNats(config, async (s) => {
    const seen = new Map<string, Last>();
    let wake: (() => void) | null = null;
    const sub = values.wait ? s.nc.subscribe(`${config.LAST_SUBJECT_PREFIX}.>`, {
      callback: (_err: Error | null, m: Msg) => {
        const seq = m.headers?.get(HEADERS.altStreamSeq);
        if (!seq) return;
        try {
          seen.set(seq, readLast(m.data, codec));
          wake?.();
        } catch {
          // not a .last: ignore
        }
      },
    }) : null;
    const sent: Sent[] = [];
    const progress = new Progress(files.length, 'publishing');
    const say = (line: string) => progress.line(line, io.out);
    for (const file of files) {
      const bytes = await readInput(file);
      const hint = file === '-' ? undefined : basename(file);
      let id: string | null;
      let syntax: 'json' | 'yaml';
      let priority: Lane = DEFAULT_LANE;
      if (!values['no-validate']) {
        const r = decodeAlt(bytes, { hint, limits: decodeLimits(config) });
        if (!r.ok) {
          failed++;
          if (values.json) say(JSON.stringify({ file, published: false, error: r.error.toJSON() }));
          else {
            say(`invalid   ${file}: ${r.error.code} ${r.error.message} (skipped)`);
            for (const p of r.error.problems) say(`          ${p.pointer || '/'}: ${p.message}`);
          }
          progress.tick();
          continue;
        }
        id = r.job.id;
        syntax = r.syntax;
        priority = r.job.priority;
      } else {
        id = recoverAltId(bytes, hint);
        syntax = chooseSyntax(new TextDecoder().decode(bytes.subarray(0, 4096)), hint);
        // Not validated, yet routed by its own priority when it decodes.
        if (!values.subject) {
          const r = decodeAlt(bytes, { hint, limits: decodeLimits(config) });
          if (r.ok) priority = r.job.priority;
        }
      }
      const subject = values.subject ?? laneSubject(lanePrefixOf(config.ALT_SUBJECTS), priority, values.tenant);
      const h = natsHeaders();
      h.set(HEADERS.contentType, syntax === 'json' ? 'application/json' : 'application/yaml');
      h.set('traceparent', traceparent());
      if (values.tenant?.trim()) h.set(HEADERS.tenant, values.tenant.trim());
      if (budgetTokens !== undefined) h.set(BUDGET_HEADERS.tokens, budgetTokens);
      if (budgetCost !== undefined) h.set(BUDGET_HEADERS.cost, budgetCost);
      // With PAYLOAD_KEYS the job travels and is stored encrypted; the worker opens it with the same keys.
      if (codec.encrypts) h.set(HEADERS.keyId, codec.keyId!);
      const body = codec.encrypts ? codec.seal(bytes, 'alt') : bytes;
      const max = s.nc.info?.max_payload ?? 1_048_576;
      if (body.length > max) throw new AltlasError('PAYLOAD_TOO_LARGE', `${file} is ${body.length} bytes; the NATS server takes at most ${max} (max_payload)`);
      // The job id de-duplicates a repeated publish; --rerun asks for another run of the same id.
      const msgID = id ? (values.rerun ? `${id}#rerun-${randomBytes(6).toString('hex')}` : id) : undefined;
      const ack = await s.js.publish(subject, body, { headers: h, ...(msgID ? { msgID } : {}) }).catch(async (e: Error) => {
        // No stream listens on the subject: JetStream answers "no responders", which nats.js reports as "jetstream is not enabled".
        if (e.name === 'JetStreamNotEnabled' || /no responders|not enabled/i.test(e.message)) throw await noStreamFor(s, subject, e);
        throw e;
      });
      sent.push({ file, id, seq: ack.seq, duplicate: ack.duplicate });
      if (values.json) say(JSON.stringify({ file, published: true, id, subject, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate }));
      else say(`published ${file}: id ${id ?? '(unknown)'}, ${ack.stream} seq ${ack.seq}${ack.duplicate ? ' (duplicate: published within the stream\'s duplicate window already, so one job; --rerun runs it again)' : ''}`);
      progress.tick();
    }
    progress.stop();
    if (!values.wait) return failed ? EXIT.failed : EXIT.ok;

    const deadline = Date.now() + timeoutS * 1000;
    const streamed = values.stream ? jobStream(s, io, values.json === true) : null;
    for (const item of sent) {
      // With --stream, each job's answers as they come (its .last ends it); a job whose id is unknown is waited for plainly.
      let last = streamed && item.id !== null
        ? await streamed.follow(item.id, item.seq, AbortSignal.timeout(Math.max(1, deadline - Date.now())))
        : await lookupLast(s, item, seen, codec);
      while (!last && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(1000, Math.max(0, deadline - Date.now())));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = null;
        last = await lookupLast(s, item, seen, codec);
      }
      if (!last) {
        failed++;
        if (values.json) io.out(JSON.stringify({ file: item.file, id: item.id, seq: item.seq, status: null, error: 'timeout' }));
        else io.out(`timeout   ${item.file}: no .last for ${item.id ?? `seq ${item.seq}`} within ${timeoutS} s`);
        continue;
      }
      if (last.status !== 'success') failed++;
      if (values.json) io.out(JSON.stringify({ file: item.file, id: last.alt_file_id, seq: item.seq, status: last.status, success_rate: last.success_rate, execution_time_ms: last.execution_time_ms, error: (last.metadata.error_code as string | undefined) ?? null }));
      else {
        const err = typeof last.metadata.error === 'string' ? { message: last.metadata.error } : undefined;
        io.out(`${last.status.padEnd(9)} ${item.file}: ${last.alt_file_id}, success ${percent(last.success_rate)}, ${duration(last.execution_time_ms)}${err ? `, ${err.message}` : ''}`);
      }
    }
    sub?.unsubscribe();
    return failed ? EXIT.failed : EXIT.ok;
  }, { role: 'producer', reconnectForever: values.stream === true });
}
