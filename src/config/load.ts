/** Loads the configuration from the environment once: coerced, defaults filled, validated, frozen. */
import { AltlasError, type Problem } from '../errors.ts';
import type { DecodeLimits } from '../alt/limits.ts';
import { newAjv } from '../alt/schema-check.ts';
import { ConfigSchema, CONFIG_VARIABLES, type Config } from './schema.ts';

const validate = newAjv({ coerceTypes: true, useDefaults: true }).compile(ConfigSchema);

/**
 * Reads every known variable of `env` (unknown ones are ignored; empty ones count as unset), and
 * returns the frozen configuration, or throws CONFIG_INVALID listing every invalid variable.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, unknown> = {};
  for (const name of CONFIG_VARIABLES) {
    const v = env[name];
    if (v !== undefined && v !== '') raw[name] = v.trim();
  }
  if (!validate(raw)) {
    const problems: Problem[] = (validate.errors ?? []).map((e) => {
      const name = e.instancePath.slice(1) || String((e.params as Record<string, unknown>).additionalProperty ?? '');
      return { pointer: name, message: `${name}=${JSON.stringify(env[name] ?? '')} ${e.message ?? 'is invalid'}` };
    });
    throw new AltlasError('CONFIG_INVALID', `invalid configuration:\n  ${problems.map((p) => p.message).join('\n  ')}`, { problems });
  }
  return Object.freeze(raw) as unknown as Config;
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
