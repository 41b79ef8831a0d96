/** The JSON Schema files published in `schemas/`, generated from the TypeBox definitions. */
import type { TSchema } from '@sinclair/typebox';
import { FORM_SCHEMAS } from './alt/index.ts';
import { LastSchema } from './last/schema.ts';

export interface SchemaFile {
  file: string;
  schema: TSchema;
}

export const SCHEMA_FILES: readonly SchemaFile[] = [
  { file: 'alt-runner-1.0.schema.json', schema: FORM_SCHEMAS.runner },
  { file: 'alt-segmentation-1.0.schema.json', schema: FORM_SCHEMAS.segmentation },
  { file: 'alt-enhanced-2.0.schema.json', schema: FORM_SCHEMAS.enhanced },
  { file: 'last-1.0.schema.json', schema: LastSchema },
];

/** The file text of a schema: draft 2020-12 JSON, two-space indented, trailing newline. */
export function renderSchema(schema: TSchema): string {
  return `${JSON.stringify({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...schema }, null, 2)}\n`;
}
