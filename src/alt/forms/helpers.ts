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

/** Identifier rule of the 2.0 form for variable, function and parameter names. */
export const NAME_PATTERN = '^[a-zA-Z_][a-zA-Z0-9_]*$';
