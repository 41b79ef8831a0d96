import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { main } from '../../../src/cli/main.ts';
import { ROOT, SAMPLES, fixtureFiles } from '../../helpers/paths.ts';

const run = async (argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
};

describe('altlas validate', () => {
  it('exits 0 and says ok with form, version and task count for valid files', async () => {
    const r = await run(['validate', ...fixtureFiles()]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ok +\S+runner-example\.alt\.json: runner 1\.0, 3 tasks, 0 warnings$/m);
    expect(r.out).toMatch(/segmentation-0\.alt\.yaml: segmentation 1\.0, 2 tasks, 0 warnings/);
  });

  it('exits 1 and lists the code and every problem when any file is invalid', async () => {
    const r = await run(['validate', SAMPLES]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^invalid +\S+invalid-cycle\.alt\.json: ALT_CYCLE /m);
    expect(r.out).toMatch(/\/tasks\/0\/dependencies: task a is on the cycle/);
  });

  it('prints one JSON object per file with --json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'altlas-validate-'));
    writeFileSync(join(dir, 'bad.json'), '{"tasks": [');
    const r = await run(['validate', '--json', dir, join(SAMPLES, 'runner-example.alt.json')]).finally(() => rmSync(dir, { recursive: true, force: true }));
    const lines = r.out.split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([
      expect.objectContaining({ ok: false, error: expect.objectContaining({ code: 'ALT_SYNTAX' }) }),
      expect.objectContaining({ ok: true, form: 'runner', version: '1.0', tasks: 3, id: 'alt_example_001' }),
    ]);
    expect(r.code).toBe(1);
  });

  it('exits 2 on usage errors', async () => {
    expect((await run(['validate'])).code).toBe(2);
    expect((await run(['validate', '--nope', 'x'])).code).toBe(2);
    expect((await run(['validate', '/no/such/file.json'])).code).toBe(2);
    expect((await run(['frobnicate'])).code).toBe(2);
  });

  it('runs as bin/altlas from the checkout, reading standard input', async () => {
    const child = promisify(execFile)(join(ROOT, 'bin', 'altlas'), ['validate', '--json', '-'], { cwd: ROOT });
    child.child.stdin?.end('{"id":"x","version":"1.0","created_at":"2025-01-01T00:00:00Z","title":"t","tasks":[]}');
    const { stdout } = await child;
    expect(JSON.parse(stdout)).toMatchObject({ file: '-', ok: true, tasks: 0, warnings: [{ code: 'W_NO_TASKS' }] });
  });
});
