/**
 * Checks of the 2.0 control-flow parts after the schema: one construct per segment, well-formed
 * conditions and loops, and references (body ids, called functions) that exist.
 */
import { AltlasError, type Problem } from '../errors.ts';
import type { EnhancedFormDoc } from './forms/enhanced.ts';
import { LOGICAL_OPERATORS } from './forms/enhanced.ts';
import { NAME_PATTERN } from './forms/helpers.ts';

const NAME = new RegExp(NAME_PATTERN);
const CONSTRUCTS = ['condition', 'loop', 'function_def', 'function_call'] as const;

const isCondition = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as Record<string, unknown>).operator === 'string';

/** Checks one condition tree; pushes a problem for each malformed node. */
export function checkCondition(c: unknown, pointer: string, out: Problem[]): void {
  if (!isCondition(c)) {
    out.push({ pointer, message: 'must be a condition: an object with operator, left and (except for not) right' });
    return;
  }
  const op = c.operator as string;
  if ((LOGICAL_OPERATORS as readonly string[]).includes(op)) {
    checkCondition(c.left, `${pointer}/left`, out);
    if (op === 'not') {
      if (c.right !== undefined && c.right !== null) out.push({ pointer: `${pointer}/right`, message: 'not takes only left' });
    } else {
      checkCondition(c.right, `${pointer}/right`, out);
    }
    return;
  }
  if (typeof c.left !== 'string' || !NAME.test(c.left)) {
    out.push({ pointer: `${pointer}/left`, message: `the left side of ${op} must be a variable name` });
  }
  if (c.right === undefined) out.push({ pointer: `${pointer}/right`, message: `${op} needs a right side` });
  else if (isCondition(c.right)) out.push({ pointer: `${pointer}/right`, message: `the right side of ${op} must be a value or a variable name, not a condition` });
}

/** Returns the first failing check of a 2.0 document as an error, or null. */
export function checkControlFlow(doc: EnhancedFormDoc): AltlasError | null {
  const ids = new Set(doc.segments.map((s) => s.id));
  const shape: Problem[] = [];
  const refs: Problem[] = [];
  const functions = new Set<string>((doc.functions ?? []).map((f) => f.name));
  for (const s of doc.segments) if (s.function_def) functions.add(s.function_def.name);

  const checkBody = (body: readonly string[] | null | undefined, pointer: string) =>
    (body ?? []).forEach((id, k) => {
      if (!ids.has(id)) refs.push({ pointer: `${pointer}/${k}`, message: `segment '${id}' does not exist` });
    });

  doc.segments.forEach((s, i) => {
    const at = `/segments/${i}`;
    const used = CONSTRUCTS.filter((k) => s[k] != null);
    if (used.length > 1) shape.push({ pointer: at, message: `a segment has at most one of condition, loop, function_def, function_call; found ${used.join(', ')}` });
    if (s.condition) {
      checkCondition(s.condition.condition, `${at}/condition/condition`, shape);
      checkBody(s.condition.if_body, `${at}/condition/if_body`);
      checkBody(s.condition.else_body, `${at}/condition/else_body`);
    }
    if (s.loop) {
      const l = s.loop;
      if (l.type === 'for_each' && (l.iterable === undefined || l.iterable === null || !l.variable)) {
        shape.push({ pointer: `${at}/loop`, message: 'a for_each loop needs variable and iterable' });
      }
      if (l.type === 'for_range' && (typeof l.start !== 'number' || typeof l.end !== 'number' || !l.variable)) {
        shape.push({ pointer: `${at}/loop`, message: 'a for_range loop needs variable, start and end' });
      }
      if (l.type === 'for_range' && l.step === 0) shape.push({ pointer: `${at}/loop/step`, message: 'step must not be 0' });
      if (l.type === 'while') {
        if (!l.condition) shape.push({ pointer: `${at}/loop`, message: 'a while loop needs a condition' });
        else checkCondition(l.condition, `${at}/loop/condition`, shape);
      }
      checkBody(l.body, `${at}/loop/body`);
    }
    if (s.function_def) checkBody(s.function_def.body, `${at}/function_def/body`);
    if (s.function_call && !functions.has(s.function_call.function_name)) {
      refs.push({ pointer: `${at}/function_call/function_name`, message: `function '${s.function_call.function_name}' is not defined` });
    }
  });
  (doc.functions ?? []).forEach((f, i) => checkBody(f.body, `/functions/${i}/body`));

  if (shape.length) return new AltlasError('ALT_SCHEMA', `the document breaks its schema: ${shape[0].pointer} ${shape[0].message}`, { problems: shape });
  if (refs.length) return new AltlasError('ALT_REFERENCE', `${refs[0].pointer}: ${refs[0].message}`, { problems: refs });
  return null;
}
