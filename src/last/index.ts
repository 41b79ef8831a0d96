/** Public surface of the `.last` builder. */
export { buildLast, buildFailureLast, lastStatus, type LastIds, type BuildLastInput, type FailureInput } from './build.ts';
export { LastSchema, LAST_STATUSES, type Last, type LastStatus } from './schema.ts';
