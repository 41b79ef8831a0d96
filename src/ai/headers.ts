/** What the path keeps of a provider's response headers, and the URL it shows (pure). */

/** Rate-limit headers a provider (or a gateway before it) sends: OpenAI's, Anthropic's and Retry-After. */
export function limitHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  let out: Record<string, string> | null = null;
  for (const name in headers) {
    if (name === 'retry-after' || name.startsWith('x-ratelimit-') || name.startsWith('anthropic-ratelimit-')) {
      const v = headers[name];
      if (v === undefined) continue;
      (out ??= {})[name] = Array.isArray(v) ? v.join(', ') : v;
    }
  }
  return out ?? NO_HEADERS;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** The URL without its userinfo (`http://user:pass@host/` → `http://host/`): what attempt info, spans and logs show. */
export function displayUrl(url: string): string {
  const u = new URL(url);
  if (!u.username && !u.password) return u.toString();
  u.username = '';
  u.password = '';
  return u.toString();
}
