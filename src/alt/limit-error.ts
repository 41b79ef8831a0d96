/** The ALT_LIMIT error: which limit, the value found and the cap. */
import { AltlasError } from '../errors.ts';
import type { LimitName } from './limits.ts';

export function limitError(limit: LimitName, value: number, cap: number, pointer = ''): AltlasError {
  return new AltlasError('ALT_LIMIT', `limit ${limit} exceeded: ${value} > ${cap}`, {
    problems: [{ pointer, message: `${limit} is ${value}, the limit is ${cap}` }],
    context: { limit, value, cap },
  });
}
