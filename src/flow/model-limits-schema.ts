/**
 * TypeBox schema of the limits file (AI_LIMITS, ./model-limits.ts). Generated into
 * `schemas/ai-limits.schema.json` (`npm run schemas`), which is what the runner compiles.
 */
import { Type } from '@sinclair/typebox';

export const ModelLimitsSchema = Type.Object({
  rpm: Type.Optional(Type.Integer({ minimum: 1, description: 'Requests per minute (a sliding minute), for the whole fleet.' })),
  tpm: Type.Optional(Type.Integer({ minimum: 1, description: 'Tokens per minute, input and output, for the whole fleet.' })),
  concurrent: Type.Optional(Type.Integer({ minimum: 1, description: 'Calls in flight at once, for the whole fleet (divided among the live workers, at least one each).' })),
}, { additionalProperties: false });

const ProviderLimitsSchema = Type.Record(Type.String({ minLength: 1, maxLength: 256 }), ModelLimitsSchema, { description: 'By model as the call names it; "*": every other model of the provider.' });

export const AiLimitsSchema = Type.Object({
  orchestrator: Type.Optional(ProviderLimitsSchema),
  openai: Type.Optional(ProviderLimitsSchema),
}, { additionalProperties: false, $id: 'urn:altlas:schema:ai-limits', title: 'AI_LIMITS' });
