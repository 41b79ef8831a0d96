/**
 * Configuration files named by a variable (AI_PRICES, BUDGET_TENANTS): JSON or YAML, read once at
 * start and checked against a schema of `schemas/`, every problem reported at once as CONFIG_INVALID
 * naming the variable, the file and the JSON pointer of each problem.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { compile, type JsonSchema } from '../alt/schema-check.ts';
import { AltlasError, type Problem } from '../errors.ts';

const yaml = (): typeof Yaml => createRequire(import.meta.url)('yaml') as typeof Yaml;

const invalid = (variable: string, path: string, what: string, problems: readonly Problem[] = []) => new AltlasError('CONFIG_INVALID',
  `invalid configuration:\n  ${variable}=${path}: ${what}${problems.map((p) => `\n    ${p.pointer || '/'}: ${p.message}`).join('')}`,
  { problems: problems.length ? problems.map((p) => ({ pointer: `${variable}${p.pointer}`, message: p.message })) : [{ pointer: variable, message: what }] });

/** Parses the text of a JSON or YAML file (JSON when it starts with `{`). Throws CONFIG_INVALID. */
export function parseConfigText(text: string, variable: string, path: string): unknown {
  try {
    return text.trimStart().startsWith('{') ? JSON.parse(text) : yaml().parse(text, { uniqueKeys: true, merge: false, maxAliasCount: 0 });
  } catch (e) {
    throw invalid(variable, path, `is not well-formed JSON or YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Checks a parsed file against its schema. Throws CONFIG_INVALID listing every problem. */
export function checkConfigValue<T>(value: unknown, schema: JsonSchema, variable: string, path: string): T {
  const check = compile<T>(schema);
  if (check(value)) return value;
  throw invalid(variable, path, 'does not match what it must hold', check.problems(value));
}

/** Reads, parses and checks the file a variable names. Throws CONFIG_INVALID when it cannot be read or is invalid. */
export function readConfigFile<T>(path: string, schema: JsonSchema, variable: string): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw invalid(variable, path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return checkConfigValue<T>(parseConfigText(text, variable, path), schema, variable, path);
}
