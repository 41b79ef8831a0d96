/** `altlas dlq list | show | replay | purge`: inspect, replay and remove dead-lettered .alt messages. */
import { createInterface } from 'node:readline/promises';
import { isSealed, payloadCodec } from '../security/codec.ts';
import { dlqRecord, dlqRecords, originalToShow, purgeRecords, recordDescriber, replayRecord, type DlqFilter } from '../ops/dlq.ts';
import { redactHeaders, redactOriginal } from '../ops/dlq-redact.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats } from './context.ts';
import { duration, parseDuration, table } from '../ops/format.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';
import { actorOf, recordAction } from '../ops/history.ts';
import { HEADERS } from '../contract/subjects.ts';

const ABOUT = `Dead letters are the original bytes of .alt messages that could not run, with their error
code, error, original subject and delivery count (originals too large for a message are kept in
the object store; the record points at them).`;

export const DLQ_VERB_HELP: Record<string, string> = {
  list: `Usage: altlas dlq list [--code CODE] [--older-than DURATION] [--json] [options]

Lists dead letters, oldest first: sequence, error code, job id, original subject, deliveries,
when it was stored (time and age) and error.
  --code CODE             only records of this error code (ALT_SCHEMA, MAX_DELIVER_EXCEEDED, ...)
  --older-than DURATION   only records stored longer ago than this (90s, 15m, 1h30m, 7d)
  --json                  one JSON object per record`,
  show: `Usage: altlas dlq show SEQ [--raw] [--json] [options]

Shows one dead letter: what list shows, every header, and the original body (decrypted with
PAYLOAD_KEYS when it was sent encrypted), redacted as results are: the values of secret keys
(password, api_key, ...) and credentials in texts (provider keys, URL passwords, JWTs, ...) are
masked, ordinary text is shown as it is; header values are masked as in the logs.
  --raw                   the original bytes and headers as they are stored, nothing masked
  --json                  one JSON object with the headers and the body`,
  replay: `Usage: altlas dlq replay SEQ... [--keep] [options]
       altlas dlq replay --all [--code CODE] [--older-than DURATION] [--keep] [options]

Republishes originals to their original subjects with their original headers, then removes
their records: the job is back in its stream, and if it fails again it gets a new record (one
record per job, however often it is replayed). Each replay carries Nats-Msg-Id
replay:<stream>:<seq>, so replaying one record twice within the duplicate window gives one job.
  --keep                  keep the records after the replay
  --all                   every record (with --code / --older-than: every matching record)
  --code CODE             with --all: only records of this error code
  --older-than DURATION   with --all: only records stored longer ago than this
  --json                  one JSON object per replay`,
  purge: `Usage: altlas dlq purge [--code CODE] [--older-than DURATION] [--yes] [options]

Removes dead letters for good (and the originals they keep in the object store). Without a
filter it removes every record. It asks for confirmation on a terminal; --yes skips the question
(required when standard input is not a terminal).
  --code CODE             only records of this error code
  --older-than DURATION   only records stored longer ago than this (90s, 15m, 1h30m, 7d)
  --yes                   do not ask
  --json                  one JSON object with the sequences removed`,
};

export const DLQ_HELP = `Usage: altlas dlq list [--code CODE] [--older-than DURATION] [options]
       altlas dlq show SEQ [options]
       altlas dlq replay SEQ... | --all [--code CODE] [--older-than DURATION] [options]
       altlas dlq purge [--code CODE] [--older-than DURATION] [--yes] [options]

${ABOUT}
Run "altlas dlq <verb> --help" for a verb's options.
${COMMON_HELP}

Exit: 0; 1 a sequence was not found, or a purge was declined; 2 usage error.`;

const sequences = (args: string[]) => args.map((a) => {
  const n = Number(a);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`not a sequence number: ${a}`);
  return n;
});

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export async function dlqCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv, allowPositionals: true,
    options: { ...COMMON_OPTIONS, code: { type: 'string' }, all: { type: 'boolean', default: false }, 'older-than': { type: 'string' }, yes: { type: 'boolean', default: false }, keep: { type: 'boolean', default: false }, raw: { type: 'boolean', default: false } },
  });
  const [verb, ...args] = positionals;
  if (verb && !DLQ_VERB_HELP[verb]) throw new UsageError(`unknown dlq verb: ${verb} (list, show, replay, purge)`);
  if (values.help || !verb) {
    io.out(verb ? DLQ_VERB_HELP[verb] : DLQ_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const seqs = sequences(args);
  const olderThan = values['older-than'] === undefined ? undefined : parseDuration(values['older-than']);
  if (olderThan === null) throw new UsageError(`--older-than: "${values['older-than']}" is not a duration (90s, 15m, 1h30m, 7d)`);
  const filter: DlqFilter = { code: values.code, before: olderThan === undefined ? undefined : new Date(Date.now() - olderThan) };
  const filtered = filter.code !== undefined || filter.before !== undefined;
  if ((verb === 'list' || verb === 'purge') && seqs.length) throw new UsageError(`dlq ${verb} takes no sequence numbers`);
  if (verb === 'show' && seqs.length !== 1) throw new UsageError('dlq show takes one sequence number');
  if (values.raw && verb !== 'show') throw new UsageError('--raw goes with dlq show');
  if (verb === 'replay' && values.all === (seqs.length > 0)) throw new UsageError('dlq replay takes sequence numbers or --all');
  if (verb === 'replay' && filtered && !values.all) throw new UsageError('--code and --older-than go with --all');
  if (verb === 'purge' && !values.yes && !process.stdin.isTTY) throw new UsageError('dlq purge removes records for good: confirm with --yes (standard input is not a terminal)');
  const config = configFrom(values);
  const codec = payloadCodec(config.PAYLOAD_KEYS);
  const describeRecord = recordDescriber(codec);
  return withNats(config, async (s) => {
    if (verb === 'list') {
      const list = (await dlqRecords(s, filter)).map(describeRecord);
      if (values.json) list.forEach((r) => io.out(JSON.stringify(r)));
      else io.out(list.length ? table(['SEQ', 'CODE', 'JOB ID', 'SUBJECT', 'DELIVERIES', 'STORED', 'ERROR'], list.map((r) => [String(r.seq), r.code ?? '', r.alt_id ?? '-', r.subject ?? '', String(r.deliveries), `${r.time} (${duration(Math.max(0, Date.now() - Date.parse(r.time)))} ago)`, r.error ?? ''])) : filtered ? 'no dead letters match' : 'the DLQ is empty');
      return EXIT.ok;
    }
    if (verb === 'show') {
      const m = await dlqRecord(s, seqs[0]);
      if (!m) {
        io.err(`no DLQ record ${seqs[0]}`);
        return EXIT.failed;
      }
      const d = describeRecord(m);
      const shown = await originalToShow(s, m);
      const original = 'bytes' in shown ? (isSealed(shown.bytes) ? codec.open(shown.bytes, 'alt') : shown.bytes) : null;
      // Redacted unless --raw: the original is a job, with whatever secrets its producer put in it.
      const body = original === null ? (shown as { withheld: string }).withheld : values.raw ? new TextDecoder().decode(original) : redactOriginal(original, m.header.get('Content-Type') || undefined);
      const headers = values.raw ? Object.fromEntries([...m.header].map(([k, v]) => [k, v.join(', ')])) : redactHeaders(m.header);
      if (values.json) io.out(JSON.stringify({ ...d, headers, body }));
      else {
        for (const [k, v] of Object.entries(d)) io.out(`${k.padEnd(11)} ${String(v ?? '-')}`);
        io.out(`\n${body}`);
      }
      return EXIT.ok;
    }
    if (verb === 'replay') {
      const targets = values.all ? await dlqRecords(s, filter) : [];
      for (const seq of seqs) {
        const m = await dlqRecord(s, seq);
        if (!m) {
          io.err(`no DLQ record ${seq}`);
          return EXIT.failed;
        }
        targets.push(m);
      }
      for (const m of targets) {
        // Stamped before the publish: the timeline shows the replay before its message's delivery.
        const at = new Date();
        const r = await replayRecord(s, m, { keep: values.keep });
        const altId = m.header.get(HEADERS.altId);
        if (altId && !r.duplicate) await recordAction(s.js, config, 'dlq_replayed', altId, { by: actorOf(config), detail: { dlq_seq: m.seq, seq: r.seq } }, codec, at);
        if (values.json) io.out(JSON.stringify(r));
        else io.out(`replayed DLQ ${r.dlq_seq} to ${r.subject}: ${r.stream} seq ${r.seq}${r.duplicate ? ' (duplicate: replayed already)' : ''}${r.removed ? '; record removed' : ''}`);
      }
      if (!values.json && targets.length === 0) io.out('nothing to replay');
      return EXIT.ok;
    }
    // purge
    const targets = await dlqRecords(s, filter);
    if (targets.length === 0) {
      io.out(values.json ? JSON.stringify({ removed: [] }) : 'nothing to purge');
      return EXIT.ok;
    }
    const what = `${targets.length} dead letter${targets.length === 1 ? '' : 's'}${filter.code ? ` of ${filter.code}` : ''}${filter.before ? ` older than ${values['older-than']}` : ''} from ${config.DLQ_STREAM}`;
    if (!values.yes && !(await confirm(`remove ${what} for good? [y/N] `))) {
      io.err('nothing removed');
      return EXIT.failed;
    }
    const removed = await purgeRecords(s, targets);
    io.out(values.json ? JSON.stringify({ removed }) : `removed ${removed.length} of ${what}`);
    return removed.length === targets.length ? EXIT.ok : EXIT.failed;
  }, { role: verb === 'replay' || verb === 'purge' ? 'operator' : 'reader', streams: [config.DLQ_STREAM] });
}
