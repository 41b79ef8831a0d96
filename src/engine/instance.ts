/**
 * The data of one run's graph: instances, the scopes that hold them, and the variable frames of
 * 2.0 programs; plus the pure steps of the 2.0 constructs on that data (a loop's items, a call's
 * frame, an assignment). {@link GraphState} owns the data and drives these steps.
 */
import { AltlasError, type ErrorCode } from '../errors.ts';
import type { Block, FunctionDecl, LoopSpec, ProgramNode } from '../alt/program/compile.ts';
import { resolvePath, type Found, type Lookup } from '../alt/program/expressions.ts';
import { fitsType, iterableItems, type VariableType } from '../alt/program/values.ts';
import type { TaskResult, TaskStatus } from './types.ts';

export type InstanceState = 'waiting' | 'ready' | 'running' | TaskStatus;

/** Limits of 2.0 programs, each failing the construct with its code (fate `task`). */
export interface ProgramLimits {
  /** Iterations of one loop (LOOP_LIMIT). Default 100. */
  maxIterations: number;
  /** Nested calls, recursion included (CALL_DEPTH). Default 16. */
  maxCallDepth: number;
  /** Instances created in one job (INSTANCE_LIMIT). Default ALT_MAX_TASKS. */
  maxInstances: number;
}

export interface Variable {
  type: VariableType;
  value: unknown;
}

export interface Frame {
  vars: Map<string, Variable>;
  parent: Frame | null;
  fn: boolean;
}

export interface Scope {
  prefix: string;
  block: Block;
  /** Lexical parent for reading task values. */
  parent: Scope | null;
  frame: Frame;
  owner: Instance | null;
  byNode: Map<number, Instance>;
  open: number;
  failure: Instance | null;
  callDepth: number;
}

export interface Instance {
  seq: number;
  key: string;
  node: ProgramNode;
  scope: Scope;
  state: InstanceState;
  waitingOn: number;
  /** Instances waiting on this one (null until one does). */
  dependents: Instance[] | null;
  result: TaskResult | null;
  /** The instance's value: a task's text, a condition's branch value, a loop's list, a call's return. */
  value: unknown;
  startedAt: number | null;
  /** AI instances completed inside this construct (null until one is): its contribution to a dependent's context. */
  contributions: Instance[] | null;
  loop?: { k: number; items: unknown[] | null; values: unknown[] };
  branch?: 'if_body' | 'else_body' | null;
  json?: { parsed: unknown } | null;
  /** The first error that failed this instance, through the constructs it failed (a construct's message names its member and this). */
  cause?: string;
  /** The job stopped before anything of this instance's iteration (or call body) started: it has no result. */
  dropped?: boolean;
}

/** Why a construct cannot go on: its error code and message. */
export interface ConstructError {
  code: ErrorCode;
  message: string;
}

/** The iteration of the nearest loop around a scope (through branches and calls), or null. */
export function iterationOf(scope: Scope): number | null {
  for (let s: Scope | null = scope; s?.owner; s = s.owner.scope) if (s.owner.loop) return s.owner.loop.k;
  return null;
}

/** A value in words, for error messages. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'string') return `a string of ${v.length} characters`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

/**
 * `result_variable` and variable_assignment, seen from `frame`: the nearest frame that defines the
 * name, else the nearest function frame, else the global one. Throws VARIABLE_TYPE.
 */
export function assignVariable(frame: Frame, key: string, name: string, value: unknown, declared: VariableType = 'any'): void {
  let target: Frame | null = null;
  let fnFrame: Frame | null = null;
  let global: Frame = frame;
  for (let f: Frame | null = frame; f; f = f.parent) {
    if (!target && f.vars.has(name)) target = f;
    if (!fnFrame && f.fn) fnFrame = f;
    global = f;
  }
  const into = target ?? fnFrame ?? global;
  const existing = into.vars.get(name);
  const type = existing?.type ?? declared;
  if (!fitsType(type, value) || !fitsType(declared, value)) {
    throw new AltlasError('VARIABLE_TYPE', `variable ${name} is ${type === 'any' ? declared : type}; ${key} gave it ${describe(value)}`);
  }
  into.vars.set(name, { type, value });
}

/** The items a for_range or for_each loop runs over (null for a while loop), or why it cannot start. */
export function loopItems(l: LoopSpec, key: string, lookup: Lookup, limit: number): { items: unknown[] | null } | ConstructError {
  if (l.type === 'for_range') {
    const count = Math.max(0, Math.ceil((l.end - l.start) / l.step));
    if (count > limit) return { code: 'LOOP_LIMIT', message: `loop ${key} would run ${count} iterations; the limit is ${limit}` };
    return { items: Array.from({ length: count }, (_, k) => l.start + k * l.step) };
  }
  if (l.type === 'for_each') {
    const r: Found = l.iterable ? resolvePath(l.iterable, lookup) : { found: false };
    const list = r.found ? iterableItems(r.value) : null;
    if (!list) {
      return {
        code: 'LOOP_ITERABLE', message: r.found
          ? `the iterable ${l.iterable} of loop ${key} is ${describe(r.value)}, not a list, a JSON array or lines of text`
          : `the iterable ${l.iterable} of loop ${key} does not resolve`,
      };
    }
    if (list.length > limit) return { code: 'LOOP_LIMIT', message: `loop ${key} would run ${list.length} iterations; the limit is ${limit}` };
    return { items: list };
  }
  return { items: null };
}

/** The frame of a call to `fn` (its parameters from the arguments or their defaults, then its body's variables), or why it cannot be made. */
export function callFrame(fn: FunctionDecl, args: Record<string, unknown>, global: Frame, argument: (v: unknown) => unknown): Frame | ConstructError {
  const frame: Frame = { vars: new Map(), parent: global, fn: true };
  for (const p of fn.params) {
    const value = Object.hasOwn(args, p.name) ? argument(args[p.name]) : p.defaultValue;
    if (!fitsType(p.type, value)) return { code: 'VARIABLE_TYPE', message: `argument ${p.name} of ${fn.name} must be ${p.type}, got ${describe(value)}` };
    frame.vars.set(p.name, { type: p.type, value });
  }
  for (const v of fn.body.frameVars) if (!frame.vars.has(v.name)) frame.vars.set(v.name, { type: v.type, value: v.value });
  return frame;
}
