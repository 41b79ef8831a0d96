/**
 * The price table (AI_PRICES): what a million tokens of each model cost, by kind, in one
 * currency; and the cost of a call from its reported usage. A model the table does not name is
 * unpriced: its cost is unknown (null), never invented. Costs are counted in nano-units of the
 * currency (integers), so that sums are exact; they are shown as numbers of the currency.
 */
import type { Static } from '@sinclair/typebox';
import type { TokenUsage } from '../ai/call.ts';
import { schemaFile } from '../alt/schema-check.ts';
import { readConfigFile } from '../config/file.ts';
import type { ModelPriceSchema, PriceTableSchema } from './price-schema.ts';

/** The price table's schema, as generated into `schemas/` from ./price-schema.ts. */
const PRICE_TABLE_SCHEMA = schemaFile('ai-prices.schema.json');

export type ModelPrice = Static<typeof ModelPriceSchema>;
export type PriceTable = Static<typeof PriceTableSchema>;

/** Nano-units of a currency in one unit. */
export const NANOS = 1_000_000_000;

/** Reads and checks the price table AI_PRICES names (at start). Throws CONFIG_INVALID. */
export function loadPrices(path: string): PriceTable {
  return readConfigFile<PriceTable>(path, PRICE_TABLE_SCHEMA, 'AI_PRICES');
}

/** What a table says about one model; null when there is no table or the model is unpriced. */
export function priceOf(table: PriceTable | null, model: string): ModelPrice | null {
  return table && Object.hasOwn(table.models, model) ? table.models[model] : null;
}

/**
 * The cost of a call in nano-units: uncached input at the input price, cached input at the
 * cached price (the input price when the table has none; a provider that reports no cached
 * count is priced as having cached nothing, as it bills), output (reasoning included) at the
 * output price. Null when the model is unpriced or its input or output count is unknown.
 */
export function costNanos(price: ModelPrice | null, usage: Pick<TokenUsage, 'input' | 'output' | 'cached_input'> | null): number | null {
  if (!price || !usage || usage.input === null || usage.output === null) return null;
  const cached = Math.min(usage.cached_input ?? 0, usage.input);
  return Math.round((usage.input - cached) * price.input * 1_000 + cached * (price.cached_input ?? price.input) * 1_000 + usage.output * price.output * 1_000);
}

/** The most a call can cost in nano-units: `input` tokens and `maxOutput` output tokens, none cached (rounded up). */
export function worstCaseNanos(price: ModelPrice, input: number, maxOutput: number): number {
  return Math.ceil(input * price.input * 1_000 + maxOutput * price.output * 1_000);
}

/** Nano-units as a number of the currency (9 decimals at most). */
export const fromNanos = (nanos: number): number => nanos / NANOS;
/** A number of the currency as nano-units. */
export const toNanos = (amount: number): number => Math.round(amount * NANOS);
