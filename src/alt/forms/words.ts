/**
 * The closed word lists and the name rule of the `.alt` forms, for the decoder and the compiler at
 * run time; the TypeBox definitions beside this file build the schemas of `schemas/` from them.
 */

/** Identifier rule of the 2.0 form for variable, function and parameter names. */
export const NAME_PATTERN = '^[a-zA-Z_][a-zA-Z0-9_]*$';

export const SEGMENTATION_MODES = ['Normal', 'Dream', 'Explore', 'Chaos'] as const;
export const PARAMETER_TYPES = ['string', 'number', 'boolean', 'array', 'object'] as const;

export const CONDITION_OPERATORS = [
  'eq', 'neq', 'gt', 'lt', 'gte', 'lte', 'contains', 'not_contains', 'starts_with', 'ends_with', 'and', 'or', 'not',
] as const;
export const LOGICAL_OPERATORS = ['and', 'or', 'not'] as const;
export const VARIABLE_TYPES = ['string', 'number', 'boolean', 'array', 'object', 'any'] as const;
export const LOOP_TYPES = ['for_each', 'for_range', 'while'] as const;
