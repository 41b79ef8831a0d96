/**
 * Credential formats precise enough to mask inside any text without touching ordinary words:
 * provider keys by their fixed prefixes and lengths, PEM and PGP private key blocks, passwords
 * (and token-like user names) in URL userinfo, JWTs whose header decodes to a JSON object with an
 * `alg`, `Basic` credentials that decode to `user:password`, other authorization schemes with a
 * token-like credential, `Cookie:` lines, Azure account keys and SAS signatures, signed-URL
 * signatures, Slack and Discord webhook URLs, NATS seeds.
 */

export const REDACTED = '[REDACTED]';

type Replacer = string | ((...m: string[]) => string);

/**
 * Where a credential may start: not inside a word, except right after an escape (`\n`, `\t`) of a
 * text that was JSON-encoded, where a PEM file or a creds file puts it.
 */
export const START = '(?:(?<![A-Za-z0-9_\\\\])|(?<=\\\\[nrt]))';
/** The regex with its leading `\b` replaced by {@link START}. */
const bounded = (re: RegExp) => new RegExp(re.source.replace(/^\\b/, START), re.flags);

/** A token-like credential: 8+ characters with a letter and a digit (`Token limits`, `Basic arithmetic` are words). */
export const tokenLike = (s: string, min = 8): boolean => s.length >= min && /[A-Za-z]/.test(s) && /\d/.test(s);

/** A template, a mask or a name standing for a secret (`<password>`, `${DB_PASSWORD}`, `{{token}}`, `***`, `[REDACTED]`, `YOUR_API_KEY`), or a path: nothing to hide. */
export const placeholder = (s: string): boolean => /^(?:<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|%[A-Za-z_(][^%]*%?|\*+|x{3,}|\[[A-Z_-]*\]|\.\.\.|…|(?:your|my)[-_]\w+|change[-_]?me|replace[-_]?me)$/i.test(s)
  // `YOUR_API_KEY`, `DB_PASSWORD`: a name in capitals standing for the value.
  || /^[A-Z]+(?:_[A-Z]+)+$/.test(s)
  // A path (`pwd: /home/alice`).
  || /^(?:~|\.{1,2})?\/[\w.\/-]*$/.test(s);

/** Provider keys: fixed prefixes with their lengths, so a SKU such as `sk-2024-000123-A` is left alone. */
const PROVIDER_KEYS: RegExp[] = [
  /\bsk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,}/g, // OpenAI project, service account, admin keys
  /\bsk-ant-(?:api|admin|oat|ort|sid)\d{2}-[A-Za-z0-9_-]{20,}/g, // Anthropic
  /\bsk-or-v1-[a-f0-9]{48,}/g, // OpenRouter
  /\bsk-(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{32,}(?![A-Za-z0-9-])/g, // OpenAI legacy, DeepSeek, Moonshot: sk- and 32+ letters and digits
  /\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}/g, /\bpk_(?:live|test)_[A-Za-z0-9]{16,}/g, /\bwhsec_[A-Za-z0-9+/]{24,}/g, // Stripe
  /\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[0-9A-Z]{16}\b/g, // AWS access key ids
  /\bgh[pousr]_[A-Za-z0-9]{36,}\b/g, /\bgithub_pat_[A-Za-z0-9_]{30,}\b/g, // GitHub
  /\bgl(?:pat|dt|rt|ptt|ft|imt|agent|oas|cbt|soat)-[A-Za-z0-9_-]{20,}/g, /\bGR1348941[A-Za-z0-9_-]{20,}/g, // GitLab
  /\bxox[abposre]-[A-Za-z0-9-]{10,}/g, /\bxapp-\d-[A-Z0-9]+-\d+-[a-z0-9]{32,}/g, // Slack tokens
  /\bAIza[0-9A-Za-z_-]{35}/g, /\bya29\.[0-9A-Za-z_-]{20,}/g, /\bGOCSPX-[A-Za-z0-9_-]{24,}/g, // Google
  /\bnpm_[A-Za-z0-9]{36}\b/g, // npm
  /\bhf_[A-Za-z0-9]{30,40}\b/g, /\bapi_org_[A-Za-z0-9]{30,40}\b/g, // Hugging Face
  /\bpypi-AgE[A-Za-z0-9_-]{50,}/g, // PyPI
  /\bgsk_[A-Za-z0-9]{40,}\b/g, /\bxai-[A-Za-z0-9]{60,}\b/g, /\bpplx-[A-Za-z0-9]{40,}\b/g, /\br8_[A-Za-z0-9]{30,}\b/g, // Groq, xAI, Perplexity, Replicate
  /\bSG\.[A-Za-z0-9_-]{20,24}\.[A-Za-z0-9_-]{40,45}\b/g, /\bkey-[0-9a-f]{32}\b/g, /\bSK[0-9a-f]{32}\b/g, // SendGrid, Mailgun, Twilio
  /\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b/g, /\bdo[por]_v1_[a-f0-9]{64}\b/g, /\bdapi[a-f0-9]{32}(?:-\d)?\b/g, // Shopify, DigitalOcean, Databricks
  /\bhv[sbr]\.[A-Za-z0-9_-]{24,}/g, /\bdp\.(?:st|ct|sa|scim|audit)\.[A-Za-z0-9_.-]{40,}/g, /\bATATT3[A-Za-z0-9_=-]{100,}/g, // Vault, Doppler, Atlassian
  /\blin_(?:api|oauth)_[A-Za-z0-9]{40}\b/g, /\bsecret_[A-Za-z0-9]{43}\b/g, /\bntn_[A-Za-z0-9]{40,}\b/g, /\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b/g, // Linear, Notion, Postman
  /\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b/g, /\bglc_[A-Za-z0-9+/]{32,}={0,2}/g, /\bsntry[su]_[A-Za-z0-9+/=_-]{40,}/g, /\bNRAK-[A-Z0-9]{27}\b/g, // Grafana, Sentry, New Relic
  /\bsbp_[a-f0-9]{40}\b/g, /\bpscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64}/g, /\bfigd_[A-Za-z0-9_-]{40,}/g, /\bdckr_pat_[A-Za-z0-9_-]{27,}/g, // Supabase, PlanetScale, Figma, Docker
  /\bpul-[a-f0-9]{40}\b/g, /\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{60,}/g, /\bsq0(?:atp|csp)-[0-9A-Za-z_-]{22,}/g, /\bAKCp[A-Za-z0-9]{60,}/g, // Pulumi, Terraform, Square, JFrog
  /\bpat[A-Za-z0-9]{14}\.[a-f0-9]{64}\b/g, /\bdt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}\b/g, /\bsk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}/g, // Airtable, Dynatrace, Mapbox
  /\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b/g, // Telegram bot tokens
  /\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b/g, // age secret keys
  /\b[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}\b/g, // Azure AD client secrets
];

/** CRC-16/XMODEM, the checksum of NATS nkeys. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** RFC 4648 base32 without padding; null for a character outside the alphabet. */
function base32(text: string): Uint8Array | null {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const v = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.indexOf(ch);
    if (v < 0) return null;
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

/** A NATS seed (`SU…`, `SA…`, `SO…`): 58 base32 characters whose last two bytes are the CRC-16 of the rest, so a long all-caps word is no seed. */
const NATS_SEED = /\bS[UAONCPX][A-Z2-7]{56}\b/g;
function natsSeed(m: string): string {
  const raw = base32(m);
  if (!raw || raw.length < 3) return m;
  const body = raw.subarray(0, raw.length - 2);
  return crc16(body) === (raw[raw.length - 2] | (raw[raw.length - 1] << 8)) ? REDACTED : m;
}

/** A Discord bot token: its first part is the bot's numeric id in base64. */
const DISCORD = /\b[MNO][A-Za-z\d_-]{23,25}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,38}\b/g;
const discord = (m: string) => (/^\d{17,20}$/.test(Buffer.from(m.slice(0, m.indexOf('.')), 'base64').toString('latin1')) ? REDACTED : m);

/** A JWT (or JWS/JWE) whose header decodes to a JSON object naming its `alg`. */
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?/g;
function jwt(m: string): string {
  try {
    const header = JSON.parse(Buffer.from(m.slice(0, m.indexOf('.')), 'base64url').toString('utf8')) as unknown;
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string' ? REDACTED : m;
  } catch {
    return m;
  }
}

/** `Basic <base64>` whose bytes are `user:password`. */
const BASIC = /\b(Basic)(\s+)([A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])/gi;
function basic(m: string, scheme: string, space: string, b64: string): string {
  const plain = Buffer.from(b64, 'base64').toString('latin1');
  return /^[\x20-\x7e]+:[\x20-\x7e]*$/.test(plain) ? `${scheme}${space}${REDACTED}` : m;
}

/** Authorization schemes whose credential is token-like (`Bearer Industries` and `Token limits` stay). */
const SCHEMES = /\b(Bearer|Token|ApiKey|Api-Key|SSWS|GenieKey|DPoP|OAuth)(\s+)([A-Za-z0-9._~+/=-]{8,})/gi;
const scheme = (m: string, s: string, space: string, cred: string) => (tokenLike(cred) ? `${s}${space}${REDACTED}` : m);
/** An `Authorization:` header whose value is a bare token-like credential. */
const AUTH_HEADER = /\b((?:Proxy-)?Authorization:[ \t]*)([A-Za-z0-9._~+/=-]{16,})(?=\s|$|["',;])/gi;

/** `Cookie:` and `Set-Cookie:` lines holding `name=value` pairs: the whole value is masked. */
const COOKIE_LINE = /\b((?:Set-)?Cookie:[ \t]*)(?=[^\s=;,]+=)[^\r\n]*/gi;

/** Azure storage and Service Bus connection strings, SAS and signed-URL signatures. */
const AZURE = /\b((?:AccountKey|SharedAccessKey|SharedAccessSignature)=)([^;\s"'&]+(?:=+)?)/gi;
const SIGNATURES = /([?&](?:sig|signature|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|X-Goog-Credential|Signature|token)=)([^&\s"'#]{8,})/g;

/** Webhook URLs whose path is the credential. */
const WEBHOOKS = /\b(https?:\/\/(?:hooks\.slack\.com\/(?:services|workflows|triggers)|(?:discord(?:app)?\.com|canary\.discord\.com)\/api\/webhooks|[a-z0-9-]+\.webhook\.office\.com\/webhookb2|outlook\.office\.com\/webhook)\/)[^\s"'<>)]+/gi;

/** PEM and PGP private key blocks (an unterminated one is masked to the end). */
const PRIVATE_BLOCK = /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----[\s\S]*?(?:-----END \1-----|$)/g;

const URL_START = /\b[a-z][a-z0-9+.-]{1,30}:\/\//gi;
const HOST_AFTER_AT = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:[/?#:,;)\]"'>]|\s|$)/;

/**
 * Passwords in URL userinfo (`scheme://user:password@host`), found at the last `@` before the
 * host, so a password holding `@`, `/` or `:` is masked whole. A user name alone is masked when it
 * is a token (`https://<token>@host`): with `loose`, any run of 16+ token characters; else one
 * with letters and digits.
 */
export function maskUrlUserinfo(text: string, loose: boolean): string {
  if (!text.includes('://') || !text.includes('@')) return text;
  let out = '';
  let last = 0;
  URL_START.lastIndex = 0;
  for (let m = URL_START.exec(text); m; m = URL_START.exec(text)) {
    const start = m.index + m[0].length;
    const end = text.slice(start).search(/[\s"'<>`]/);
    const token = end < 0 ? text.slice(start) : text.slice(start, start + end);
    let at = -1;
    for (let i = token.lastIndexOf('@'); i >= 0; i = i > 0 ? token.lastIndexOf('@', i - 1) : -1) {
      if (HOST_AFTER_AT.test(token.slice(i + 1))) {
        at = i;
        break;
      }
    }
    if (at <= 0) continue;
    const userinfo = token.slice(0, at);
    const colon = userinfo.indexOf(':');
    let masked: string | null = null;
    if (colon < 0) {
      if (loose ? /^[A-Za-z0-9._~%-]{16,}$/.test(userinfo) : /^[A-Za-z0-9_-]{16,}$/.test(userinfo) && tokenLike(userinfo)) masked = REDACTED;
    } else {
      const pass = userinfo.slice(colon + 1);
      const slash = userinfo.search(/[/?#]/);
      // `host:8080/path/@name` is a path, not a password.
      const hostPort = slash >= 0 && /^[A-Za-z0-9.-]+(?::\d{1,5})?$/.test(userinfo.slice(0, slash));
      if (pass && !hostPort && !placeholder(pass)) masked = `${userinfo.slice(0, colon)}:${REDACTED}`;
    }
    if (masked === null) continue;
    out += text.slice(last, start) + masked;
    last = start + at;
    URL_START.lastIndex = start + at;
  }
  return last === 0 ? text : out + text.slice(last);
}

const FORMATS: [RegExp, Replacer][] = ([
  [PRIVATE_BLOCK, REDACTED],
  [WEBHOOKS, (_m, base: string) => `${base}${REDACTED}`],
  [COOKIE_LINE, (_m, head: string) => `${head}${REDACTED}`],
  [AZURE, (_m, k: string) => `${k}${REDACTED}`],
  [SIGNATURES, (_m, k: string) => `${k}${REDACTED}`],
  [JWT, jwt],
  [NATS_SEED, natsSeed],
  [DISCORD, discord],
  ...PROVIDER_KEYS.map((re): [RegExp, Replacer] => [re, REDACTED]),
  [BASIC, basic as Replacer],
  [SCHEMES, scheme as Replacer],
  [AUTH_HEADER, (m: string, head: string, cred: string) => (tokenLike(cred) ? `${head}${REDACTED}` : m)],
] as [RegExp, Replacer][]).map(([re, rep]) => [bounded(re), rep]);

/**
 * What a text must hold for any format above to match (the case-insensitive patterns' words, and
 * the case-sensitive prefixes); most texts hold none of it and are spared the patterns.
 */
const MAYBE_WORDS = /-----BEGIN|:\/\/|cookie:|accountkey=|sharedaccess|(?:sig|signature|credential|token)=|bearer\s|basic\s|token\s|api-?key\s|ssws\s|geniekey\s|dpop\s|oauth\s|authorization:/i;
const MAYBE_PREFIXES = new RegExp(`(?:eyJ|sk-|[rsp]k_(?:live|test)_|sk\\.eyJ|whsec_|A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)|gh[pousr]_|github_pat_|gl[a-z]+-|GR1348941|xox|xapp-|AIza|ya29\\.|GOCSPX|npm_|hf_|api_org_|pypi-|gsk_|xai-|pplx-|r8_|SG\\.|SK[0-9a-f]{32}|key-[0-9a-f]|shp(?:at|ca|pa|ss)_|do[por]_v1|dapi[a-f0-9]|hv[sbr]\\.|dp\\.|ATATT|lin_|secret_|ntn_|PMAK|gls?[ac]_|sntry|NRAK|sbp_|pscale|figd_|dckr|pul-|pat[A-Za-z0-9]{14}\\.|dt0c01|sq0|AKCp|\\d{8,10}:AA|[MNO][A-Za-z\\d_-]{23,25}\\.|AGE-SECRET|S[UAONCPX][A-Z2-7]{54})|atlasv1|Q~`);

/** True when a text may hold a credential format (false: {@link maskFormats} would leave it as it is). */
export const mayHoldFormat = (text: string): boolean => MAYBE_WORDS.test(text) || MAYBE_PREFIXES.test(text);

/** Masks every precise credential format in a text. */
export function maskFormats(text: string): string {
  if (!mayHoldFormat(text)) return text;
  let out = maskUrlUserinfo(text, false);
  for (const [re, rep] of FORMATS) out = out.replace(re, rep as string);
  return out;
}
