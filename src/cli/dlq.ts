/** `altlas dlq list | show SEQ | replay SEQ... | replay --all [--code CODE]`: inspect and replay dead letters. */
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { StoredMsg } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { HEADERS } from '../messaging/subjects.ts';
import { parseArtifactUrl } from '../last/index.ts';
import { isSealed, payloadCodec } from '../security/codec.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats, type Session } from './context.ts';
import { table } from './format.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';

export const DLQ_HELP = `Usage: altlas dlq list [--code CODE] [options]
       altlas dlq show SEQ [options]
       altlas dlq replay SEQ... [options]
       altlas dlq replay --all [--code CODE] [options]

Dead letters are the original bytes of .alt messages that could not run, with their error code,
error, original subject and delivery count. "replay" republishes originals to their original
subjects (the DLQ record stays; each replay has Nats-Msg-Id replay:<stream>:<seq>, so replaying
the same record twice within the duplicate window gives one job).
${COMMON_HELP}

Exit: 0; 1 a sequence was not found; 2 usage error.`;

/** The dead letters of the DLQ stream, oldest first, optionally of one code. */
async function records(s: Session, code?: string): Promise<StoredMsg[]> {
  const info = await s.jsm.streams.info(s.config.DLQ_STREAM);
  const out: StoredMsg[] = [];
  if (info.state.messages === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await s.jsm.streams.getMessage(s.config.DLQ_STREAM, { seq }).catch(() => null);
    if (m && (!code || m.header.get(HEADERS.dlqCode) === code)) out.push(m);
  }
  return out;
}

/** The original bytes of a dead letter: in the record, or in the object store it points at (Dlq-Payload). */
export async function originalOf(s: Session, m: StoredMsg): Promise<Uint8Array> {
  const ref = m.header.get(HEADERS.dlqPayload);
  if (!ref) return m.data;
  const loc = parseArtifactUrl(ref);
  if (!loc || loc.kind !== 'obj') throw new UsageError(`DLQ record ${m.seq} points at ${ref}, which is not an object store URL`);
  const blob = await (await new Objm(s.nc).open(loc.bucket)).getBlob(loc.name);
  if (!blob) throw new UsageError(`the original of DLQ record ${m.seq} is gone from ${ref} (expired?)`);
  return blob;
}

function describe(m: StoredMsg) {
  const h = (k: string) => m.header.get(k) || null;
  return {
    seq: m.seq, code: h(HEADERS.dlqCode), error: h(HEADERS.dlqError), alt_id: h(HEADERS.altId), subject: h(HEADERS.dlqSubject),
    stream: h(HEADERS.dlqStream), stream_seq: Number(h(HEADERS.dlqSeq)), deliveries: Number(h(HEADERS.dlqDeliveries)), time: m.time.toISOString(), bytes: Number(h(HEADERS.dlqPayloadBytes) ?? m.data.length), payload: h(HEADERS.dlqPayload),
  };
}

async function replay(s: Session, m: StoredMsg, io: Io, json: boolean): Promise<void> {
  const subject = m.header.get(HEADERS.dlqSubject);
  if (!subject) throw new UsageError(`DLQ record ${m.seq} has no ${HEADERS.dlqSubject} header`);
  const h = natsHeaders();
  for (const [k, v] of m.header) if (!k.toLowerCase().startsWith('dlq-') && k !== HEADERS.msgId) for (const x of v) h.append(k, x);
  const ack = await s.js.publish(subject, await originalOf(s, m), { headers: h, msgID: `replay:${s.config.DLQ_STREAM}:${m.seq}` });
  if (json) io.out(JSON.stringify({ dlq_seq: m.seq, subject, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate }));
  else io.out(`replayed DLQ ${m.seq} to ${subject}: ${ack.stream} seq ${ack.seq}${ack.duplicate ? ' (duplicate: replayed already)' : ''}`);
}

export async function dlqCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv, allowPositionals: true,
    options: { ...COMMON_OPTIONS, code: { type: 'string' }, all: { type: 'boolean', default: false } },
  });
  if (values.help || positionals.length === 0) {
    io.out(DLQ_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const [verb, ...args] = positionals;
  const seqs = args.map((a) => {
    const n = Number(a);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`not a sequence number: ${a}`);
    return n;
  });
  const config = configFrom(values);
  return withNats(config, async (s) => {
    if (verb === 'list') {
      const list = (await records(s, values.code)).map(describe);
      if (values.json) list.forEach((r) => io.out(JSON.stringify(r)));
      else io.out(list.length ? table(['SEQ', 'CODE', 'ALT ID', 'SUBJECT', 'DELIVERIES', 'TIME', 'ERROR'], list.map((r) => [String(r.seq), r.code ?? '', r.alt_id ?? '-', r.subject ?? '', String(r.deliveries), r.time, (r.error ?? '').slice(0, 80)])) : 'the DLQ is empty');
      return EXIT.ok;
    }
    if (verb === 'show') {
      if (seqs.length !== 1) throw new UsageError('dlq show takes one sequence number');
      const m = await s.jsm.streams.getMessage(config.DLQ_STREAM, { seq: seqs[0] }).catch(() => null);
      if (!m) {
        io.err(`no DLQ record ${seqs[0]}`);
        return EXIT.failed;
      }
      const d = describe(m);
      const original = await originalOf(s, m);
      const body = new TextDecoder().decode(isSealed(original) ? payloadCodec(config.PAYLOAD_KEYS).open(original, 'alt') : original);
      if (values.json) io.out(JSON.stringify({ ...d, headers: Object.fromEntries([...m.header].map(([k, v]) => [k, v.join(', ')])), body }));
      else {
        for (const [k, v] of Object.entries(d)) io.out(`${k.padEnd(11)} ${String(v ?? '-')}`);
        io.out(`\n${body}`);
      }
      return EXIT.ok;
    }
    if (verb === 'replay') {
      if (values.all === (seqs.length > 0)) throw new UsageError('dlq replay takes sequence numbers or --all');
      const targets = values.all ? await records(s, values.code) : [];
      for (const seq of seqs) {
        const m = await s.jsm.streams.getMessage(config.DLQ_STREAM, { seq }).catch(() => null);
        if (!m) {
          io.err(`no DLQ record ${seq}`);
          return EXIT.failed;
        }
        targets.push(m);
      }
      for (const m of targets) await replay(s, m, io, values.json === true);
      if (!values.json && targets.length === 0) io.out('nothing to replay');
      return EXIT.ok;
    }
    throw new UsageError(`unknown dlq verb: ${verb} (list, show, replay)`);
  });
}
