/**
 * Fallback chains (our extension of the `.alt`): the provider/model pairs a call moves on to when
 * the one before fails with a class retries will not fix. Pure: `AI_FALLBACK` and `AI_ENDPOINTS`
 * read, and a chain resolved against the endpoints a worker knows (the decoder checks a task's
 * `parameters.fallback` in alt/extensions.ts).
 *
 * A pair is `{provider?, model}` or the string `"provider/model"` (`"model"` alone: the default
 * endpoint). A string whose part before the first `/` names no endpoint is a model name with a
 * slash (`meta-llama/Llama-3`) on the default endpoint; the object form says it without guessing.
 */
import { AltlasError } from '../errors.ts';
import { fallbackProblems } from '../alt/extensions.ts';
import type { ProviderName } from './call.ts';

/** The name of the endpoint AI_PROVIDER and AI_URL describe. */
export const DEFAULT_ENDPOINT = 'default';

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
