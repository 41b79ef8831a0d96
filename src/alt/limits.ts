/**
 * Decoding limits: every cap the decoder enforces, and their defaults. The configuration's defaults
 * table (config/defaults.ts) takes its ALT_MAX_* values from here, so each is written once.
 */

export interface DecodeLimits {
  /** Payload bytes. Default 1 MiB (ALT_MAX_BYTES). */
  maxBytes: number;
  /** Tasks (or segments) per job. Default 1,000 (ALT_MAX_TASKS). */
  maxTasks: number;
  /** Tasks on the longest dependency chain. Default 256 (ALT_MAX_DEPTH). */
  maxDependencyDepth: number;
  /** YAML alias dereferences. Default 100 (ALT_MAX_YAML_ALIASES). */
  maxYamlAliases: number;
  /** Characters in one string, keys included. Default 262,144 (ALT_MAX_STRING_LENGTH). */
  maxStringLength: number;
  /** Nesting of arrays and objects. Default 64 (ALT_MAX_NESTING). */
  maxNesting: number;
  /** Keys in one mapping. Default 1,000 (ALT_MAX_KEYS). */
  maxKeys: number;
  /** Values (nodes) in one document. Default 100,000 (ALT_MAX_NODES). */
  maxNodes: number;
  /** Problems one error lists; the rest are counted. Default 50 (ALT_MAX_PROBLEMS). */
  maxProblems: number;
}

export const DEFAULT_DECODE_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxBytes: 1_048_576,
  maxTasks: 1_000,
  maxDependencyDepth: 256,
  maxYamlAliases: 100,
  maxStringLength: 262_144,
  maxNesting: 64,
  maxKeys: 1_000,
  maxNodes: 100_000,
  maxProblems: 50,
});

/** Names of the limits as they appear in ALT_LIMIT errors. */
export type LimitName = 'bytes' | 'tasks' | 'dependency_depth' | 'yaml_aliases' | 'string_length' | 'nesting' | 'keys' | 'nodes' | 'decode_time';
