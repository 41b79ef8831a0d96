/**
 * The two redaction policies of altlas-runner.
 *
 * - **Logs and error texts** ({@link redactValue}, {@link redactText}): masked aggressively.
 *   A key is secret when any of its words is a secret word (`key`, `token`, `auth`, `password`,
 *   `private`, `cookie`, ...); inside a text, every precise credential format (below), any token
 *   in URL userinfo, `Bearer`/`Basic`/`Token` followed by any token, and `name=value` or
 *   `name: value` with a secret-looking name, the value to the end of its line or field.
 * - **Data copied into results** ({@link redactData}, {@link redactDataText}): the title,
 *   metadata and tags of a job as a `.last`, a status entry and the dashboard show them. Only
 *   exact secret key names (`password`, `api_key`, `access_token`, `openai_key`; not
 *   `primary_key`, `token_limit`, `auth_method`) and precise credential formats are masked:
 *   provider keys by prefix and length, PEM/PGP private key blocks, passwords in URL userinfo,
 *   JWTs with a valid header, `Basic` credentials that decode to `user:password`, token-like
 *   credentials after an authorization scheme, `Cookie:` lines, Azure keys and signatures, webhook
 *   URLs; in a text, `name=value` (or a quoted value) under an exact secret name.
 *
 * Both mask an object key that is itself a secret, and take the operator's extra key fragments
 * (LOG_REDACT, see {@link configureRedaction}).
 */
import { REDACTED, START, maskFormats, maskUrlUserinfo, mayHoldFormat, placeholder, tokenLike } from './secret-formats.ts';
import { isMaybeSecretKeyName, isSecretKeyLoose, isSecretKeyName, keyWords } from './secret-keys.ts';

export { REDACTED, isSecretKeyName, keyWords };

let configured: readonly string[] = [];

/** Sets the operator's extra key fragments (LOG_REDACT) that every redaction not given its own list uses. Called once at start. */
export function configureRedaction(extraKeys: readonly string[]): void {
  configured = extraKeys.map((k) => k.trim().toLowerCase()).filter(Boolean);
}

/** True when a key's value must never reach a log line or an error text (the loose rule). */
export function isSecretKey(key: string, extra: readonly string[] = configured): boolean {
  return isSecretKeyLoose(key, extra);
}

/** `name=value`, `name: value`, `"name": "value"`: the name, the spaces around the sign, then where its value starts (`==`, `:=` are no assignments). */
const ASSIGN = new RegExp(`${START}(\\\\?["']|)([A-Za-z_][A-Za-z0-9_.-]{0,63})\\1([ \\t]*)([=:])(?!=)([ \\t]*)`, 'g');
const WORD = /(?:[^\s"'&;,<>{}()[\]\\]|\\(?![nrt]))+|\[REDACTED\]/y;
/** A following word that starts another field (`user=bob`, `host:`) ends a multi-word value. */
const NEXT_FIELD = /^[A-Za-z_][A-Za-z0-9_.-]*\s*[=:]/;
const TRAILING = /[.!?:]+$/;
/** A value standing for a secret rather than being one: a template, a variable, a mask, a literal of a language. */
const STAND_IN = /^(?:\$\{[^}\n]*\}|\{\{[^}\n]*\}\}|<[^>\n]*>|%[A-Za-z_][A-Za-z0-9_]*%|\$[A-Z_][A-Z0-9_]*(?![A-Za-z0-9_])|\*{3,}|x{3,}(?![A-Za-z0-9])|\.\.\.|…|\[REDACTED\]|(?:null|none|nil|true|false|undefined|NaN)(?![A-Za-z0-9_]))/i;
/** Code rather than a value: a member path (`os.environ`, `tokenizer.encode`), or a call or index after it. */
const CODE = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/;

/** `user:password` in base64 (a Docker `auth`, a Basic credential without its scheme). */
const userPassB64 = (v: string) => /^[A-Za-z0-9+/]{6,}={0,2}$/.test(v) && /^[\x20-\x7e]+:[\x20-\x7e]+$/.test(Buffer.from(v, 'base64').toString('latin1'));

/** Strong enough to be a password after `name:` in data (`hunter2`, `P@ssw0rd`; not `str`, `must`, `required.`). */
const credentialish = (v: string) => tokenLike(v, 6) || (v.length >= 8 && /[A-Za-z]/.test(v) && /[@#$%^*!~+=/\\|]/.test(v)) || userPassB64(v);

/**
 * Where the secret value after a name starts and ends, or null when there is none to hide. In
 * data, `name=value` masks the value to the end of its field, while `name: value` and the code
 * style `name = value` mask one credential-like word.
 */
function valueSpan(text: string, i: number, single: boolean, loose: boolean, maybe = false): [number, number] | null {
  // A quoted value, or one in escaped quotes inside a JSON string (`\"password\": \"…\"`).
  const escaped = text[i] === '\\' && (text[i + 1] === '"' || text[i + 1] === "'");
  const q = escaped ? text[i + 1] : text[i];
  if (q === '"' || q === "'") {
    const from = i + (escaped ? 2 : 1);
    let j = from;
    if (escaped) j = text.indexOf(`\\${q}`, from) < 0 ? text.length : text.indexOf(`\\${q}`, from);
    else while (j < text.length && text[j] !== q && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
    const inner = text.slice(from, Math.min(j, text.length));
    return inner && !STAND_IN.test(inner) && !placeholder(inner) ? [from, from + inner.length] : null;
  }
  if (STAND_IN.test(text.slice(i, i + 200))) return null;
  WORD.lastIndex = i;
  const first = WORD.exec(text)?.[0];
  if (!first) return null;
  const word = first.replace(TRAILING, '') || first;
  if (placeholder(word)) return null;
  if (!loose) {
    if (CODE.test(word) || /^[([]/.test(text.slice(i + first.length, i + first.length + 1))) return null;
    // Under a name that is a secret as often as not (`auth: OAuth2 via Okta`), a short mixed word is a term, not a credential.
    if (single) return (maybe ? credentialish(word) && (word.length >= 8 || !tokenLike(word, 6)) : credentialish(word)) ? [i, i + word.length] : null;
  }
  // `password=correct horse battery staple`: the value runs on to the end of its field.
  let end = i + first.length;
  for (;;) {
    const gap = /^[ \t]+/.exec(text.slice(end, end + 100))?.[0];
    if (!gap) break;
    WORD.lastIndex = end + gap.length;
    const next = WORD.exec(text)?.[0];
    if (!next || next === REDACTED || NEXT_FIELD.test(text.slice(end + gap.length, end + gap.length + 70))) {
      // A credential masked already by a format after its scheme (`Authorization: Bearer [REDACTED]`) stays as it is.
      if (next === REDACTED && end === i + first.length && /^[A-Za-z-]+$/.test(first)) return null;
      break;
    }
    end += gap.length + next.length;
  }
  const value = text.slice(i, end).replace(TRAILING, '');
  return value && value !== REDACTED ? [i, i + value.length] : null;
}

function maskAssignments(text: string, loose: boolean, extra: readonly string[]): string {
  let out = '';
  let last = 0;
  ASSIGN.lastIndex = 0;
  for (let m = ASSIGN.exec(text); m; m = ASSIGN.exec(text)) {
    const name = m[2];
    if (text.startsWith('//', m.index + m[0].length)) continue;
    const maybe = !loose && !isSecretKeyName(name, extra) && isMaybeSecretKeyName(name);
    if (!maybe && !(loose ? isSecretKeyLoose(name, extra) : isSecretKeyName(name, extra))) continue;
    // A name that is a secret as often as not (`auth`, `pass`) masks one credential-like word only.
    const single = maybe || m[4] === ':' || (m[3].length > 0 && m[5].length > 0);
    const span = valueSpan(text, m.index + m[0].length, single, loose, maybe);
    if (!span) continue;
    out += text.slice(last, span[0]) + REDACTED;
    last = span[1];
    ASSIGN.lastIndex = span[1];
  }
  return last === 0 ? text : out + text.slice(last);
}

/** Logs only: any JWT-shaped text, any token after an authorization scheme, anything shaped like a NATS seed. */
const LOOSE_PATTERNS: [RegExp, string | ((...m: string[]) => string)][] = [
  [new RegExp(`${START}eyJ[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}`, 'g'), REDACTED],
  [new RegExp(`${START}(Bearer|Basic|Token)\\s+[A-Za-z0-9._~+/=-]{6,}`, 'gi'), (_m, s: string) => `${s} ${REDACTED}`],
  [new RegExp(`${START}S[UAONCPX][A-Z2-7]{54,60}\\b`, 'g'), REDACTED],
];

/** The logs policy on one text, without the pre-check (tests hold the two to the same result). */
export function applyPatterns(text: string, extra: readonly string[] = configured): string {
  let out = maskFormats(maskUrlUserinfo(text, true));
  for (const [re, rep] of LOOSE_PATTERNS) out = out.replace(re, rep as string);
  return maskAssignments(out, true, extra);
}

/**
 * Quick pre-check: a text holding none of what the patterns need (a format's prefix, a scheme, a
 * secret-looking name before `=` or `:`) cannot hold a secret; most log messages are spared.
 */
const MAYBE_NAME = /(?:key|token|secret|pass|pwd|auth|credential|creds|private|cookie|seed|jwt|bearer|sig|dsn|otp|sas|connection|sess)[A-Za-z0-9_.-]{0,64}(?:\\?["'])?[ \t]*[=:]/i;
const MAYBE_LOOSE = /eyJ|bearer|basic|token|:\/\/|S[UAONCPX][A-Z2-7]{54}/i;
/** An extra fragment (LOG_REDACT) in the text: a name holding it may stand before `=` or `:`. */
function hasFragment(text: string, extra: readonly string[]): boolean {
  // Stryker disable next-line ConditionalExpression,LogicalOperator,BooleanLiteral: a shortcut that only spares work: a mutant that spares less changes no output.
  if (extra.length === 0 || !/[=:]/.test(text)) return false;
  const lower = text.toLowerCase();
  // Stryker disable next-line ConditionalExpression,LogicalOperator: a pre-check that only spares work: a mutant that spares less changes no output.
  return extra.some((f) => f && lower.includes(f.toLowerCase()));
}
// Stryker disable next-line ConditionalExpression: the pre-check only spares work: a mutant that spares less changes no output (one that spares a secret fails its test).
const maybeSecret = (text: string, extra: readonly string[]) => MAYBE_NAME.test(text) || MAYBE_LOOSE.test(text) || mayHoldFormat(text) || hasFragment(text, extra);

/** Masks secrets inside one text (logs and error texts). */
export function redactText(text: string, extra: readonly string[] = configured): string {
  return maybeSecret(text, extra) ? applyPatterns(text, extra) : text;
}

/** Masks secrets inside one text copied into results (data): precise formats and exact secret names only. */
export function redactDataText(text: string, extra: readonly string[] = configured): string {
  const out = maskFormats(text);
  // Stryker disable next-line ConditionalExpression: the pre-check only spares work: a mutant that spares less changes no output.
  return hasFragment(out, extra) || MAYBE_NAME.test(out) ? maskAssignments(out, false, extra) : out;
}

/** Object keys as they come out (a secret used as a key masked), per policy: the same few keys come back on every line and job. */
const keyTexts = { logs: new WeakMap<readonly string[], Map<string, boolean>>(), data: new WeakMap<readonly string[], Map<string, boolean>>() };
const keyMemo = (per: WeakMap<readonly string[], Map<string, boolean>>, extra: readonly string[]) => {
  let m = per.get(extra);
  // Stryker disable next-line ConditionalExpression: a memo; a fresh one each time changes no output.
  if (!m) per.set(extra, (m = new Map()));
  return m;
};
const keyIsText = (memo: Map<string, boolean>, k: string, text: (s: string) => string) => {
  let same = memo.get(k);
  // Stryker disable next-line ConditionalExpression: a memo; judging the key again changes no output.
  if (same === undefined) {
    same = text(k) === k;
    // Stryker disable next-line all: the memo's bound on memory; forgetting more or less changes no output.
    if (memo.size >= 4_096) memo.clear();
    // Stryker disable next-line all: a memo; not remembering changes no output.
    memo.set(k, same);
  }
  return same;
};

function redactWith(value: unknown, text: (s: string) => string, secret: (k: string) => boolean, depth: number, memo: Map<string, boolean>): unknown {
  if (typeof value === 'string') return text(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 200) return REDACTED;
  // Stryker disable next-line ArithmeticOperator: the message is a string, redacted whatever the depth.
  if (value instanceof Error) return { name: value.name, message: redactWith(value.message, text, secret, depth + 1, memo) };
  if (Array.isArray(value)) return value.map((v) => redactWith(v, text, secret, depth + 1, memo));
  const out: Record<string, unknown> = {};
  let hidden = 0;
  for (const [k, v] of Object.entries(value)) {
    // A secret used as a key (`{"sk-proj-…": "prod"}`) is masked as the key, numbered to keep keys apart.
    const key = keyIsText(memo, k, text) ? k : `${REDACTED}${hidden++ ? `-${hidden}` : ''}`;
    // Stryker disable next-line ConditionalExpression: credentialish holds no value under 6 characters anyway.
    const masked = secret(k) || (typeof v === 'string' && v.length >= 6 && isMaybeSecretKeyName(k) && credentialish(v.trim()));
    out[key] = masked ? REDACTED : redactWith(v, text, secret, depth + 1, memo);
  }
  return out;
}

/** A copy of `value` under the logs policy: secret keys' values replaced, secrets inside texts masked, at any depth. */
export function redactValue(value: unknown, extra: readonly string[] = configured): unknown {
  return redactWith(value, (s) => redactText(s, extra), (k) => isSecretKeyLoose(k, extra), 0, keyMemo(keyTexts.logs, extra));
}

/** A copy of `value` under the data policy (a job's title, metadata and tags as results show them). */
export function redactData(value: unknown, extra: readonly string[] = configured): unknown {
  return redactWith(value, (s) => redactDataText(s, extra), (k) => isSecretKeyName(k, extra), 0, keyMemo(keyTexts.data, extra));
}
