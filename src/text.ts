/**
 * Cutting text for people and for strict readers: a cut never splits a surrogate pair (which
 * would leave invalid Unicode that strict JSON readers refuse) nor a grapheme cluster (an emoji
 * with its modifiers, a letter with its combining accents). Lengths are counted in code points,
 * what "characters" means in the README's limits.
 */

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Code points in a text (a surrogate pair counts once). */
export function codePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A high surrogate followed by a low one is one code point: skip the low one.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/**
 * The longest prefix of `text` of at most `max` code points that ends on a grapheme cluster
 * boundary. The text itself when it is short enough.
 */
export function prefixOf(text: string, max: number): string {
  // Code units bound code points from above: a text this short has at most `max` of them.
  if (text.length <= max) return text;
  // The common case, cheaply: a cut after `max` code units between two characters below U+0300
  // (no surrogates, combining marks, joiners or selectors there) is a cluster boundary.
  const before = text.charCodeAt(max - 1);
  const after = text.charCodeAt(max);
  if (before < 0x300 && after < 0x300 && !(before === 13 && after === 10)) {
    let plain = true;
    for (let i = 0; i < max && plain; i++) plain = text.charCodeAt(i) < 0xd800 || text.charCodeAt(i) > 0xdfff;
    if (plain) return text.slice(0, max);
  }
  let end = 0;
  let used = 0;
  for (const { segment, index } of graphemes.segment(text)) {
    const n = codePoints(segment);
    if (used + n > max) return text.slice(0, index);
    used += n;
    end = index + segment.length;
  }
  return text.slice(0, end);
}

/**
 * `text` cut to at most `max` code points, the cut marked with `…` (which counts in `max`);
 * the text itself when it fits.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max || codePoints(text) <= max) return text;
  return `${prefixOf(text, Math.max(0, max - 1))}…`;
}
