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
