/** Public surface of the `.last` builder. */
export { buildLast, buildFailureLast, buildCancelledLast, lastStatus, MAX_RESULT_PROBLEMS, type LastIds, type BuildLastInput, type FailureInput, type ArtifactOptions } from './build.ts';
export { LastSchema, LAST_STATUSES, type Last, type LastStatus } from './schema.ts';
export { artifactObjectName, lastUrl, objectUrl, parseArtifactUrl, type ArtifactLocation } from './artifacts.ts';
