/** TypeBox schemas of the segmentation form 1.0 (formats.md §2); the 2.0 form extends these parts. */
import { Type, type Static, type TProperties } from '@sinclair/typebox';
import { FreeObject, JobMetadata, NonBlank, Nullable, StringEnum } from './helpers.ts';
import { PARAMETER_TYPES, SEGMENTATION_MODES } from './words.ts';

export const SegmentParameter = Type.Object({
  name: NonBlank(),
  value: Type.Unknown(),
  type: Type.Optional(StringEnum(PARAMETER_TYPES)),
  required: Type.Optional(Type.Boolean()),
  description: Type.Optional(Nullable(Type.String())),
}, { additionalProperties: true, title: 'Parameter' });

/** Fields of a 1.0 segment, shared with the 2.0 segment. */
export const segmentProperties = {
  id: Type.Optional(NonBlank({ description: 'Unique id of the segment within the file; a new uuid when missing (the original\'s default, with a warning).' })),
  task_type: Type.String({ description: 'Free text: search, create, analyze, execute, ...' }),
  content: NonBlank({ description: 'The text of the step.' }),
  parameters: Type.Optional(Nullable(Type.Array(SegmentParameter))),
  dependencies: Type.Optional(Nullable(Type.Array(NonBlank()))),
  metadata: Type.Optional(Nullable(FreeObject())),
} satisfies TProperties;

/** Fields of a 1.0 file, shared with the 2.0 file (which replaces version and segments). */
export const fileProperties = {
  id: Type.Optional(NonBlank({ description: 'Job id; a new uuid when missing (with a warning).' })),
  timestamp: Type.Optional(Type.String({ minLength: 1, description: 'ISO 8601; read as UTC when it has no zone; now when missing (with a warning).' })),
  command: Type.String({ description: 'The user command.' }),
  language: Type.Optional(Nullable(Type.String())),
  mode: Type.Optional(StringEnum(SEGMENTATION_MODES, { default: 'Normal', description: 'Default Normal (with a warning).' })),
  persona: Type.Optional(Nullable(Type.String({ description: 'Default technical_expert when missing (with a warning).' }))),
  chaos_level: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 10, description: 'Only when mode is Chaos.' }))),
  metadata: Type.Optional(Nullable(JobMetadata({ description: 'Free-form; priority, tags and expected_completion_time are read from here; budget is altlas-runner\'s extension.' }))),
} satisfies TProperties;

export const Segment = Type.Object(segmentProperties, { additionalProperties: true, title: 'Segment' });

export const SegmentationForm = Type.Object({
  ...fileProperties,
  version: StringEnum(['1.0']),
  segments: Type.Array(Segment),
}, {
  additionalProperties: true,
  $id: 'urn:altlas:schema:alt-segmentation:1.0',
  title: 'ALT_LAS .alt, segmentation form 1.0',
  description: 'A task file as the ALT_LAS segmentation service writes it (YAML by default, or JSON).',
});

export type SegmentationFormDoc = Static<typeof SegmentationForm>;
export type SegmentDoc = Static<typeof Segment>;
