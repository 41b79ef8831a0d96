/** TypeBox schema of the enhanced segmentation form 2.0 (formats.md §3). */
import { Type, type Static, type TUnsafe } from '@sinclair/typebox';
import { FreeObject, Nullable, StringEnum } from './helpers.ts';
import { fileProperties, segmentProperties } from './segmentation.ts';
import { CONDITION_OPERATORS, LOOP_TYPES, NAME_PATTERN, VARIABLE_TYPES } from './words.ts';

/** A condition as written: operands are names, literal values or nested conditions (checked after the schema). */
export interface ConditionDoc {
  operator: (typeof CONDITION_OPERATORS)[number];
  left: unknown;
  right?: unknown;
  [key: string]: unknown;
}

const conditionRef: TUnsafe<ConditionDoc> = Type.Unsafe<ConditionDoc>({ $ref: '#/$defs/condition' });

/** The recursive condition lives in `$defs`, so that the exported file is self-contained. */
const ConditionDef = Type.Object({
  operator: StringEnum(CONDITION_OPERATORS),
  left: Type.Unknown({ description: 'A string (a variable name, a dotted path or a literal) or a condition; conditions on both sides of and/or.' }),
  right: Type.Optional(Type.Unknown({ description: 'A value, a variable name, or a condition for and/or. Absent for not.' })),
}, { additionalProperties: true, title: 'Condition' });

const Name = Type.String({ pattern: NAME_PATTERN });
const Ids = Type.Array(Type.String({ minLength: 1 }));

export const Variable = Type.Object({
  name: Name,
  type: Type.Optional(StringEnum(VARIABLE_TYPES, { default: 'string', description: 'Default string (the original\'s default).' })),
  value: Type.Optional(Type.Unknown()),
  description: Type.Optional(Nullable(Type.String())),
}, { additionalProperties: true, title: 'Variable' });

export const FunctionDef = Type.Object({
  name: Name,
  parameters: Type.Optional(Type.Array(Type.Object({
    name: Name,
    type: Type.Optional(StringEnum(VARIABLE_TYPES, { default: 'any', description: 'Default any (the original\'s default).' })),
    default_value: Type.Optional(Type.Unknown()),
    required: Type.Optional(Type.Boolean({ default: true })),
  }, { additionalProperties: true }))),
  return_type: Type.Optional(Nullable(StringEnum(VARIABLE_TYPES))),
  body: Ids,
}, { additionalProperties: true, title: 'FunctionDef' });

export const EnhancedSegment = Type.Object({
  ...segmentProperties,
  condition: Type.Optional(Nullable(Type.Object({
    condition: conditionRef,
    if_body: Ids,
    else_body: Type.Optional(Nullable(Ids)),
  }, { additionalProperties: true }))),
  loop: Type.Optional(Nullable(Type.Object({
    type: StringEnum(LOOP_TYPES),
    variable: Type.Optional(Nullable(Name)),
    iterable: Type.Optional(Type.Unknown()),
    start: Type.Optional(Nullable(Type.Number())),
    end: Type.Optional(Nullable(Type.Number())),
    step: Type.Optional(Nullable(Type.Number({ default: 1 }))),
    condition: Type.Optional(Type.Unsafe<ConditionDoc | null>({ anyOf: [{ $ref: '#/$defs/condition' }, { type: 'null' }] })),
    body: Ids,
  }, { additionalProperties: true }))),
  function_def: Type.Optional(Nullable(FunctionDef)),
  function_call: Type.Optional(Nullable(Type.Object({
    function_name: Name,
    arguments: Type.Optional(Nullable(FreeObject())),
    result_variable: Type.Optional(Nullable(Name)),
  }, { additionalProperties: true }))),
  variables: Type.Optional(Nullable(Type.Array(Variable))),
}, { additionalProperties: true, title: 'Segment' });

export const EnhancedForm = Type.Object({
  ...fileProperties,
  version: StringEnum(['2.0']),
  segments: Type.Array(EnhancedSegment),
  global_variables: Type.Optional(Nullable(Type.Array(Variable))),
  functions: Type.Optional(Nullable(Type.Array(FunctionDef))),
}, {
  additionalProperties: true,
  $id: 'urn:altlas:schema:alt-enhanced:2.0',
  title: 'ALT_LAS .alt, enhanced segmentation form 2.0',
  description: 'The segmentation form with control flow: conditions, loops, functions and variables.',
  $defs: { condition: ConditionDef },
});

export type EnhancedFormDoc = Static<typeof EnhancedForm>;
export type EnhancedSegmentDoc = Static<typeof EnhancedSegment>;
