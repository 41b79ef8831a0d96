/**
 * End-to-end payload encryption (PAYLOAD_KEYS): AES-256-GCM with named keys, the first of which
 * encrypts; every key decrypts, so a key can be rotated by putting the new one first. An
 * encrypted value is a self-describing envelope:
 *
 *   "ALTE" | version 1 | key id length | key id | 12-byte IV | 16-byte tag | ciphertext
 *
 * The additional authenticated data names what the bytes are (`alt`, `last`, `kv:<key>`,
 * `obj:<name>`, ...), so a value moved to another place does not decrypt. A value without the
 * envelope passes through `open` unchanged (data written before encryption was turned on).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AltlasError } from '../errors.ts';

export interface Codec {
  /** True when `seal` encrypts. */
  readonly encrypts: boolean;
  /** The id of the key `seal` uses, or null. */
  readonly keyId: string | null;
  seal(plain: Uint8Array, aad: string): Uint8Array;
  /** Decrypts an envelope (throws ALT_DECRYPT when no key opens it); passes other bytes through. */
  open(bytes: Uint8Array, aad: string): Uint8Array;
}

const MAGIC = Buffer.from('ALTE');
const VERSION = 1;

/** No keys: plain bytes pass; an encrypted envelope is refused with ALT_DECRYPT naming its key. */
export const IDENTITY_CODEC: Codec = {
  encrypts: false,
  keyId: null,
  seal: (b) => b,
  open: (b) => {
    if (!isSealed(b)) return b;
    throw new AltlasError('ALT_DECRYPT', `the payload is encrypted with key ${sealedKeyId(b)}; set PAYLOAD_KEYS with that key to read it`, { context: { keyId: sealedKeyId(b) } });
  },
};

/** True when the bytes are an encrypted envelope. */
export function isSealed(bytes: Uint8Array): boolean {
  return bytes.length > MAGIC.length + 2 && Buffer.from(bytes.buffer, bytes.byteOffset, 4).equals(MAGIC) && bytes[4] === VERSION;
}

/** The key id of an envelope, or null. */
export function sealedKeyId(bytes: Uint8Array): string | null {
  if (!isSealed(bytes)) return null;
  const n = bytes[5];
  return Buffer.from(bytes.buffer, bytes.byteOffset + 6, n).toString('utf8');
}

/**
 * Reads PAYLOAD_KEYS: `id:base64key[,id:base64key...]`, each key 32 bytes (AES-256). The first
 * encrypts. Throws CONFIG_INVALID naming the bad entry (never the key).
 */
export function parsePayloadKeys(text: string): { id: string; key: Buffer }[] {
  const out: { id: string; key: Buffer }[] = [];
  for (const [i, entry] of text.split(',').map((s) => s.trim()).filter(Boolean).entries()) {
    const at = entry.indexOf(':');
    const id = at > 0 ? entry.slice(0, at) : '';
    const key = at > 0 ? Buffer.from(entry.slice(at + 1), 'base64') : Buffer.alloc(0);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id) || key.length !== 32) {
      throw new AltlasError('CONFIG_INVALID', `PAYLOAD_KEYS entry ${i + 1} must be <id>:<32 bytes in base64> (id: letters, digits, _ . -)`);
    }
    if (out.some((k) => k.id === id)) throw new AltlasError('CONFIG_INVALID', `PAYLOAD_KEYS names key ${id} twice`);
    out.push({ id, key });
  }
  return out;
}

/** A codec from PAYLOAD_KEYS; the identity codec when it is empty. */
export function payloadCodec(keysText: string | undefined): Codec {
  const keys = keysText ? parsePayloadKeys(keysText) : [];
  if (keys.length === 0) return IDENTITY_CODEC;
  const byId = new Map(keys.map((k) => [k.id, k.key]));
  const current = keys[0];
  const idBytes = Buffer.from(current.id, 'utf8');
  return {
    encrypts: true,
    keyId: current.id,
    seal(plain, aad) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv);
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return Buffer.concat([MAGIC, Buffer.from([VERSION, idBytes.length]), idBytes, iv, cipher.getAuthTag(), body]);
    },
    open(bytes, aad) {
      if (!isSealed(bytes)) return bytes;
      const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const n = b[5];
      const id = b.subarray(6, 6 + n).toString('utf8');
      const key = byId.get(id);
      if (!key) throw new AltlasError('ALT_DECRYPT', `the payload is encrypted with key ${id}, which PAYLOAD_KEYS does not hold`, { context: { keyId: id } });
      const iv = b.subarray(6 + n, 18 + n);
      const tag = b.subarray(18 + n, 34 + n);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(b.subarray(34 + n)), decipher.final()]);
      } catch (cause) {
        throw new AltlasError('ALT_DECRYPT', `the payload does not decrypt with key ${id} (wrong key, or tampered bytes)`, { cause, context: { keyId: id } });
      }
    },
  };
}
