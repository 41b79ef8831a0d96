/**
 * Finds the offset of the first syntax error in a JSON text. JSON.parse says what is wrong but
 * not always where; this scanner runs only after JSON.parse failed, without recursion.
 */
const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERAL = /true|false|null/y;

type Expect = 'value' | 'key' | 'colon' | 'comma-or-end' | 'value-or-end' | 'key-or-end' | 'eof';

/** Returns the offset of the first character that cannot continue a JSON text (text.length when it ends too soon). */
export function locateJsonError(text: string): number {
  const stack: ('{' | '[')[] = [];
  let expect: Expect = 'value';
  let i = 0;
  const afterValue = (): Expect => (stack.length === 0 ? 'eof' : 'comma-or-end');
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (WS.has(c)) {
      i++;
      continue;
    }
    const ch = text[i];
    switch (expect) {
      case 'eof':
        return i;
      case 'colon':
        if (ch !== ':') return i;
        expect = 'value';
        i++;
        continue;
      case 'comma-or-end':
        if (ch === ',') {
          expect = stack[stack.length - 1] === '{' ? 'key' : 'value';
          i++;
          continue;
        }
        if ((ch === '}' && stack[stack.length - 1] === '{') || (ch === ']' && stack[stack.length - 1] === '[')) {
          stack.pop();
          expect = afterValue();
          i++;
          continue;
        }
        return i;
      case 'key':
      case 'key-or-end':
        if (ch === '}' && expect === 'key-or-end') {
          stack.pop();
          expect = afterValue();
          i++;
          continue;
        }
        if (ch !== '"') return i;
        break;
      case 'value':
      case 'value-or-end':
        if (ch === ']' && expect === 'value-or-end') {
          stack.pop();
          expect = afterValue();
          i++;
          continue;
        }
        break;
    }
    const inKey = expect === 'key' || expect === 'key-or-end';
    if (ch === '"') {
      i++;
      for (;;) {
        if (i >= text.length) return i;
        const s = text.charCodeAt(i);
        if (s < 0x20) return i;
        if (s === 0x22) break;
        if (s === 0x5c) {
          const e = text[i + 1];
          if (e === 'u') {
            if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return i;
            i += 6;
            continue;
          }
          if (e === undefined || !'"\\/bfnrt'.includes(e)) return i;
          i += 2;
          continue;
        }
        i++;
      }
      i++;
      expect = inKey ? 'colon' : afterValue();
      continue;
    }
    if (ch === '{') {
      stack.push('{');
      expect = 'key-or-end';
      i++;
      continue;
    }
    if (ch === '[') {
      stack.push('[');
      expect = 'value-or-end';
      i++;
      continue;
    }
    NUMBER.lastIndex = i;
    LITERAL.lastIndex = i;
    const m = NUMBER.exec(text) ?? LITERAL.exec(text);
    if (!m || m.index !== i) return i;
    i += m[0].length;
    expect = afterValue();
  }
  return expect === 'eof' ? -1 : text.length;
}
