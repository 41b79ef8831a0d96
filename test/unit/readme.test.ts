import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '../../src/errors.ts';
import { ROOT } from '../helpers/paths.ts';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

describe('README', () => {
  it('documents every error code of the catalogue with its fate', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      expect({ code, row: new RegExp(`^\\| \`${code}\` \\| ${info.fate} \\|`, 'm').test(readme) }).toEqual({ code, row: true });
    }
  });
});

describe('README configuration table', () => {
  it('lists exactly the variables of the config schema, each with its default', async () => {
    const { ConfigSchema } = await import('../../src/config/schema.ts');
    const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Running tasks'));
    const rows = [...section.matchAll(/^\| `([A-Z0-9_]+)` \| ([^|]+) \|/gm)].map((m) => [m[1], m[2].trim()]);
    const props = ConfigSchema.properties as Record<string, { default?: unknown }>;
    expect(rows.map(([name]) => name)).toEqual(Object.keys(props));
    for (const [name, shown] of rows) {
      const d = props[name].default;
      expect([name, shown]).toEqual([name, d === undefined ? '(unset)' : d === '' ? '(empty)' : `\`${String(d)}\``]);
    }
  });
});

/** The text of a README section, from its heading to the next heading of the same level or above. */
function section(heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no section ${heading}`);
  const level = heading.split(' ')[0];
  const rest = readme.slice(start + heading.length + 2);
  const next = rest.search(new RegExp(`^#{1,${level.length}} `, 'm'));
  return next < 0 ? rest : rest.slice(0, next);
}

describe('README permissions', () => {
  it('prints for each role exactly what the code grants it (the least-privilege test runs with the same lists)', async () => {
    const perms = await import('../../src/security/permissions.ts');
    const { loadConfig } = await import('../../src/config/load.ts');
    const config = loadConfig({});
    const blocks = [...section('## Security').matchAll(/```yaml\n([\s\S]*?)\n {2}```/g)].map((m) => m[1].split('\n').map((l) => l.replace(/^ {2}/, '')).join('\n'));
    const roles = [perms.runnerPermissions, perms.producerPermissions, perms.readerPermissions, perms.operatorPermissions];
    expect(blocks).toEqual(roles.map((role) => perms.describePermissions(role(config))));
  });
});

describe('README limits table', () => {
  it('shows the configured default of every decoding limit, and every ALT_ limit of the configuration', async () => {
    const { DEFAULTS } = await import('../../src/config/defaults.ts');
    const rows = [...section('### Limits').matchAll(/^\| `(ALT_[A-Z_]+)` \| (\d+) \|/gm)].map((m) => [m[1], Number(m[2])]);
    const altVars = Object.entries(DEFAULTS).filter(([k]) => k.startsWith('ALT_') && !['ALT_STREAM', 'ALT_SUBJECTS'].includes(k));
    expect(rows).toEqual(altVars);
    const names = section('### Limits').match(/the limit is one of ([^.]+)\./)![1].match(/`([a-z_]+)`/g)!.map((n) => n.slice(1, -1));
    const limits = readFileSync(join(ROOT, 'src', 'alt', 'limits.ts'), 'utf8').match(/export type LimitName = ([^;]+);/)![1].match(/'([a-z_]+)'/g)!.map((n) => n.slice(1, -1));
    expect(names).toEqual(limits);
  });
});

describe('README and --help of the fake orchestrator', () => {
  it('document every fault POST /_faults takes', async () => {
    // The keys of an interface's body (Faults extends the answers' UsageFaults).
    const fields = (file: string, name: string) => {
      const source = readFileSync(join(ROOT, 'src', 'ai', file), 'utf8');
      const start = source.indexOf(`export interface ${name} `);
      expect(start).toBeGreaterThanOrEqual(0);
      const body = source.slice(start, source.indexOf('}\n', start));
      return [...body.matchAll(/^ {2}(\w+)\?:/gm)].map((m) => m[1]);
    };
    const keys = [...fields('fake-orchestrator.ts', 'Faults'), ...fields('fake-answers.ts', 'UsageFaults')];
    expect(keys.length).toBeGreaterThan(10);
    const { FAKE_HELP } = await import('../../src/cli/fake-orchestrator.ts');
    const table = readme.slice(readme.indexOf('`POST /_faults`'), readme.indexOf('## Running 2.0 programs'));
    for (const key of keys) expect({ key, help: FAKE_HELP.includes(key), readme: table.includes(`\`${key}`) }).toEqual({ key, help: true, readme: true });
  });
});

describe('README benchmarks', () => {
  it('names only benchmark scripts and variables that exist', async () => {
    const { readdirSync } = await import('node:fs');
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    for (const [, name] of readme.matchAll(/npm run (bench:[a-z-]+)/g)) expect([name, name in scripts]).toEqual([name, true]);
    const bench = readdirSync(join(ROOT, 'bench')).map((f) => readFileSync(join(ROOT, 'bench', f), 'utf8')).join('\n');
    for (const [variable] of readme.matchAll(/BENCH_[A-Z_]*[A-Z]/g)) expect([variable, bench.includes(variable)]).toEqual([variable, true]);
  });
});
