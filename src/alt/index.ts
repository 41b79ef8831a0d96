/** Public surface of the `.alt` decoder. */
export { decodeAlt, type DecodeOptions, type DecodeResult } from './decode.ts';
export { recoverAltId } from './recover-id.ts';
export { jobHeader, type JobHeader } from './header.ts';
export { toRunnerForm } from './normalize.ts';
export { DEFAULT_DECODE_LIMITS, type DecodeLimits } from './limits.ts';
export { topologicalOrder, checkGraph } from './graph.ts';
export * from './job.ts';
