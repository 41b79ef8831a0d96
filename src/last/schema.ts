/** TypeBox schema of the `.last` result, version 1.0 (formats.md §4), exported to `schemas/`. */
import { Type, type Static } from '@sinclair/typebox';
import { MODES, PRIORITIES } from '../alt/job.ts';
import { FreeObject, Nullable, StringEnum } from '../alt/forms/helpers.ts';
import { TASK_STATUSES } from '../engine/types.ts';
import { LAST_STATUSES } from './statuses.ts';

export { LAST_STATUSES, type LastStatus } from './statuses.ts';
export const ARTIFACT_TYPES = ['file', 'image', 'text', 'json', 'log', 'other'] as const;
export const DEPENDENCY_TYPES = ['required', 'optional', 'conditional'] as const;

const Uuid = Type.String({ format: 'uuid' });
const DateTime = Type.String({ format: 'date-time' });
const Millis = Type.Integer({ minimum: 0, description: 'Milliseconds.' });

const Tokens = (description: string) => Nullable(Type.Integer({ minimum: 0, description }));

/** Ours, after the original's output fields: the usage of the task's AI call. */
export const CallUsageSchema = Type.Object({
  input: Tokens('Input (prompt) tokens.'),
  output: Tokens('Output (completion) tokens.'),
  cached_input: Tokens('Input tokens served from the provider\'s prompt cache (part of input).'),
  reasoning: Tokens('Output tokens spent on reasoning (part of output).'),
  attempt: Type.Integer({ minimum: 1, description: 'The HTTP attempt of the call that answered (1 = the first).' }),
}, { additionalProperties: false, title: 'CallUsage', description: 'Tokens by kind as the provider reported them, null where it did not (never 0, never estimated); the model that answered is model_used.' });

/** Ours, after the original's output fields: what a fallback chain did. */
export const FallbackRecordSchema = Type.Object({
  answered: Type.String({ description: 'The pair that answered, endpoint/model.' }),
  tried: Type.Array(Type.Object({
    pair: Type.String({ description: 'endpoint/model' }),
    failure: Nullable(Type.String({ description: 'Why the pair did not answer (rate_limited, server_error, timeout, unreachable, stream_cut, breaker_open); null for the one that answered.' })),
    attempts: Type.Integer({ minimum: 0, description: 'HTTP attempts made to the pair (0: skipped, its breaker open).' }),
  }, { additionalProperties: false })),
}, { additionalProperties: false, title: 'FallbackRecord', description: 'Set when the task\'s call ran a fallback chain (parameters.fallback or AI_FALLBACK): every pair tried, in order.' });

export const TaskOutputSchema = Type.Object({
  text: Type.String({ description: 'The answer; for an output stored as an artifact, a preview.' }),
  model_used: Type.String(),
  tokens_used: Type.Integer({ minimum: 0, description: 'Unsigned; 0 when the provider does not say.' }),
  processing_time_ms: Millis,
  usage: Type.Optional(CallUsageSchema),
  cost: Type.Optional(Nullable(Type.Number({ minimum: 0, description: 'Ours: the call\'s cost in the currency of metadata.usage, at the price of model_used (AI_PRICES); null when the model is unpriced or its tokens are unknown.' }))),
  fallback: Type.Optional(FallbackRecordSchema),
}, { additionalProperties: true, title: 'TaskOutput' });

export const TaskResultSchema = Type.Object({
  task_id: Type.String({ minLength: 1, description: 'The task id; for a 2.0 instance its key: loop[k]/segment or call/segment.' }),
  execution_id: Uuid,
  status: StringEnum(TASK_STATUSES),
  start_time: DateTime,
  end_time: Nullable(DateTime),
  duration_ms: Millis,
  output: Nullable(TaskOutputSchema),
  error: Nullable(Type.String()),
  metadata: FreeObject({ description: 'attempts, error_code, resumed; for 2.0: segment_id, iteration, control, unresolved_references.' }),
}, { additionalProperties: false, title: 'TaskResult' });

export const ArtifactSchema = Type.Object({
  id: Uuid,
  name: Type.String({ description: '<task_id>_output.txt' }),
  artifact_type: StringEnum(ARTIFACT_TYPES),
  task_id: Type.String(),
  path: Type.String({ description: 'altlas+obj://<bucket>/<name> or altlas+last://<stream>/<subject>/<execution_id>#<task_id>: altlas artifact get fetches it.' }),
  created_at: DateTime,
  size_bytes: Type.Integer({ minimum: 0 }),
  mime_type: Type.String(),
  metadata: FreeObject(),
}, { additionalProperties: false, title: 'Artifact' });

export const ExecutionGraphSchema = Type.Object({
  nodes: Type.Array(Type.Object({
    id: Uuid,
    task_id: Type.String(),
    status: StringEnum(TASK_STATUSES),
    duration_ms: Millis,
    start_time: DateTime,
    end_time: Nullable(DateTime),
  }, { additionalProperties: false })),
  edges: Type.Array(Type.Object({
    source: Type.String({ description: 'A node id.' }),
    target: Type.String({ description: 'A node id.' }),
    dependency_type: StringEnum(DEPENDENCY_TYPES),
  }, { additionalProperties: false })),
}, { additionalProperties: false });

export const LastSchema = Type.Object({
  id: Uuid,
  execution_id: Uuid,
  alt_file_id: Type.String(),
  title: Type.String(),
  mode: StringEnum(MODES),
  persona: Nullable(Type.String()),
  status: StringEnum(LAST_STATUSES, { description: 'success: every task completed; partialsuccess: some; failure: none, or no tasks.' }),
  success_rate: Type.Number({ minimum: 0, maximum: 1 }),
  execution_time_ms: Millis,
  start_time: DateTime,
  end_time: DateTime,
  task_results: Type.Record(Type.String(), TaskResultSchema),
  artifacts: Nullable(Type.Array(ArtifactSchema)),
  metadata: FreeObject({ description: 'The .alt metadata with keys prefixed alt_, generated_at, total_task_duration_ms; the runner\'s own keys never start with alt_. In the failure form, error (a string), error_code, error_problems.' }),
  tags: Type.Array(Type.String()),
  priority: StringEnum(PRIORITIES),
  execution_graph: Type.Union([ExecutionGraphSchema, Type.Null()], { description: 'null in the failure form.' }),
  summary: Type.String(),
  version: StringEnum(['1.0']),
}, {
  additionalProperties: false,
  $id: 'urn:altlas:schema:last:1.0',
  title: 'ALT_LAS .last result 1.0',
  description: 'The result of running one .alt job, as altlas-runner publishes it to the LAST stream.',
});

export type Last = Static<typeof LastSchema>;
export type LastTaskResult = Static<typeof TaskResultSchema>;
export type Artifact = Static<typeof ArtifactSchema>;
