/** The README's chaos table against `bench/chaos.ts`: one row per default scenario, the targets it names, every one met. */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers/paths.ts';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const bench = readFileSync(join(ROOT, 'bench', 'chaos.ts'), 'utf8');
const promises = readme.slice(readme.indexOf('## What it promises'), readme.indexOf('## How it works'));

describe('the chaos table in What it promises', () => {
  const lines = promises.split('\n');
  const head = lines.findIndex((l) => l.startsWith('| scenario |'));
  const rows = lines.slice(head + 2).filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('|')));

  it('has the columns the suite prints, in its order', () => {
    const printed = /const head = '(\| scenario \|[^']+)'/.exec(bench)?.[1];
    expect(printed).toBeDefined();
    expect(lines[head]).toBe(printed);
  });

  it('has a row for each scenario the suite runs by default, each passing', () => {
    const defaults = [...bench.matchAll(/name: '([a-z-]+)', description: [^\n]*main: true/g)].map((m) => m[1]);
    expect(defaults).toEqual(['pauses', 'kills', 'server-kills', 'mixed']);
    expect(rows.map((r) => /^\| ([a-z-]+):/.exec(r)?.[1])).toEqual(defaults);
    for (const r of rows) expect(r.endsWith('| pass |')).toBe(true);
  });

  it('states each target the suite checks', () => {
    const checked = [...bench.slice(bench.indexOf('function targets(')).matchAll(/^ {4}\['([^']+)'/gm)].map((m) => m[1]);
    expect(checked.length).toBeGreaterThanOrEqual(8);
    const prose = promises.replace(/\s+/g, ' ');
    for (const t of checked) expect({ t, stated: prose.includes(t) }).toEqual({ t, stated: true });
  });
});
