/**
 * Limits enforced while a payload is parsed, before any value is built: nesting, keys per
 * mapping, nodes in the document and string length. JSON gets one linear pre-scan of its text;
 * YAML gets an iterative walk of the parser's concrete syntax tree, before the (recursive)
 * composer runs. Both stop at the first breach with ALT_LIMIT naming the limit and the value.
 */
import type { CST } from 'yaml';
import type { DecodeLimits } from './limits.ts';
import { limitError } from './limit-error.ts';

/** One linear pass over JSON text: depth, keys per object, nodes and string lengths. */
export function prescanJson(text: string, limits: DecodeLimits): void {
  // keys[depth]: keys of the object open at that depth (-1 for an array).
  const keys: number[] = [];
  let depth = 0;
  let nodes = 0;
  let expectValue = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const start = i;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i++;
        else if (d === 34) break;
      }
      const raw = i - start - 1;
      if (raw > limits.maxStringLength * 6) throw limitError('string_length', raw, limits.maxStringLength);
      // A string is a key when the innermost container is an object expecting a key.
      if (depth > 0 && keys[depth - 1] >= 0 && !expectValue) {
        if (++keys[depth - 1] > limits.maxKeys) throw limitError('keys', keys[depth - 1], limits.maxKeys);
      } else if (++nodes > limits.maxNodes) throw limitError('nodes', nodes, limits.maxNodes);
      continue;
    }
    if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++nodes > limits.maxNodes) throw limitError('nodes', nodes, limits.maxNodes);
      if (++depth > limits.maxNesting) throw limitError('nesting', depth, limits.maxNesting);
      keys[depth - 1] = c === 123 ? 0 : -1;
      expectValue = c === 91;
      continue;
    }
    if (c === 125 || c === 93) {
      depth--;
      expectValue = false;
      continue;
    }
    if (c === 58 /* : */) {
      expectValue = true;
      continue;
    }
    if (c === 44 /* , */) {
      expectValue = depth > 0 && keys[depth - 1] < 0;
      continue;
    }
    // A literal (number, true, false, null) starts a node.
    if ((c >= 48 && c <= 57) || c === 45 || c === 116 || c === 102 || c === 110) {
      if (++nodes > limits.maxNodes) throw limitError('nodes', nodes, limits.maxNodes);
      while (i + 1 < text.length && /[0-9a-zA-Z.+-]/.test(text[i + 1])) i++;
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
