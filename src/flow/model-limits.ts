/**
 * Limits per provider and model (AI_LIMITS): requests per minute, tokens per minute (input and
 * output as the provider counts them) and calls in flight, read from a YAML or JSON file at start
 * and checked like the rest of the configuration (CONFIG_INVALID naming every problem).
 *
 * ```yaml
 * orchestrator:
 *   default: {rpm: 500, tpm: 60000, concurrent: 8}
 *   "*": {tpm: 20000}            # every other model of the provider
 * openai:
 *   gpt-4o-mini: {tpm: 200000, rpm: 5000}
 * ```
 */
import type { Static } from '@sinclair/typebox';
import { schemaFile } from '../alt/schema-check.ts';
import { readConfigFile } from '../config/file.ts';
import { subjectToken } from '../contract/subjects.ts';
import type { AiLimitsSchema, ModelLimitsSchema } from './model-limits-schema.ts';

/** The limits file's schema, as generated into `schemas/` from ./model-limits-schema.ts. */
const AI_LIMITS_SCHEMA = schemaFile('ai-limits.schema.json');

export type AiLimitsDoc = Static<typeof AiLimitsSchema>;
export type ModelLimits = Static<typeof ModelLimitsSchema>;

/** The units a model's window is limited in. */
export const LIMIT_UNITS = ['tokens', 'requests'] as const;
export type LimitUnit = (typeof LIMIT_UNITS)[number];

/** The window of requests and tokens per minute. */
export const MINUTE_MS = 60_000;

/** Reads and checks the file AI_LIMITS names (at start). Throws CONFIG_INVALID. */
export function loadAiLimits(path: string): AiLimitsDoc {
  return readConfigFile<AiLimitsDoc>(path, AI_LIMITS_SCHEMA, 'AI_LIMITS');
}

/** The configured limits of a provider's model: its own entry, else the provider's `*`; null: none. */
export function configuredLimits(doc: AiLimitsDoc | null, provider: string, model: string): ModelLimits | null {
  const p = (doc as Record<string, Record<string, ModelLimits> | undefined> | null)?.[provider];
  if (!p) return null;
  return (Object.hasOwn(p, model) ? p[model] : p['*']) ?? null;
}

/** The KV key of a model's limit in one unit: `model.<provider>.<model token>.<unit>`. */
export function limitKey(provider: string, model: string, unit: LimitUnit): string {
  return `model.${subjectToken(provider)}.${subjectToken(model)}.${unit}`;
}

/** The provider, model token and unit of a limit key; null for any other key. */
export function parseLimitKey(key: string): { provider: string; model: string; unit: LimitUnit } | null {
  const m = /^model\.([^.]+)\.([^.]+)\.(tokens|requests)$/.exec(key);
  return m ? { provider: m[1], model: m[2], unit: m[3] as LimitUnit } : null;
}
