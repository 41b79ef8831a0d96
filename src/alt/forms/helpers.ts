/**
 * Small TypeBox builders that keep the generated JSON Schema plain (`type: [x, "null"]` and
 * `enum` instead of `anyOf` branches), so that validation errors read as one sentence each.
 */
import { Type, type TSchema, type Static, type TUnsafe, type SchemaOptions } from '@sinclair/typebox';

/** A schema that also accepts `null`, for primitives, arrays and objects. */
export function Nullable<T extends TSchema>(schema: T): TUnsafe<Static<T> | null> {
  const { type, enum: values, ...rest } = schema as TSchema & { type?: string | string[]; enum?: unknown[] };
  if (typeof type !== 'string') throw new TypeError('Nullable needs a schema with one `type`');
  return Type.Unsafe<Static<T> | null>({ ...rest, type: [type, 'null'], ...(values ? { enum: [...values, null] } : {}) });
}

/** A string restricted to the given values. */
export function StringEnum<const V extends readonly string[]>(values: V, options: SchemaOptions = {}): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ ...options, type: 'string', enum: [...values] });
}

/** A string that holds at least one character that is not white space. */
export function NonBlank(options: SchemaOptions = {}) {
  return Type.String({ pattern: '\\S', ...options });
}

/** A free-form JSON object (any keys). */
export function FreeObject(options: SchemaOptions = {}) {
  return Type.Record(Type.String(), Type.Unknown(), options);
}

/**
 * altlas-runner's extension in a file's `metadata`: the job's budget, in tokens (input and output
 * of all its AI calls) and/or money (in the price table's currency). Checked like the rest of the
 * file; the other metadata keys stay free.
 */
export const JobBudgetSchema = Type.Object({
  tokens: Type.Optional(Type.Integer({ minimum: 0, description: 'Input and output tokens all the job\'s AI calls may spend.' })),
  cost: Type.Optional(Type.Number({ minimum: 0, description: 'Money all the job\'s AI calls may cost, in the currency of AI_PRICES.' })),
}, { additionalProperties: false, title: 'Budget', description: 'Extension (altlas-runner): the job\'s budget; a call that would not fit is not made and the job ends with BUDGET_EXCEEDED.' });

/** A file's free-form metadata, with the typed `budget` extension. */
export function JobMetadata(options: SchemaOptions = {}): TUnsafe<Record<string, unknown>> {
  return Type.Unsafe<Record<string, unknown>>({ ...options, type: 'object', additionalProperties: true, properties: { budget: JobBudgetSchema } });
}
