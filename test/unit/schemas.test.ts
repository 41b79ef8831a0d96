import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SCHEMA_FILES, renderSchema } from '../../src/schema-files.ts';
import { newAjv } from '../../src/alt/schema-check.ts';
import { ROOT } from '../helpers/paths.ts';

describe('schemas/', () => {
  it('holds exactly the files generated from the TypeBox definitions (run npm run schemas)', () => {
    const dir = join(ROOT, 'schemas');
    expect(readdirSync(dir).filter((f) => f.endsWith('.json')).sort()).toEqual(SCHEMA_FILES.map((s) => s.file).sort());
    for (const { file, schema } of SCHEMA_FILES) {
      expect({ file, text: readFileSync(join(dir, file), 'utf8') }).toEqual({ file, text: renderSchema(schema) });
    }
  });

  it('every committed file has an $id, a title and compiles as a standalone JSON Schema', () => {
    for (const { file } of SCHEMA_FILES) {
      const doc = JSON.parse(readFileSync(join(ROOT, 'schemas', file), 'utf8'));
      expect(doc.$id).toMatch(/^urn:altlas:schema:/);
      expect(typeof doc.title).toBe('string');
      const { $schema: _ignored, ...schema } = doc;
      expect(() => newAjv().compile(schema)).not.toThrow();
    }
  });
});
