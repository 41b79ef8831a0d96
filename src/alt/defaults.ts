/**
 * The defaults the original ALT_LAS segmentation models fill in (control-flow.md §1): a missing
 * file or segment id is a new uuid, a missing timestamp is now, mode Normal, persona
 * technical_expert, a variable's type string, a function parameter's type any. Each default
 * applied is reported as a `W_DEFAULT` warning. Pure but for the uuid and the clock.
 */
import { randomUUID } from 'node:crypto';
import type { DecodeWarning } from './job.ts';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const missing = (o: Record<string, unknown>, k: string) => o[k] === undefined || o[k] === null;

/** Returns the document with the original's defaults filled in (a shallow copy where it changes). */
export function applyOriginalDefaults(doc: Record<string, unknown>, warnings: DecodeWarning[], now: () => number = Date.now): Record<string, unknown> {
  const out = { ...doc };
  const fill = (o: Record<string, unknown>, key: string, value: unknown, pointer: string, what: string) => {
    if (!missing(o, key)) return;
    o[key] = value;
    warnings.push({ code: 'W_DEFAULT', pointer, message: `${what} is missing; the original's default ${JSON.stringify(value)} is used` });
  };
  fill(out, 'id', randomUUID(), '/id', 'id');
  fill(out, 'timestamp', new Date(now()).toISOString(), '/timestamp', 'timestamp');
  fill(out, 'mode', 'Normal', '/mode', 'mode');
  if (!('persona' in out)) fill(out, 'persona', 'technical_expert', '/persona', 'persona');
  const vars = (list: unknown, pointer: string) => Array.isArray(list)
    ? list.map((v, i) => {
      if (!isObject(v) || !missing(v, 'type')) return v;
      const c = { ...v };
      fill(c, 'type', 'string', `${pointer}/${i}/type`, `the type of variable ${String(v.name)}`);
      return c;
    })
    : list;
  const fn = (f: unknown, pointer: string) => {
    if (!isObject(f) || !Array.isArray(f.parameters)) return f;
    return {
      ...f,
      parameters: f.parameters.map((p, i) => {
        if (!isObject(p) || !missing(p, 'type')) return p;
        const c = { ...p };
        fill(c, 'type', 'any', `${pointer}/parameters/${i}/type`, `the type of parameter ${String(p.name)}`);
        return c;
      }),
    };
  };
  if ('global_variables' in out) out.global_variables = vars(out.global_variables, '/global_variables');
  if (Array.isArray(out.functions)) out.functions = out.functions.map((f, i) => fn(f, `/functions/${i}`));
  if (Array.isArray(out.segments)) {
    out.segments = out.segments.map((s, i) => {
      if (!isObject(s)) return s;
      const c = { ...s };
      fill(c, 'id', randomUUID(), `/segments/${i}/id`, `the id of segment ${i}`);
      if ('variables' in c) c.variables = vars(c.variables, `/segments/${i}/variables`);
      if ('function_def' in c) c.function_def = fn(c.function_def, `/segments/${i}/function_def`);
      return c;
    });
  }
  return out;
}
