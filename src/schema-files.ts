/**
 * The JSON Schema files of `schemas/`, generated from the TypeBox definitions (`npm run schemas`):
 * the published `.alt` forms and `.last`, and the configuration and the files it names. The runner
 * compiles these files (src/alt/schema-check.ts `schemaFile`), never TypeBox at run time;
 * test/unit/schemas.test.ts checks that each file is what its definition renders.
 */
import type { TSchema } from '@sinclair/typebox';
import { EnhancedForm } from './alt/forms/enhanced.ts';
import { RunnerForm } from './alt/forms/runner.ts';
import { SegmentationForm } from './alt/forms/segmentation.ts';
import { ConfigSchema } from './config/schema.ts';
import { TenantBudgetsSchema } from './config/tenant-budgets-schema.ts';
import { AiLimitsSchema } from './flow/model-limits-schema.ts';
import { LastSchema } from './last/schema.ts';
import { PriceTableSchema } from './usage/price-schema.ts';

export interface SchemaFile {
  file: string;
  schema: TSchema;
}

export const SCHEMA_FILES: readonly SchemaFile[] = [
  { file: 'alt-runner-1.0.schema.json', schema: RunnerForm },
  { file: 'alt-segmentation-1.0.schema.json', schema: SegmentationForm },
  { file: 'alt-enhanced-2.0.schema.json', schema: EnhancedForm },
  { file: 'last-1.0.schema.json', schema: LastSchema },
  { file: 'config.schema.json', schema: ConfigSchema },
  { file: 'ai-prices.schema.json', schema: PriceTableSchema },
  { file: 'tenant-budgets.schema.json', schema: TenantBudgetsSchema },
  { file: 'ai-limits.schema.json', schema: AiLimitsSchema },
];

/** The file text of a schema: draft 2020-12 JSON, two-space indented, trailing newline. */
export function renderSchema(schema: TSchema): string {
  return `${JSON.stringify({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...schema }, null, 2)}\n`;
}
