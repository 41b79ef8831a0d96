/**
 * Random (version 4) UUIDs for the ids of a `.last`: a dozen per job (the document, its execution,
 * each task result, artifact and graph node). `crypto.randomUUID()` joins each from twenty pieces,
 * a tree of strings the `.last`'s JSON.stringify then copies flat; these are written as one flat
 * string, from crypto's random bytes drawn for 128 ids at a time (as randomUUID draws its own).
 */
import { randomFillSync } from 'node:crypto';

const HEX = Buffer.from('0123456789abcdef', 'latin1');
const BATCH = 128;
const pool = Buffer.allocUnsafe(16 * BATCH);
let at = pool.length;
const text = Buffer.allocUnsafe(36);

/** A random UUID, version 4 (RFC 9562), in lower-case hex as `crypto.randomUUID()` writes it. */
export function uuidV4(): string {
  if (at === pool.length) {
    randomFillSync(pool);
    at = 0;
  }
  let o = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text[o++] = 0x2d;
    let b = pool[at + i];
    // The version (4) and the variant (10xx) bits.
    if (i === 6) b = (b & 0x0f) | 0x40;
    else if (i === 8) b = (b & 0x3f) | 0x80;
    text[o++] = HEX[b >> 4];
    text[o++] = HEX[b & 0x0f];
  }
  at += 16;
  return text.toString('latin1', 0, 36);
}
