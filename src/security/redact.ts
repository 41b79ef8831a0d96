/**
 * The one redaction policy of altlas-runner, applied to logs, error messages, failure `.last`s,
 * DLQ headers, status entries and the `.alt` metadata copied into a `.last`:
 *
 * - a key is secret when one of its words (split on `_`, `-`, `.`, spaces and camelCase) is a
 *   secret word (key, token, secret, password, pwd, auth, credential, private, ...), or when it
 *   contains a secret compound (apikey, accesskey, privatekey, password, ...); its value, at any
 *   depth, becomes `[REDACTED]`;
 * - inside any text: credentials in URLs and DSNs (`scheme://user:pass@host`), `key=value` pairs
 *   with a secret key, `Bearer`/`Basic` tokens, PEM private keys, JWTs, NATS seeds and the
 *   common provider key formats (OpenAI, Anthropic, AWS, GitHub, GitLab, Slack, Google, Stripe)
 *   are masked.
 */

export const REDACTED = '[REDACTED]';

/** Words that make a key secret (whole words of the key name). */
const SECRET_WORDS = new Set([
  'key', 'apikey', 'token', 'secret', 'secrets', 'password', 'passwords', 'passwd', 'pwd', 'pass', 'passphrase',
  'auth', 'authorization', 'credential', 'credentials', 'creds', 'private', 'privatekey', 'cookie', 'cookies',
  'nkey', 'seed', 'jwt', 'bearer', 'signature', 'dsn', 'otp',
]);
/** Compounds that make a key secret wherever they appear in it. */
const SECRET_PARTS = ['apikey', 'api_key', 'accesskey', 'access_key', 'secretkey', 'privatekey', 'private_key', 'password', 'passwd', 'credential', 'authtoken', 'auth_token', 'sessiontoken', 'clientsecret', 'client_secret'];

/** The words of a key name: `X-Api-Key` → x, api, key; `openaiKey` → openai, key. */
export function keyWords(key: string): string[] {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
}

/** Verdicts on key names, per list of extra fragments (the same few keys come back on every job and log line). */
const verdicts = new WeakMap<readonly string[], Map<string, boolean>>();
const NO_EXTRA: readonly string[] = [];
const MEMO_MAX = 4_096;

/** True when a key's value must never leave (with the operator's extra fragments of LOG_REDACT). */
export function isSecretKey(key: string, extra: readonly string[] = NO_EXTRA): boolean {
  let memo = verdicts.get(extra);
  if (!memo) verdicts.set(extra, (memo = new Map()));
  let v = memo.get(key);
  if (v === undefined) {
    v = judgeKey(key, extra);
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(key, v);
  }
  return v;
}

function judgeKey(key: string, extra: readonly string[]): boolean {
  const lower = key.toLowerCase();
  if (SECRET_PARTS.some((p) => lower.includes(p))) return true;
  if (keyWords(key).some((w) => SECRET_WORDS.has(w))) return true;
  return extra.some((f) => f && lower.includes(f));
}

const TEXT_PATTERNS: [RegExp, string | ((...m: string[]) => string)][] = [
  // PEM private keys.
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, REDACTED],
  // Credentials in URLs and DSNs: scheme://user:password@host → scheme://user:[REDACTED]@host.
  [/\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/@]*):([^\s@/]+)@/gi, (_m, s: string, u: string) => `${s}${u}:${REDACTED}@`],
  // A bare token in the user part: scheme://token@host.
  [/\b([a-z][a-z0-9+.-]*:\/\/)([A-Za-z0-9._~-]{16,})@/gi, (_m, s: string) => `${s}${REDACTED}@`],
  // Authorization schemes.
  [/\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{6,}/gi, (_m, s: string) => `${s} ${REDACTED}`],
  // key=value / key: value pairs whose key is secret (DSNs, query strings, config lines, JSON-ish text).
  [/(["']?)([A-Za-z0-9_.-]*?(?:api[_-]?key|apikey|secret|token|passw(?:or)?d|pwd|credentials?|private[_-]?key|access[_-]?key(?:[_-]?id)?|auth[_-]?token))\1(\s*[=:]\s*)(["']?)([^\s"'&;,}]+)/gi,
    (_m, q: string, k: string, sep: string, vq: string) => `${q}${k}${q}${sep}${vq}${REDACTED}`],
  // JSON Web Tokens.
  [/\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, REDACTED],
  // NATS seeds (user, account, operator, ...).
  [/\bS[UAONCPX][A-Z2-7]{54,60}\b/g, REDACTED],
  // Provider keys.
  [/\bsk-(?:proj-|ant-(?:api|admin)\d*-)?[A-Za-z0-9_-]{16,}/g, REDACTED],
  [/\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}/g, REDACTED],
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, REDACTED],
  [/\bgh[pousr]_[A-Za-z0-9]{30,}\b/g, REDACTED],
  [/\bgithub_pat_[A-Za-z0-9_]{30,}\b/g, REDACTED],
  [/\bglpat-[A-Za-z0-9_-]{20,}\b/g, REDACTED],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}\b/g, REDACTED],
  [/\bAIza[0-9A-Za-z_-]{35}\b/g, REDACTED],
];

/** Masks secrets inside one text. */
export function redactText(text: string): string {
  return maybeSecret(text) ? applyPatterns(text) : text;
}

/** Every text pattern, without the pre-check (tests hold the two to the same result). */
export function applyPatterns(text: string): string {
  let out = text;
  for (const [re, rep] of TEXT_PATTERNS) out = out.replace(re, rep as string);
  return out;
}

/**
 * Quick pre-check: a text that holds none of what every pattern above needs (an `@` for
 * credentials in URLs, a secret key word for `key=value` pairs, a scheme word, a key prefix)
 * cannot hold a secret, and most texts (titles, prompts, log messages) are spared the patterns.
 * Case-insensitive words first; the prefixes the patterns match case-sensitively second.
 */
const MAYBE_WORDS = /@|bearer|basic|token|secret|passw|pwd|credential|api[_-]?key|access[_-]?key|private|eyJ|sk-|sk_|rk_|pk_|gh[pousr]_|github_pat|glpat|xox/i;
const MAYBE_PREFIXES = /AKIA|ASIA|AIza|S[UAONCPX][A-Z2-7]{54}/;
const maybeSecret = (text: string) => MAYBE_WORDS.test(text) || MAYBE_PREFIXES.test(text);

/** Returns a copy of `value` with secret keys' values replaced and secrets inside texts masked, at any depth. */
export function redactValue(value: unknown, extra: readonly string[] = NO_EXTRA, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 200) return REDACTED;
  if (value instanceof Error) return { name: value.name, message: redactValue(value.message, extra, depth + 1) };
  if (Array.isArray(value)) return value.map((v) => redactValue(v, extra, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k, extra) ? REDACTED : redactValue(v, extra, depth + 1);
  return out;
}
