/**
 * TypeBox schema of the price table (AI_PRICES, ./prices.ts). Generated into
 * `schemas/ai-prices.schema.json` (`npm run schemas`), which is what the runner compiles.
 */
import { Type } from '@sinclair/typebox';

const PerMillion = (description: string) => Type.Number({ minimum: 0, description: `${description} per million tokens, in the table's currency.` });

export const ModelPriceSchema = Type.Object({
  input: PerMillion('Input (prompt) tokens'),
  output: PerMillion('Output (completion) tokens, reasoning included'),
  cached_input: Type.Optional(PerMillion('Input tokens served from the provider\'s prompt cache (default: the input price)')),
}, { additionalProperties: false });

export const PriceTableSchema = Type.Object({
  currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, e.g. USD.' }),
  date: Type.Optional(Type.String({ format: 'date', description: 'When the prices were taken (YYYY-MM-DD).' })),
  models: Type.Record(Type.String({ minLength: 1 }), ModelPriceSchema, { description: 'Prices by model id, as the provider names the model that answered.' }),
}, { additionalProperties: false, $id: 'urn:altlas:schema:ai-prices', title: 'AI_PRICES' });
