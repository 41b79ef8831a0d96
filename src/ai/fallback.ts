/**
 * Fallback chains (our extension of the `.alt`): the provider/model pairs a call moves on to when
 * the one before fails with a class retries will not fix. Pure: the task's `parameters.fallback`
 * checked (the decoder's ALT_FALLBACK), `AI_FALLBACK` and `AI_ENDPOINTS` read, and a chain resolved
 * against the endpoints a worker knows.
 *
 * A pair is `{provider?, model}` or the string `"provider/model"` (`"model"` alone: the default
 * endpoint). A string whose part before the first `/` names no endpoint is a model name with a
 * slash (`meta-llama/Llama-3`) on the default endpoint; the object form says it without guessing.
 */
import { AltlasError, type Problem } from '../errors.ts';
import type { Job } from '../alt/job.ts';
import type { ProviderName } from './call.ts';

/** The name of the endpoint AI_PROVIDER and AI_URL describe. */
export const DEFAULT_ENDPOINT = 'default';

/** Most pairs one chain may list after the task's own model. */
export const MAX_FALLBACK_PAIRS = 8;

/** A pair as written: the provider (an endpoint name) may be left out. */
export type PairSpec = string | { provider?: string; model: string };

/** A pair resolved against the known endpoints. */
export interface ModelPair {
  /** An endpoint name: `default` or a name of AI_ENDPOINTS. */
  provider: string;
  model: string;
}

/** An extra endpoint of AI_ENDPOINTS: `name=provider@url`. */
export interface EndpointSpec {
  name: string;
  provider: ProviderName;
  url: string;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): v is string => typeof v === 'string' && v.trim() === v && v.length > 0 && v.length <= 256 && !/\s/.test(v);

/** The problems of a `parameters.fallback` value (empty: it is a valid chain). */
export function fallbackProblems(value: unknown, pointer: string): Problem[] {
  if (!Array.isArray(value)) return [{ pointer, message: 'fallback must be a list of "provider/model" strings or {provider?, model} objects' }];
  const problems: Problem[] = [];
  if (value.length === 0) problems.push({ pointer, message: 'fallback lists no model' });
  if (value.length > MAX_FALLBACK_PAIRS) problems.push({ pointer, message: `fallback lists ${value.length} models, at most ${MAX_FALLBACK_PAIRS}` });
  value.forEach((p, i) => {
    const at = `${pointer}/${i}`;
    if (typeof p === 'string') {
      if (!text(p) || p.startsWith('/') || p.endsWith('/')) problems.push({ pointer: at, message: 'a fallback string must be "model" or "provider/model" without white space' });
    } else if (isObject(p)) {
      const extra = Object.keys(p).filter((k) => k !== 'model' && k !== 'provider');
      if (extra.length) problems.push({ pointer: at, message: `a fallback pair has only provider and model, not ${extra.join(', ')}` });
      if (!text(p.model)) problems.push({ pointer: `${at}/model`, message: 'model must be a non-empty string without white space' });
      if (p.provider !== undefined && (typeof p.provider !== 'string' || !NAME.test(p.provider))) problems.push({ pointer: `${at}/provider`, message: 'provider must be an endpoint name (letters, digits, _ and -)' });
    } else problems.push({ pointer: at, message: 'a fallback pair is a "provider/model" string or a {provider?, model} object' });
  });
  return problems;
}

/** ALT_FALLBACK naming every task whose `parameters.fallback` is not a valid chain, or null. */
export function checkFallback(job: Job): AltlasError | null {
  const listKey = job.source.form === 'runner' ? 'tasks' : 'segments';
  const problems: Problem[] = [];
  let first: string | null = null;
  job.tasks.forEach((t, i) => {
    if (t.parameters.fallback === undefined) return;
    const found = fallbackProblems(t.parameters.fallback, `/${listKey}/${i}/parameters/fallback`);
    if (found.length) first ??= t.id;
    problems.push(...found);
  });
  if (first === null) return null;
  return new AltlasError('ALT_FALLBACK', `task ${first} has an invalid parameters.fallback: ${problems[0].message}`, { problems, context: { altId: job.id, taskId: first } });
}

/** Reads AI_FALLBACK: pairs separated by commas (`backup/fake-small, bigger-model`). Throws CONFIG_INVALID. */
export function parseFallbackConfig(value: string | undefined): PairSpec[] {
  if (value === undefined || value.trim() === '') return [];
  const pairs = value.split(',').map((s) => s.trim());
  const problems = fallbackProblems(pairs, '');
  if (problems.length) throw new AltlasError('CONFIG_INVALID', `invalid configuration:\n  AI_FALLBACK: ${problems.map((p) => p.message).join('; ')}`);
  return pairs;
}

/** Reads AI_ENDPOINTS: `name=provider@url` entries separated by commas. Throws CONFIG_INVALID. */
export function parseEndpoints(value: string | undefined): EndpointSpec[] {
  if (value === undefined || value.trim() === '') return [];
  const seen = new Set<string>([DEFAULT_ENDPOINT]);
  return value.split(',').map((raw) => {
    const m = /^\s*([^=\s]+)=(orchestrator|openai)@(\S+)\s*$/.exec(raw);
    const bad = (why: string) => new AltlasError('CONFIG_INVALID', `invalid configuration:\n  AI_ENDPOINTS: ${JSON.stringify(raw.trim())} ${why} (name=orchestrator@url or name=openai@url)`);
    if (!m) throw bad('is not an endpoint');
    const [, name, provider, url] = m;
    if (!NAME.test(name)) throw bad('has a name other than letters, digits, _ and -');
    if (seen.has(name)) throw bad(name === DEFAULT_ENDPOINT ? 'uses the name default (AI_PROVIDER at AI_URL)' : 'repeats a name');
    try {
      const u = new URL(url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    } catch {
      throw bad('has no http(s) URL');
    }
    seen.add(name);
    return { name, provider: provider as ProviderName, url };
  });
}

/** A pair resolved against the endpoint names; an object naming an unknown endpoint keeps its name (the caller refuses it). */
export function resolvePair(spec: PairSpec, endpoints: ReadonlySet<string>): ModelPair {
  if (typeof spec !== 'string') return { provider: spec.provider ?? DEFAULT_ENDPOINT, model: spec.model };
  const slash = spec.indexOf('/');
  if (slash > 0 && endpoints.has(spec.slice(0, slash))) return { provider: spec.slice(0, slash), model: spec.slice(slash + 1) };
  return { provider: DEFAULT_ENDPOINT, model: spec };
}

/** How a pair is named in a `.last`, a log line and the metric: `provider/model`. */
export const pairLabel = (p: ModelPair): string => `${p.provider}/${p.model}`;

/**
 * The chain of a call: its own model on the default endpoint, then the task's fallback (when it
 * gives one) or else the configured one; a pair repeated later is dropped.
 */
export function chainOf(model: string, taskFallback: unknown, configured: readonly PairSpec[], endpoints: ReadonlySet<string>): ModelPair[] {
  const specs = Array.isArray(taskFallback) ? (taskFallback as PairSpec[]) : configured;
  const out: ModelPair[] = [{ provider: DEFAULT_ENDPOINT, model }];
  for (const s of specs) {
    const p = resolvePair(s, endpoints);
    if (!out.some((q) => q.provider === p.provider && q.model === p.model)) out.push(p);
  }
  return out;
}
