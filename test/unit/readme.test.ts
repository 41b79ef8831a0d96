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
