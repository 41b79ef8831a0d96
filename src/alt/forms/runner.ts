/** TypeBox schema of the runner form, version 1.0 (formats.md §1). */
import { Type, type Static } from '@sinclair/typebox';
import { MODES, PRIORITIES, TASK_INPUT_STATUSES } from '../job.ts';
import { FreeObject, JobMetadata, NonBlank, Nullable, StringEnum } from './helpers.ts';

const Priority = StringEnum(PRIORITIES, { description: 'Priority: low, medium, high or critical.' });
const Tags = Type.Array(Type.String(), { description: 'Free tags.' });

export const RunnerTask = Type.Object({
  id: NonBlank({ description: 'Unique id of the task within the file.' }),
  description: NonBlank({ description: 'What the task does: the text of the step.' }),
  dependencies: Type.Optional(Nullable(Type.Array(NonBlank(), { description: 'Ids of the tasks that must complete first.' }))),
  parameters: Type.Optional(Nullable(FreeObject({
    description: 'Free-form; prompt, task_type, mode, persona, model and timeout_seconds are read when present.',
  }))),
  timeout_seconds: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 4_294_967_295, description: 'Seconds (uint32).' }))),
  retry_count: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 255, description: 'Retries of a failed attempt (uint8).' }))),
  status: Type.Optional(Nullable(StringEnum(TASK_INPUT_STATUSES, { description: 'Input only.' }))),
  priority: Type.Optional(Nullable(Priority)),
  tags: Type.Optional(Nullable(Tags)),
  task_type: Type.Optional(Nullable(Type.String({ description: 'Extension: the task kind (also read from parameters.task_type).' }))),
  metadata: Type.Optional(Nullable(FreeObject({ description: 'Extension: free-form task metadata.' }))),
}, { additionalProperties: true, title: 'Task' });

export const RunnerForm = Type.Object({
  id: NonBlank({ description: 'Job id.' }),
  version: StringEnum(['1.0'], { description: 'Runner form version.' }),
  created_at: Type.String({ format: 'date-time', description: 'RFC 3339 date-time.' }),
  title: NonBlank(),
  description: Type.Optional(Nullable(Type.String())),
  mode: Type.Optional(Nullable(StringEnum(MODES, { description: 'Default normal.' }))),
  persona: Type.Optional(Nullable(Type.String({ description: 'Persona of the AI (the original defaulted to technical_expert).' }))),
  priority: Type.Optional(Nullable(Priority)),
  tags: Type.Optional(Nullable(Tags)),
  expected_completion_time: Type.Optional(Nullable(Type.Integer({ minimum: 0, description: 'Seconds.' }))),
  metadata: Type.Optional(Nullable(JobMetadata({
    description: 'Free-form; priority, tags and expected_completion_time are read from here when not at the top level; budget is altlas-runner\'s extension.',
  }))),
  tasks: Type.Array(RunnerTask),
  language: Type.Optional(Nullable(Type.String({ description: 'Extension: language of the command.' }))),
  command: Type.Optional(Nullable(Type.String({ description: 'Extension: the user command the file came from.' }))),
  chaos_level: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 10, description: 'Extension: 1..10 in chaos mode.' }))),
}, {
  additionalProperties: true,
  $id: 'urn:altlas:schema:alt-runner:1.0',
  title: 'ALT_LAS .alt, runner form 1.0',
  description: 'A task file as the ALT_LAS runner reads it: tasks with dependencies. Unknown fields are kept.',
});

export type RunnerFormDoc = Static<typeof RunnerForm>;
export type RunnerTaskDoc = Static<typeof RunnerTask>;
