/**
 * Which key names hold secrets, by two rules:
 *
 * - {@link isSecretKeyName} (data: a `.last`'s metadata and tags, status entries): the key names a
 *   secret exactly. Its head word (the last) is a secret noun (`password`, `secret`, `passphrase`,
 *   `credentials`, `cookie`, ...), a `token` that is not a count or a cursor (`access_token`, not
 *   `max_tokens` or `page_token`), or a `key` qualified as a secret one (`api_key`, `private_key`,
 *   `openai_key`, not `primary_key`, `sort_key` or `key`); `password_policy`, `token_limit` and
 *   `auth_method` name no secret.
 * - {@link isSecretKeyLoose} (logs and error texts): any word of the key is a secret word
 *   (`key`, `token`, `auth`, ...), or the key holds a secret compound.
 */

/** The words of a key name: `X-Api-Key` → x, api, key; `openaiKey` → openai, key. */
export function keyWords(key: string): string[] {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
}

/** Head words that name a secret whatever comes before them. */
const SECRET_HEADS = new Set([
  'password', 'passwords', 'passwd', 'pwd', 'passphrase', 'passcode', 'secret', 'secrets', 'credential', 'credentials', 'creds',
  'cookie', 'cookies', 'authorization', 'apikey', 'apikeys', 'privatekey', 'secretkey', 'accesskey', 'jwt', 'bearer', 'nkey',
]);
/** Whole key names (words joined) that are secrets though their head word alone is not. */
const SECRET_NAMES = new Set([
  'xauth', 'basicauth', 'proxyauth', 'httpauth', 'authtoken', 'otp', 'totp', 'accesskeyid', 'awsaccesskeyid', 'awssecretaccesskey', 'secretaccesskey',
  'sastoken', 'natsseed', 'nkeyseed', 'userseed', 'setcookie', 'phpsessid', 'jsessionid', 'clientsecret', 'consumersecret', 'webhooksecret', 'signingsecret',
  'accountkey', 'sharedaccesskey',
]);
/** Words before `key` that make it a secret key: `api_key`, `private_key`, `openai_key`. */
const SECRET_KEY_QUALIFIERS = new Set([
  'api', 'secret', 'private', 'access', 'signing', 'sign', 'encryption', 'encrypt', 'decryption', 'master', 'auth', 'client', 'session', 'ssh', 'gpg',
  'pgp', 'service', 'storage', 'subscription', 'admin', 'root', 'webhook', 'deploy', 'license', 'account', 'shared', 'hmac', 'jwt', 'app', 'consumer',
  'rsa', 'ecdsa', 'ed25519', 'aes', 'cipher', 'crypto', 'wallet', 'mnemonic', 'recovery', 'backup', 'bot',
  'openai', 'anthropic', 'claude', 'gemini', 'google', 'gcp', 'aws', 'azure', 'stripe', 'github', 'gitlab', 'slack', 'twilio', 'sendgrid', 'mailgun',
  'hf', 'huggingface', 'npm', 'pypi', 'cohere', 'mistral', 'groq', 'deepseek', 'openrouter', 'pinecone', 'datadog', 'dd', 'sentry', 'algolia',
  'mapbox', 'firebase', 'supabase', 'vercel', 'netlify', 'cloudflare', 'heroku', 'digitalocean', 'linear', 'notion', 'airtable', 'shopify', 'paypal',
  'replicate', 'perplexity', 'xai', 'together', 'fireworks', 'voyage', 'elevenlabs', 'assemblyai', 'deepgram', 'serpapi', 'tavily', 'brave',
]);
/** Words before `token` that make it a count, a cursor or a vocabulary entry, not a credential. */
const PLAIN_TOKEN_QUALIFIERS = new Set([
  'page', 'next', 'prev', 'previous', 'continuation', 'pagination', 'cursor', 'sync', 'max', 'min', 'eos', 'bos', 'pad', 'unk', 'stop', 'start',
  'end', 'special', 'sep', 'cls', 'mask', 'first', 'last', 'output', 'input', 'total', 'num', 'count', 'per', 'prompt', 'completion', 'reasoning',
  'cached', 'cache', 'context', 'word', 'sub', 'design', 'color', 'colour', 'theme', 'css', 'lexer', 'parser', 'syntax', 'ast', 'type', 'string',
  'budget', 'limit', 'used', 'usage', 'cancellation', 'cancel', 'abort', 'idempotency', 'request', 'trace', 'image', 'audio', 'video', 'thinking',
  'think', 'tool', 'vocab', 'vocabulary', 'bpe', 'sentinel', 'added', 'new', 'unknown', 'bos', 'role', 'separator', 'delimiter', 'placeholder',
]);
/** Head words that keep a secret name secret: `password_confirmation`, `api_key_value`. */
const SECRET_SUFFIXES = new Set(['value', 'base', 'confirmation', 'confirm', 'plain', 'plaintext', 'raw', 'b64', 'base64', 'encoded', 'hex', 'pem', 'der', 'data', 'text', 'str', 'string', 'bytes']);

/** First words of a flag or a count about a secret, not a secret: `is_secret`, `has_password`, `password_set` is caught by its head. */
const FLAG_WORDS = new Set(['is', 'has', 'have', 'use', 'uses', 'using', 'enable', 'enabled', 'require', 'requires', 'required', 'need', 'needs', 'allow', 'show', 'hide', 'with', 'without', 'no', 'num', 'count']);

/** A key name rather than a sentence or an expression used as a key: at most 4 words when spaced, identifier characters only. */
const KEY_NAME = /^[\p{L}\p{N}_.\-/ ]{1,80}$/u;

/** The data rule on a key's words (without the operator's extra fragments). */
function secretWords(w: readonly string[]): boolean {
  if (w.length === 0 || FLAG_WORDS.has(w[0])) return false;
  const head = w[w.length - 1];
  const prev = w.length > 1 ? w[w.length - 2] : '';
  if (SECRET_NAMES.has(w.join(''))) return true;
  if (SECRET_HEADS.has(head)) return true;
  // One-word compounds: dbpassword, clientsecret, accesstoken, openaiapikey.
  if (/(?:password|passwd|passphrase|secret|apikey|privatekey|accesstoken|refreshtoken|authtoken|bearertoken)s?$/.test(head) && head.length > 6) return true;
  if (head === 'token') return !PLAIN_TOKEN_QUALIFIERS.has(prev);
  if (head === 'key' || head === 'keys') return SECRET_KEY_QUALIFIERS.has(prev) || (prev === 'x' && w.length === 2);
  if (head === 'id' && w.slice(-3).join('') === 'accesskeyid') return true;
  if (SECRET_SUFFIXES.has(head) && w.length > 1) return secretWords(w.slice(0, -1));
  return false;
}

/** Names that hold a credential as often as not (`auth: oauth2`, `auth: dXNlcjpwYXNz`; `pass: 3`, `pass: hunter22`): their value is masked when it looks like one. */
const MAYBE_SECRET = new Set(['auth', 'pass', 'httpauth', 'authinfo']);

/** True when a key name holds a credential as often as not: its value is masked when it looks like a credential (data rule). */
export function isMaybeSecretKeyName(key: string): boolean {
  return memo(key, NO_EXTRA, 16, () => MAYBE_SECRET.has(keyWords(key).join('')));
}

/** Verdicts on key names per rule and list of extra fragments (the same few keys come back on every job and log line). */
const verdicts = new WeakMap<readonly string[], Map<string, number>>();
const MEMO_MAX = 4_096;
const NO_EXTRA: readonly string[] = [];

function memo(key: string, extra: readonly string[], bit: number, judge: () => boolean): boolean {
  let m = verdicts.get(extra);
  if (!m) verdicts.set(extra, (m = new Map()));
  let v = m.get(key) ?? 0;
  if (!(v & (bit << 1))) {
    v |= (bit << 1) | (judge() ? bit : 0);
    if (m.size >= MEMO_MAX) m.clear();
    m.set(key, v);
  }
  return (v & bit) !== 0;
}

const hasExtra = (key: string, extra: readonly string[]) => {
  if (extra.length === 0) return false;
  const lower = key.toLowerCase();
  return extra.some((f) => f && lower.includes(f.toLowerCase()));
};

/** True when a key names a secret exactly (the data rule), or holds one of the operator's extra fragments (LOG_REDACT). */
export function isSecretKeyName(key: string, extra: readonly string[] = NO_EXTRA): boolean {
  return memo(key, extra, 1, () => {
    // `API Key (prod)`: a qualifier in brackets is not part of the name.
    const name = key.replace(/\s*[([][^)\]]*[)\]]\s*/g, ' ').trim();
    const words = keyWords(name);
    const keyLike = KEY_NAME.test(name) && !(name.includes(' ') && words.length > 4);
    return (keyLike && secretWords(words)) || hasExtra(key, extra);
  });
}

/** Words that make a key secret in logs and error texts wherever they stand in it. */
const LOOSE_WORDS = new Set([
  'key', 'apikey', 'token', 'secret', 'secrets', 'password', 'passwords', 'passwd', 'pwd', 'pass', 'passphrase', 'passcode', 'auth', 'authorization',
  'credential', 'credentials', 'creds', 'private', 'privatekey', 'cookie', 'cookies', 'nkey', 'seed', 'jwt', 'bearer', 'signature', 'dsn', 'otp', 'sig',
]);
const LOOSE_PARTS = ['apikey', 'api_key', 'accesskey', 'access_key', 'secretkey', 'privatekey', 'private_key', 'password', 'passwd', 'credential', 'authtoken', 'auth_token', 'sessiontoken', 'clientsecret', 'client_secret', 'passphrase'];

/** True when a key's value must never reach a log line (the loose rule, which includes the data rule and the extra fragments). */
export function isSecretKeyLoose(key: string, extra: readonly string[] = NO_EXTRA): boolean {
  return memo(key, extra, 4, () => {
    const lower = key.toLowerCase();
    return LOOSE_PARTS.some((p) => lower.includes(p)) || keyWords(key).some((w) => LOOSE_WORDS.has(w)) || isSecretKeyName(key, extra);
  });
}
