/**
 * `npm run mutate` and the README's mutation testing section agree with stryker.config.mjs: every
 * module mutated has its score in the table, every test named exists,
 * and every guard's test named in the README exists with that name.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.ts';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const { groups } = (await import(join(ROOT, 'stryker.config.mjs'))) as { groups: Record<string, { mutate: string[]; tests: string[] }> };

function section(heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no section ${heading}`);
  const rest = readme.slice(start + heading.length + 2);
  const next = rest.search(/^#{1,3} /m);
  return next < 0 ? rest : rest.slice(0, next);
}

/** Rows of the first table after the line starting with `marker`. */
function table(text: string, marker: string): string[][] {
  const lines = text.slice(text.indexOf(marker)).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(l.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  return rows;
}

const mutation = section('### Mutation testing');

describe('npm run mutate', () => {
  it('is a script of its own, not part of npm test, and its sandboxes are ignored by git', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; devDependencies: Record<string, string> };
    expect(pkg.scripts.mutate).toBe('scripts/node24 scripts/mutate.ts');
    expect(pkg.scripts.test).not.toMatch(/stryker|mutate/);
    expect(pkg.devDependencies['@stryker-mutator/core']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pkg.devDependencies['@stryker-mutator/jest-runner']).toBe(pkg.devDependencies['@stryker-mutator/core']);
    expect(readFileSync(join(ROOT, '.gitignore'), 'utf8').split('\n')).toContain('.stryker-tmp/');
  });

  it('names files and tests that exist', () => {
    for (const [name, g] of Object.entries(groups)) {
      for (const f of [...g.mutate.map((m) => m.replace(/:\d+-\d+$/, '')), ...g.tests]) expect({ name, f, exists: existsSync(join(ROOT, f)) }).toEqual({ name, f, exists: true });
    }
  });
});

describe('README mutation testing section', () => {
  it('gives the score of exactly the modules mutated', () => {
    const rows = table(mutation, '| group |');
    const files = Object.values(groups).flatMap((g) => g.mutate.map((m) => m.replace(/:\d+-\d+$/, '')));
    expect(rows.filter((r) => r[0] !== 'all').map((r) => r[1].replace(/`/g, '').replace(/ \(.*\)$/, '')).sort()).toEqual([...new Set(files)].sort());
    for (const r of rows) {
      const score = Number(/([\d.]+) %/.exec(r[r.length - 1])?.[1]);
      expect({ row: r[1], score: score >= 0 && score <= 100 }).toEqual({ row: r[1], score: true });
    }
  });

  it('names, for each guard, a test that exists', () => {
    const rows = table(mutation, '| guard |');
    expect(rows.length).toBeGreaterThanOrEqual(8);
    for (const r of rows) {
      const cell = r[r.length - 1];
      const file = /`(test\/[^`]+\.test\.ts)`/.exec(cell)?.[1];
      const name = /"([^"]+)"/.exec(cell)?.[1];
      expect({ guard: r[0], file: Boolean(file), name: Boolean(name) }).toEqual({ guard: r[0], file: true, name: true });
      const source = readFileSync(join(ROOT, file!), 'utf8').replace(/\\'/g, "'");
      expect({ guard: r[0], name, found: source.includes(name!) }).toEqual({ guard: r[0], name, found: true });
    }
  });
});
