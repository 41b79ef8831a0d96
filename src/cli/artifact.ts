/** `altlas artifact get <url> [-o file]`: the bytes behind an artifact's (or a `.last`'s) URL. */
import { writeFile } from 'node:fs/promises';
import { parseArtifactUrl, type Last } from '../last/index.ts';
import { payloadCodec } from '../security/codec.ts';
import { readObject, storedMessages } from '../status/store-access.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats, type Session } from './context.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';

export const ARTIFACT_HELP = `Usage: altlas artifact get <url> [-o FILE] [options]

Writes the bytes behind an artifact URL, as a .last's artifacts[].path names it, to standard
output or FILE:
  altlas+obj://<bucket>/<name>                        an object of the object store (outputs over RUNNER_OUTPUT_INLINE_MAX)
  altlas+last://<stream>/<subject>/<execution_id>#<task_id>   a task's output text inside a stored .last
  altlas+last://<stream>/<subject>/<execution_id>     the .last itself (JSON); the archive hand-off's file_path
With PAYLOAD_KEYS set, encrypted bytes are decrypted.

Options:
  -o, --output FILE   write to FILE instead of standard output
${COMMON_HELP}

Exit: 0; 1 the artifact does not exist (expired, wrong URL); 2 usage error.`;

/** Finds the `.last` with `executionId` on `subject` of `stream` (the newest first, then the others). */
async function findLast(s: Session, stream: string, subject: string, executionId: string): Promise<Uint8Array | null> {
  const newest = await s.jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null);
  if (newest && newest.header.get('Execution-Id') === executionId) return newest.data;
  const info = await s.jsm.streams.info(stream).catch(() => null);
  if (!info || info.state.messages === 0) return null;
  for await (const m of storedMessages(s.jsm, stream, subject, info.state.first_seq, info.state.last_seq)) {
    if (m.header.get('Execution-Id') === executionId) return m.data;
  }
  return null;
}

export async function artifactCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, allowPositionals: true, options: { ...COMMON_OPTIONS, output: { type: 'string', short: 'o' } } });
  if (values.help) {
    io.out(ARTIFACT_HELP);
    return EXIT.ok;
  }
  const [verb, url, ...rest] = positionals;
  if (verb !== 'get' || !url || rest.length) throw new UsageError('usage: altlas artifact get <url> [-o FILE]');
  const loc = parseArtifactUrl(url);
  if (!loc) throw new UsageError(`not an artifact URL: ${url} (altlas+obj://… or altlas+last://…)`);
  const config = configFrom(values);
  const codec = payloadCodec(config.PAYLOAD_KEYS);
  return withNats(config, async (s) => {
    let bytes: Uint8Array | null;
    if (loc.kind === 'obj') {
      const blob = await readObject(s.jsm, loc.bucket, loc.name).catch(() => null);
      bytes = blob ? codec.open(blob, `obj:${loc.name}`) : null;
    } else {
      const raw = await findLast(s, loc.stream, loc.subject, loc.executionId);
      const body = raw ? codec.open(raw, 'last') : null;
      if (body && loc.taskId !== null) {
        const last = JSON.parse(new TextDecoder().decode(body)) as Last;
        const text = last.task_results[loc.taskId]?.output?.text;
        bytes = text === undefined ? null : new TextEncoder().encode(text);
      } else bytes = body;
    }
    if (!bytes) {
      io.err(`no artifact at ${url} (it may have expired: see RUNNER_OBJECT_TTL_MS and LAST_MAX_AGE_MS)`);
      return EXIT.failed;
    }
    if (values.output) await writeFile(values.output, bytes);
    else if (io.write) io.write(bytes);
    else io.out(new TextDecoder().decode(bytes));
    return EXIT.ok;
  }, { role: 'reader', streams: [config.LAST_STREAM] });
}
