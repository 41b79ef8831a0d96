/** Loads the configuration from the environment once: coerced, defaults filled, validated, frozen. */
import { AltlasError, type Problem } from '../errors.ts';
import type { DecodeLimits } from '../alt/limits.ts';
import { newAjv, schemaFile } from '../alt/schema-check.ts';
import type { ErrorObject } from 'ajv';
import type { Config, DerivedConfig } from './schema.ts';

/** The configuration schema, as generated into `schemas/` from its TypeBox definition (./schema.ts). */
const CONFIG_SCHEMA = schemaFile('config.schema.json') as { properties: Record<string, { description?: string }> };
// Run once per process: ajv's code optimisation would cost more start-up time than it saves.
const validate = newAjv({ coerceTypes: true, useDefaults: true, code: { optimize: false } }).compile(CONFIG_SCHEMA);

/** Names of every configuration variable, in schema order. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(CONFIG_SCHEMA.properties);

/** The schema of one variable (for docs and checks). */
export function variableSchema(name: string): { description?: string } | undefined {
  return Object.hasOwn(CONFIG_SCHEMA.properties, name) ? CONFIG_SCHEMA.properties[name] : undefined;
}

/** What an invalid value must be, in words (the allowed values of an enum, true/false for a boolean). */
function expected(name: string, e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'enum':
      return `must be one of: ${(p.allowedValues as unknown[]).join(', ')}`;
    case 'type':
      return p.type === 'boolean' ? 'must be true or false' : p.type === 'integer' ? 'must be a whole number' : `must be ${String(p.type)}`;
    case 'minimum':
    case 'maximum':
      return `must be ${String(p.comparison)} ${String(p.limit)}`;
    case 'pattern': {
      const description = variableSchema(name)?.description;
      return `is not a valid value${description ? ` (${description})` : ''}`;
    }
    default:
      return e.message ?? 'is invalid';
  }
}

/** Variables a client command (publish, results, status, dlq, ...) reads; the others concern the worker only. */
export const CLIENT_VARIABLES: ReadonlySet<string> = new Set(CONFIG_VARIABLES.filter((n) => /^(NATS_|ALT_|LAST_|DLQ_|USAGE_|PAYLOAD_|DASHBOARD_|PROGRESS_)/.test(n) || [
  'RUNNER_DURABLE', 'RUNNER_STATUS_BUCKET', 'RUNNER_CHECKPOINT_BUCKET', 'RUNNER_OBJECT_BUCKET', 'RUNNER_BODY_BUCKET', 'RUNNER_WORKERS_BUCKET', 'RUNNER_STREAM_REPLICAS',
  'RUNNER_ACK_WAIT_MS', 'RUNNER_MAX_DELIVER', 'RUNNER_STATUS_TTL_MS', 'RUNNER_OBJECT_TTL_MS', 'RUNNER_CHECKPOINT_MAX_VALUE', 'LOOP_MAX_ITERATIONS', 'CALL_MAX_DEPTH',
].includes(n)));

export interface LoadOptions {
  /**
   * A client command: an invalid value of a variable only the worker reads is reported through
   * `warn` and replaced by its default instead of refusing to run.
   */
  client?: boolean;
  warn?: (message: string) => void;
}

function problemsOf(env: Record<string, string | undefined>, errors: readonly ErrorObject[]): Problem[] {
  return errors.map((e) => {
    const name = e.instancePath.slice(1) || String((e.params as Record<string, unknown>).additionalProperty ?? '');
    return { pointer: name, message: `${name}=${JSON.stringify(env[name] ?? '')} ${expected(name, e)}` };
  });
}

/**
 * Reads every known variable of `env` (unknown ones are ignored; empty ones count as unset), and
 * returns the frozen configuration, or throws CONFIG_INVALID listing every invalid variable.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, options: LoadOptions = {}): Config {
  const raw: Record<string, unknown> = {};
  for (const name of CONFIG_VARIABLES) {
    const v = env[name];
    if (v !== undefined && v !== '') raw[name] = v.trim();
  }
  if (!validate(raw)) {
    let problems = problemsOf(env, validate.errors ?? []);
    if (options.client) {
      const workerOnly = problems.filter((p) => !CLIENT_VARIABLES.has(p.pointer));
      for (const p of workerOnly) {
        options.warn?.(`${p.message}; ignored here (only the worker reads ${p.pointer})`);
        delete raw[p.pointer];
      }
      if (workerOnly.length && validate(raw)) return finish(raw);
      problems = problemsOf(env, validate.errors ?? []);
    }
    throw new AltlasError('CONFIG_INVALID', `invalid configuration:\n  ${problems.map((p) => p.message).join('\n  ')}`, { problems });
  }
  return finish(raw);
}

/** The validated variables with the values derived from them, frozen. */
function finish(raw: Record<string, unknown>): Config {
  const vars = raw as unknown as Omit<Config, keyof DerivedConfig>;
  const derived: DerivedConfig = {
    logRedactKeys: Object.freeze(vars.LOG_REDACT.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)),
  };
  return Object.freeze({ ...vars, ...derived });
}

/** Prefixes of this runner's variables: an unknown one of these is probably a typo. */
const PREFIXES = /^(NATS|ALT|RUNNER|LAST|DLQ|USAGE|BUDGET|AI|HTTP|LOG|LOOP|CALL|ARCHIVE|PAYLOAD|DASHBOARD|PROGRESS)_/;
/** Variables of the ecosystem that share a prefix and are not ours. */
const FOREIGN = new Set(['NATS_SERVER_BIN', 'ALT_LAS_HOME', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY']);

/**
 * The known variable a name with a misspelt prefix stands for: `RUNER_CONCURRENCY`,
 * `DASHBORD_TOKEN`, `NAT_URL` (the prefix one or two edits from one of ours, the rest exactly a
 * known variable's rest), or a name one edit from a known one (`NATSURL`). Null otherwise.
 */
function misspeltPrefix(name: string): string | null {
  const cut = name.indexOf('_');
  if (cut > 0) {
    const [prefix, rest] = [name.slice(0, cut), name.slice(cut)];
    for (const known of CONFIG_VARIABLES) {
      const k = known.indexOf('_');
      if (known.slice(k) === rest && distance(prefix, known.slice(0, k)) <= (prefix.length > 3 ? 2 : 1)) return known;
    }
  }
  // One edit changes the length by at most one: the others are not worth a distance (a process's
  // environment holds dozens of foreign names, npm's alone a hundred, each against every variable).
  for (const known of CONFIG_VARIABLES) if (name.length >= 6 && Math.abs(name.length - known.length) <= 1 && distance(name, known) <= 1) return known;
  return null;
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const keep = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = keep;
    }
  }
  return d[b.length];
}

/** Warnings about set variables with one of our prefixes that this runner does not know (typos), with the nearest known name. */
export function unknownVariables(env: Record<string, string | undefined> = process.env): string[] {
  const out: string[] = [];
  for (const name of Object.keys(env)) {
    if (FOREIGN.has(name) || CONFIG_VARIABLES.includes(name) || name.startsWith('ALT_TEST')) continue;
    if (!PREFIXES.test(name)) {
      const meant = misspeltPrefix(name);
      if (meant) out.push(`unknown variable ${name}: did you mean ${meant}?`);
      continue;
    }
    let best = '';
    let bestD = Number.POSITIVE_INFINITY;
    for (const known of CONFIG_VARIABLES) {
      const dd = distance(name, known);
      if (dd < bestD) [best, bestD] = [known, dd];
    }
    out.push(`unknown variable ${name}${bestD <= 3 ? `: did you mean ${best}?` : ' (not a setting of altlas-runner; see the README\'s configuration table)'}`);
  }
  return out;
}

/** The decoder's limits from the configuration. */
export function decodeLimits(config: Config): DecodeLimits {
  return {
    maxBytes: config.ALT_MAX_BYTES,
    maxTasks: config.ALT_MAX_TASKS,
    maxDependencyDepth: config.ALT_MAX_DEPTH,
    maxYamlAliases: config.ALT_MAX_YAML_ALIASES,
    maxStringLength: config.ALT_MAX_STRING_LENGTH,
    maxNesting: config.ALT_MAX_NESTING,
    maxKeys: config.ALT_MAX_KEYS,
    maxNodes: config.ALT_MAX_NODES,
    maxProblems: config.ALT_MAX_PROBLEMS,
  };
}
