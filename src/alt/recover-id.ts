/** Recovers the job id of a payload that failed to decode, so a failure `.last` can name it. */
import { decodeUtf8, chooseSyntax } from './parse.ts';

const SCAN_BYTES = 64 * 1024;
const MAX_ID_LENGTH = 256;

/** A usable id: a non-blank string of at most 256 characters, without replacement characters from broken UTF-8. */
const clean = (v: unknown): string | null =>
  typeof v === 'string' && /\S/.test(v) && v.length <= MAX_ID_LENGTH && !v.includes('\uFFFD') ? v.trim() : null;

/**
 * Returns the top-level `id` of a JSON or YAML `.alt` payload, or null where none can be read.
 * It reads at most the first 64 KiB and never throws.
 */
export function recoverAltId(bytes: Uint8Array, hint?: string): string | null {
  let text: string;
  try {
    text = decodeUtf8(bytes.subarray(0, SCAN_BYTES));
  } catch {
    text = Buffer.from(bytes.subarray(0, SCAN_BYTES)).toString('utf8');
  }
  try {
    if (chooseSyntax(text, hint) === 'json') {
      if (bytes.length <= SCAN_BYTES) {
        try {
          const v = JSON.parse(text) as unknown;
          if (typeof v === 'object' && v !== null && !Array.isArray(v)) return clean((v as Record<string, unknown>).id);
          return null;
        } catch {
          // fall through to the textual scan
        }
      }
      // The first "id" key at the top level: after `{` or `,` at depth 1.
      let depth = 0;
      let inString = false;
      for (let i = 0; i < text.length; i++) {
        const ch = text[i];
        if (inString) {
          if (ch === '\\') i++;
          else if (ch === '"') inString = false;
          continue;
        }
        if (ch === '{' || ch === '[') depth++;
        else if (ch === '}' || ch === ']') depth--;
        else if (ch === '"') {
          if (depth === 1) {
            const m = /^"id"\s*:\s*"((?:[^"\\]|\\.){1,256})"/.exec(text.slice(i, i + 300));
            if (m) return clean(JSON.parse(`"${m[1]}"`));
          }
          inString = true;
        }
      }
      return null;
    }
    const m = /^id:[ \t]*(?:"((?:[^"\\]|\\.){1,256})"|'([^'\n]{1,256})'|([^\s#'"][^#\n]{0,255}?))[ \t]*(?:#.*)?$/m.exec(text);
    if (!m) return null;
    if (m[1] !== undefined) return clean(JSON.parse(`"${m[1]}"`));
    return clean(m[2] ?? m[3]);
  } catch {
    return null;
  }
}
