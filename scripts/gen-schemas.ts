/** Writes schemas/*.schema.json from the TypeBox definitions (`npm run schemas`). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCHEMA_FILES, renderSchema } from '../src/schema-files.ts';

const dir = join(import.meta.dirname, '..', 'schemas');
for (const { file, schema } of SCHEMA_FILES) {
  writeFileSync(join(dir, file), renderSchema(schema));
  console.log(`wrote schemas/${file}`);
}
