/** `altlas status`: the streams and the consumer at a glance. */
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats } from './context.ts';
import { table } from './format.ts';
import { EXIT, parseCommandArgs, type Io } from './output.ts';

export const STATUS_HELP = `Usage: altlas status [options]

Shows the ALT, LAST and DLQ streams (messages, bytes) and the durable consumer (pending,
ack pending, redelivered, pull requests waiting: roughly the workers bound).
${COMMON_HELP}

Exit: 0; 1 a stream or the consumer is missing; 2 usage error.`;

export async function statusCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: { ...COMMON_OPTIONS } });
  if (values.help) {
    io.out(STATUS_HELP);
    return EXIT.ok;
  }
  const config = configFrom(values);
  return withNats(config, async (s) => {
    const streams = [];
    for (const name of [config.ALT_STREAM, config.LAST_STREAM, config.DLQ_STREAM]) {
      const info = await s.jsm.streams.info(name).catch(() => null);
      streams.push({ stream: name, exists: info !== null, messages: info?.state.messages ?? 0, bytes: info?.state.bytes ?? 0, subjects: info?.config.subjects ?? [] });
    }
    const c = await s.jsm.consumers.info(config.ALT_STREAM, config.RUNNER_DURABLE).catch(() => null);
    const consumer = c && {
      consumer: config.RUNNER_DURABLE, pending: c.num_pending, ack_pending: c.num_ack_pending, redelivered: c.num_redelivered,
      waiting: c.num_waiting, delivered: c.delivered.stream_seq, ack_floor: c.ack_floor.stream_seq,
    };
    const dlq = streams[2].messages;
    if (values.json) io.out(JSON.stringify({ server: s.nc.getServer(), version: s.nc.info?.version, streams, consumer, dlq }));
    else {
      io.out(`server ${s.nc.getServer()} (nats-server ${s.nc.info?.version ?? '?'})\n`);
      io.out(table(['STREAM', 'MESSAGES', 'BYTES', 'SUBJECTS'], streams.map((x) => [x.stream, x.exists ? String(x.messages) : 'missing', String(x.bytes), x.subjects.join(',')])));
      io.out('');
      io.out(consumer
        ? table(['CONSUMER', 'PENDING', 'ACK PENDING', 'REDELIVERED', 'PULLS WAITING', 'DLQ'], [[consumer.consumer, String(consumer.pending), String(consumer.ack_pending), String(consumer.redelivered), String(consumer.waiting), String(dlq)]])
        : `consumer ${config.RUNNER_DURABLE} on ${config.ALT_STREAM}: missing`);
    }
    return streams.every((x) => x.exists) && consumer ? EXIT.ok : EXIT.failed;
  });
}
