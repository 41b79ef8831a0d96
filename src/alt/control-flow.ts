/**
 * Shape checks of the 2.0 control-flow parts after the schema: one construct per segment,
 * well-formed conditions (control-flow.md §1), loops with what their type needs, and variables
 * whose value matches their type. References and structure are checked when the program is
 * compiled (`src/program/compile.ts`).
 */
import { AltlasError, type Problem } from '../errors.ts';
import type { EnhancedFormDoc } from './forms/enhanced.ts';
import { LOGICAL_OPERATORS } from './forms/words.ts';
import { fitsType, type VariableType } from './program/values.ts';

const CONSTRUCTS = ['condition', 'loop', 'function_def', 'function_call'] as const;

const isCondition = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as Record<string, unknown>).operator === 'string';

const kindOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/** Checks one condition tree; pushes a problem for each malformed node. Values are never quoted. */
export function checkCondition(c: unknown, pointer: string, out: Problem[]): void {
  if (!isCondition(c)) {
    out.push({ pointer, message: 'must be a condition: an object with operator, left and (except for not) right' });
    return;
  }
  const op = c.operator as string;
  if (op === 'and' || op === 'or') {
    checkCondition(c.left, `${pointer}/left`, out);
    checkCondition(c.right, `${pointer}/right`, out);
    return;
  }
  if (typeof c.left !== 'string' && !isCondition(c.left)) {
    out.push({ pointer: `${pointer}/left`, message: `the left side of ${op} must be a string (a variable name, a dotted path or a literal) or a condition, got ${kindOf(c.left)}` });
  } else if (isCondition(c.left)) checkCondition(c.left, `${pointer}/left`, out);
  if (op === 'not') {
    if (c.right !== undefined && c.right !== null) out.push({ pointer: `${pointer}/right`, message: 'not takes only left' });
    return;
  }
  if (c.right === undefined || c.right === null) out.push({ pointer: `${pointer}/right`, message: `${op} needs a right side that is not null` });
  else if (isCondition(c.right)) checkCondition(c.right, `${pointer}/right`, out);
}

/** Variables whose value does not fit their type (`number` also takes a boolean). */
function checkVariables(list: unknown, pointer: string, out: Problem[]): void {
  if (!Array.isArray(list)) return;
  list.forEach((v, i) => {
    const r = (v ?? {}) as { type?: VariableType; value?: unknown; name?: string };
    if (!fitsType(r.type ?? 'string', r.value ?? null)) {
      out.push({ pointer: `${pointer}/${i}/value`, message: `variable ${String(r.name)} is declared ${r.type ?? 'string'} but its value is ${kindOf(r.value)}` });
    }
  });
}

/** Returns ALT_SCHEMA with every malformed control-flow part, or null. */
export function checkControlFlow(doc: EnhancedFormDoc): AltlasError | null {
  const shape: Problem[] = [];
  checkVariables(doc.global_variables, '/global_variables', shape);
  doc.segments.forEach((s, i) => {
    const at = `/segments/${i}`;
    const used = CONSTRUCTS.filter((k) => s[k] != null);
    if (used.length > 1) shape.push({ pointer: at, message: `a segment has at most one of condition, loop, function_def, function_call; found ${used.join(', ')}` });
    checkVariables(s.variables, `${at}/variables`, shape);
    if (s.condition) checkCondition(s.condition.condition, `${at}/condition/condition`, shape);
    if (s.loop) {
      const l = s.loop;
      if (l.type === 'for_each' && (l.iterable === undefined || l.iterable === null || !l.variable)) {
        shape.push({ pointer: `${at}/loop`, message: 'a for_each loop needs variable and iterable' });
      }
      if (l.type === 'for_range') {
        if (!Number.isInteger(l.start) || !Number.isInteger(l.end) || !l.variable) shape.push({ pointer: `${at}/loop`, message: 'a for_range loop needs variable, and whole numbers start and end' });
        if (l.step != null && !Number.isInteger(l.step)) shape.push({ pointer: `${at}/loop/step`, message: 'step must be a whole number' });
        if (l.step === 0) shape.push({ pointer: `${at}/loop/step`, message: 'step must not be 0' });
      }
      if (l.type === 'while') {
        if (!l.condition) shape.push({ pointer: `${at}/loop`, message: 'a while loop needs a condition' });
        else checkCondition(l.condition, `${at}/loop/condition`, shape);
      }
    }
  });
  if (shape.length) return new AltlasError('ALT_SCHEMA', `the document breaks its schema: ${shape[0].pointer} ${shape[0].message}`, { problems: shape });
  return null;
}

export { LOGICAL_OPERATORS };
