/** bin/altlas on a fresh checkout: it installs the dependencies itself (npm ci) before the first command. */
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../../helpers/paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'altlas-fresh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a fresh checkout', () => {
  it('bin/altlas runs npm ci once, then the command', async () => {
    const checkout = join(dir, 'checkout');
    for (const part of ['bin', 'scripts', 'package.json', 'package-lock.json']) cpSync(join(ROOT, part), join(checkout, part), { recursive: true });
    symlinkSync(join(ROOT, 'src'), join(checkout, 'src'));
    // An npm that records its arguments and "installs" by linking this repository's dependencies.
    const fakeBin = join(dir, 'fake-bin');
    const npm = join(fakeBin, 'npm');
    writeFileSync(join(dir, 'npm-args'), '');
    mkdirSync(fakeBin);
    writeFileSync(npm, `#!/usr/bin/env bash\necho "$@" >> "${join(dir, 'npm-args')}"\nln -s "${join(ROOT, 'node_modules')}" node_modules\n`);
    chmodSync(npm, 0o755);
    const env = { ...process.env, PATH: `${fakeBin}:${process.env.PATH}` };
    const first = await promisify(execFile)(join(checkout, 'bin', 'altlas'), ['--version'], { env, cwd: dir });
    expect(first.stderr).toMatch(/altlas: first run in this checkout: installing dependencies \(npm ci/);
    expect(first.stdout.trim()).toMatch(/^altlas-runner \d+\.\d+\.\d+$/);
    const again = await promisify(execFile)(join(checkout, 'bin', 'altlas'), ['--version'], { env, cwd: dir });
    expect(again.stderr).toBe('');
    expect(readFileSync(join(dir, 'npm-args'), 'utf8').trim().split('\n')).toEqual(['ci --no-audit --no-fund']);
  });
});
