/** `altlas validate <file|dir|->...`: decodes each file and reports ok or every problem. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeAlt } from '../alt/index.ts';
import { decodeLimits } from '../config/load.ts';
import { configFrom } from './context.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';

export const VALIDATE_HELP = `Usage: altlas validate [--json] <file|dir|->...

Decodes each .alt file (JSON or YAML, every form) and reports, per file, "ok" with the form,
version, task count and warnings, or the error code and every problem.
A directory is searched for *.json, *.yaml, *.yml and *.alt files; "-" reads standard input.

Options:
  --json   one JSON object per file
  -h, --help

Exit: 0 all valid, 1 any invalid, 2 usage error. Limits come from the ALT_MAX_* variables.`;

const EXTENSIONS = /\.(json|ya?ml|alt)$/i;

/** Expands the arguments into files (directories recursively, sorted). */
export async function expandInputs(inputs: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  const missing: string[] = [];
  for (const input of inputs) {
    if (input === '-') {
      files.push('-');
      continue;
    }
    let s;
    try {
      s = await stat(input);
    } catch {
      missing.push(input);
      continue;
    }
    if (!s.isDirectory()) {
      files.push(input);
      continue;
    }
    const entries = await readdir(input, { recursive: true, withFileTypes: true });
    files.push(...entries.filter((e) => e.isFile() && EXTENSIONS.test(e.name)).map((e) => join(e.parentPath, e.name)).sort());
  }
  // Every missing path at once, not the first only.
  if (missing.length) throw new UsageError(`no such file or directory: ${missing.join(', ')}`);
  return files;
}

/** Reads a file, or standard input for "-". */
export async function readInput(file: string): Promise<Buffer> {
  if (file !== '-') return readFile(file);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function validateCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true });
  if (values.help) {
    io.out(VALIDATE_HELP);
    return EXIT.ok;
  }
  if (positionals.length === 0) throw new UsageError('validate needs at least one file, directory or -');
  const limits = decodeLimits(configFrom({}));
  const files = await expandInputs(positionals);
  if (files.length === 0) throw new UsageError('no .alt files found');
  let invalid = 0;
  for (const file of files) {
    const result = decodeAlt(await readInput(file), { hint: file === '-' ? undefined : file, limits });
    if (!result.ok) invalid++;
    if (values.json) {
      io.out(JSON.stringify(result.ok
        ? { file, ok: true, id: result.job.id, form: result.job.source.form, version: result.job.source.version, tasks: result.job.tasks.length, warnings: result.warnings }
        : { file, ok: false, error: result.error.toJSON() }));
      continue;
    }
    if (result.ok) {
      const { job, warnings } = result;
      io.out(`ok       ${file}: ${job.source.form} ${job.source.version}, ${job.tasks.length} task${job.tasks.length === 1 ? '' : 's'}, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}`);
      for (const w of warnings) io.out(`         warning ${w.code} ${w.pointer || '/'}: ${w.message}`);
    } else {
      const { error } = result;
      io.out(`invalid  ${file}: ${error.code} ${error.message}`);
      for (const p of error.problems) io.out(`         ${p.pointer || '/'}: ${p.message}`);
      if (error.context.problems_omitted) io.out(`         ... and ${String(error.context.problems_omitted)} more problems (ALT_MAX_PROBLEMS)`);
    }
  }
  return invalid > 0 ? EXIT.failed : EXIT.ok;
}
