/** A stored `.last` body, opened with PAYLOAD_KEYS when it is encrypted. */
import type { Last } from './index.ts';
import type { Codec } from '../security/codec.ts';

export function readLast(data: Uint8Array, codec: Codec): Last {
  return JSON.parse(new TextDecoder().decode(codec.open(data, 'last'))) as Last;
}
