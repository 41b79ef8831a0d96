/** Public surface of the `.last` builder. */
export { buildLast, buildFailureLast, buildCancelledLast, lastStatus, MAX_RESULT_PROBLEMS, type LastIds, type BuildLastInput, type FailureInput, type ArtifactOptions } from './build.ts';
export type { Last } from './schema.ts';
export { LAST_STATUSES, type LastStatus } from './statuses.ts';
export { artifactObjectName, lastUrl, objectUrl, parseArtifactUrl, type ArtifactLocation } from './artifacts.ts';
