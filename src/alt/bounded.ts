/**
 * Limits enforced while a payload is parsed, before any value is built: nesting, keys per
 * mapping, nodes in the document and string length. JSON gets one linear pre-scan of its text;
 * YAML gets an iterative walk of the parser's concrete syntax tree, before the (recursive)
 * composer runs. Both stop at the first breach with ALT_LIMIT naming the limit and the value.
 */
import type { CST } from 'yaml';
import type { DecodeLimits } from './limits.ts';
import { limitError } from './limit-error.ts';

/** True when the character code continues a JSON literal (digits, letters, `.`, `+`, `-`). */
const LITERAL = new Uint8Array(128);
for (const c of '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-') LITERAL[c.charCodeAt(0)] = 1;

/** One linear pass over JSON text: depth, keys per object, nodes and string lengths. */
export function prescanJson(text: string, limits: DecodeLimits): void {
  // keys[depth]: keys of the object open at that depth (-1 for an array).
  const keys: number[] = [];
  const n = text.length;
  const maxRaw = limits.maxStringLength * 6;
  let depth = 0;
  let nodes = 0;
  let expectValue = true;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    switch (c) {
      case 34: { // "
        const start = i;
        // The closing quote is the next one not escaped by an odd run of backslashes.
        for (;;) {
          i = text.indexOf('"', i + 1);
          if (i < 0) {
            i = n;
            break;
          }
          let b = i - 1;
          while (text.charCodeAt(b) === 92) b--;
          if ((i - 1 - b) % 2 === 0) break;
        }
        const raw = i - start - 1;
        if (raw > maxRaw) throw limitError('string_length', raw, limits.maxStringLength);
        // A string is a key when the innermost container is an object expecting a key.
        if (depth > 0 && keys[depth - 1] >= 0 && !expectValue) {
          if (++keys[depth - 1] > limits.maxKeys) throw limitError('keys', keys[depth - 1], limits.maxKeys);
        } else if (++nodes > limits.maxNodes) throw limitError('nodes', nodes, limits.maxNodes);
        break;
      }
      case 123: // {
      case 91: // [
        if (++nodes > limits.maxNodes) throw limitError('nodes', nodes, limits.maxNodes);
        if (++depth > limits.maxNesting) throw limitError('nesting', depth, limits.maxNesting);
        keys[depth - 1] = c === 123 ? 0 : -1;
        expectValue = c === 91;
        break;
      case 125: // }
      case 93: // ]
        depth--;
        expectValue = false;
        break;
      case 58: // :
        expectValue = true;
        break;
      case 44: // ,
        expectValue = depth > 0 && keys[depth - 1] < 0;
        break;
      case 32:
      case 10:
      case 13:
      case 9:
        break;
      default:
        // A literal (number, true, false, null) is one node.
        if (++nodes > limits.maxNodes) throw limitError('nodes', nodes, limits.maxNodes);
        while (i + 1 < n && text.charCodeAt(i + 1) < 128 && LITERAL[text.charCodeAt(i + 1)] === 1) i++;
    }
  }
}

type Item = { token: CST.Token | null | undefined; depth: number; parent: Item | null; key: string };

const isMapLike = (t: CST.Token) => t.type === 'block-map' || (t.type === 'flow-collection' && t.start.source === '{');

function pointerOf(item: Item): string {
  const parts: string[] = [];
  for (let p: Item | null = item; p && p.parent; p = p.parent) parts.push(p.key.replace(/~/g, '~0').replace(/\//g, '~1'));
  return parts.length ? `/${parts.reverse().join('/')}` : '';
}

const keyText = (t: CST.Token | null | undefined, i: number) => (t && 'source' in t && typeof t.source === 'string' && t.type !== 'block-scalar' ? t.source.replace(/^["']|["']$/g, '').slice(0, 80) : String(i));

/** Walks one YAML document's CST without recursion and enforces the limits. */
export function walkYamlCst(doc: CST.Document, limits: DecodeLimits): void {
  const stack: Item[] = [{ token: doc.value, depth: 0, parent: null, key: '' }];
  let nodes = 0;
  while (stack.length) {
    const item = stack.pop()!;
    const t = item.token;
    if (!t) continue;
    switch (t.type) {
      case 'scalar':
      case 'single-quoted-scalar':
      case 'double-quoted-scalar':
      case 'block-scalar':
      case 'alias': {
        if (++nodes > limits.maxNodes) throw limitError('nodes', nodes, limits.maxNodes, pointerOf(item));
        if (t.source.length > limits.maxStringLength * 6 + 2) throw limitError('string_length', t.source.length, limits.maxStringLength, pointerOf(item));
        break;
      }
      case 'block-map':
      case 'block-seq':
      case 'flow-collection': {
        if (++nodes > limits.maxNodes) throw limitError('nodes', nodes, limits.maxNodes, pointerOf(item));
        if (item.depth + 1 > limits.maxNesting) throw limitError('nesting', item.depth + 1, limits.maxNesting, pointerOf(item));
        const map = isMapLike(t);
        if (map && t.items.length > limits.maxKeys) throw limitError('keys', t.items.length, limits.maxKeys, pointerOf(item));
        for (let i = t.items.length - 1; i >= 0; i--) {
          const it = t.items[i] as CST.CollectionItem;
          const key = map ? keyText(it.key, i) : String(i);
          if (it.key) stack.push({ token: it.key, depth: item.depth + 1, parent: item, key });
          stack.push({ token: it.value, depth: item.depth + 1, parent: item, key });
        }
        break;
      }
      default:
        break;
    }
  }
}

/**
 * Counts YAML lexemes as the lexer yields them, before the parser builds its tree: scalars,
 * aliases and flow collections are nodes, and flow brackets nest. Each count is at most what the
 * tree walk ({@link walkYamlCst}) finds, so a refusal here is one the walk would make, only
 * earlier: a megabyte of `[[[[` or of tiny scalars is refused while lexing.
 */
export class YamlLexemeGuard {
  private nodes = 0;
  private flow = 0;
  private readonly limits: DecodeLimits;

  constructor(limits: DecodeLimits) {
    this.limits = limits;
  }

  see(lexeme: string): void {
    const c = lexeme.charCodeAt(0);
    // \x1f starts a plain or block scalar; " and ' a quoted one; * an alias.
    if (c === 0x1f || c === 34 || c === 39 || c === 42) {
      if (++this.nodes > this.limits.maxNodes) throw limitError('nodes', this.nodes, this.limits.maxNodes);
    } else if ((c === 91 || c === 123) && lexeme.length === 1) {
      if (++this.nodes > this.limits.maxNodes) throw limitError('nodes', this.nodes, this.limits.maxNodes);
      if (++this.flow > this.limits.maxNesting) throw limitError('nesting', this.flow, this.limits.maxNesting);
    } else if ((c === 93 || c === 125) && lexeme.length === 1) {
      if (this.flow > 0) this.flow--;
    } else if (c === 2) this.flow = 0; // a new document
  }
}
