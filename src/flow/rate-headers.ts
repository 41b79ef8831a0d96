/**
 * What a provider's response headers say of its rate limits (pure): OpenAI-style
 * `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (resets as Go durations: `6m0s`, `1s`,
 * `20ms`), Anthropic-style `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
 * (resets as RFC 3339 instants), and `Retry-After` (seconds, or an HTTP date). A gateway before
 * either provider sends the same names. Anything unreadable is left out, never guessed.
 *
 * Anthropic limits input and output tokens separately; with no combined `tokens` limit, the
 * combined limit is taken as their sum and the tokens as spent when either is (remaining 0).
 */

/** One unit's figures, each absent when the headers do not say it. */
export interface UnitInfo {
  limit?: number;
  remaining?: number;
  /** Milliseconds from the response until the window is whole again (or `remaining` is wrong). */
  resetMs?: number;
}

export interface RateInfo {
  requests: UnitInfo;
  tokens: UnitInfo;
  /** Milliseconds Retry-After asks for; null when absent. */
  retryAfterMs: number | null;
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001, 'µs': 0.001, ns: 0.000001 };

/** A Go-style duration (`6m0s`, `1.5s`, `20ms`, `1h2m`), or a bare number of seconds, in ms; null when unreadable. */
export function parseDuration(v: string): number | null {
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1_000;
  if (!/^(\d+(\.\d+)?(h|ms|m|s|us|µs|ns))+$/.test(s)) return null;
  let ms = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) ms += Number(m[1]) * UNIT_MS[m[2]];
  return Number.isFinite(ms) ? ms : null;
}

/** An RFC 3339 instant as milliseconds from `now` (never negative); null when unreadable. */
export function untilInstant(v: string, now: number): number | null {
  if (!/^\d{4}-\d\d-\d\dT/.test(v.trim())) return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - now) : null;
}

/** Retry-After (seconds, or an HTTP date) in ms from `now`; null when absent or unreadable. */
export function parseRetryAfter(v: string | undefined, now: number): number | null {
  if (v === undefined) return null;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1_000;
  const t = Date.parse(s);
  return Number.isFinite(t) ? Math.max(0, t - now) : null;
}

const int = (v: string | undefined): number | undefined => {
  if (v === undefined || !/^\s*\d+(\.\d+)?\s*$/.test(v)) return undefined;
  return Math.floor(Number(v));
};

function openai(h: Readonly<Record<string, string>>, unit: 'requests' | 'tokens'): UnitInfo {
  const reset = h[`x-ratelimit-reset-${unit}`];
  const resetMs = reset === undefined ? null : parseDuration(reset);
  return clean({ limit: int(h[`x-ratelimit-limit-${unit}`]), remaining: int(h[`x-ratelimit-remaining-${unit}`]), resetMs: resetMs ?? undefined });
}

function anthropic(h: Readonly<Record<string, string>>, unit: string, now: number): UnitInfo {
  const reset = h[`anthropic-ratelimit-${unit}-reset`];
  const resetMs = reset === undefined ? null : untilInstant(reset, now);
  return clean({ limit: int(h[`anthropic-ratelimit-${unit}-limit`]), remaining: int(h[`anthropic-ratelimit-${unit}-remaining`]), resetMs: resetMs ?? undefined });
}

function clean(u: UnitInfo): UnitInfo {
  const out: UnitInfo = {};
  if (u.limit !== undefined && u.limit > 0) out.limit = u.limit;
  if (u.remaining !== undefined) out.remaining = u.remaining;
  if (u.resetMs !== undefined) out.resetMs = u.resetMs;
  return out;
}

/** Anthropic's separate input and output token limits as one combined unit. */
function combined(input: UnitInfo, output: UnitInfo): UnitInfo {
  const out: UnitInfo = {};
  if (input.limit !== undefined && output.limit !== undefined) out.limit = input.limit + output.limit;
  const spent = [input, output].filter((u) => u.remaining === 0);
  if (spent.length) {
    out.remaining = 0;
    const resets = spent.map((u) => u.resetMs).filter((x): x is number => x !== undefined);
    if (resets.length) out.resetMs = Math.max(...resets);
  } else if (input.remaining !== undefined && output.remaining !== undefined) {
    out.remaining = input.remaining + output.remaining;
    const resets = [input.resetMs, output.resetMs].filter((x): x is number => x !== undefined);
    if (resets.length) out.resetMs = Math.max(...resets);
  }
  return out;
}

const empty = (u: UnitInfo) => u.limit === undefined && u.remaining === undefined && u.resetMs === undefined;

/** Reads the rate-limit headers of one response (names in lower case) at `now` (epoch ms). */
export function readRateHeaders(h: Readonly<Record<string, string>>, now: number): RateInfo {
  const requests = openai(h, 'requests');
  let tokens = openai(h, 'tokens');
  const aRequests = anthropic(h, 'requests', now);
  const aTokens = anthropic(h, 'tokens', now);
  const merged = (a: UnitInfo, b: UnitInfo): UnitInfo => (empty(a) ? b : a);
  if (empty(tokens)) tokens = empty(aTokens) ? combined(anthropic(h, 'input-tokens', now), anthropic(h, 'output-tokens', now)) : aTokens;
  return { requests: merged(requests, aRequests), tokens, retryAfterMs: parseRetryAfter(h['retry-after'], now) };
}

/** True when the headers say anything of the limits. */
export function saysAnything(r: RateInfo): boolean {
  return r.retryAfterMs !== null || !empty(r.requests) || !empty(r.tokens);
}
