/**
 * TypeBox schema of the tenants' budgets file (BUDGET_TENANTS, src/budget/tenant-budgets.ts). Generated into
 * `schemas/tenant-budgets.schema.json` (`npm run schemas`), which is what the runner compiles.
 */
import { Type } from '@sinclair/typebox';

const PeriodLimitsSchema = Type.Object({
  tokens: Type.Optional(Type.Integer({ minimum: 0, description: 'Input and output tokens per period.' })),
  cost: Type.Optional(Type.Number({ minimum: 0, description: 'Money per period, in the currency of AI_PRICES.' })),
}, { additionalProperties: false });

export const TenantLimitsSchema = Type.Object({
  hour: Type.Optional(PeriodLimitsSchema),
  day: Type.Optional(PeriodLimitsSchema),
  month: Type.Optional(PeriodLimitsSchema),
}, { additionalProperties: false });

export const TenantBudgetsSchema = Type.Object({
  default: Type.Optional(TenantLimitsSchema),
  tenants: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]+$' }), TenantLimitsSchema, { additionalProperties: false, description: 'By tenant, as its subject token (letters, digits, - and _).' })),
}, { additionalProperties: false, $id: 'urn:altlas:schema:tenant-budgets', title: 'BUDGET_TENANTS' });
