/**
 * Compiles a canonical job into a {@link Program}: which segments are members of which construct,
 * their dependencies resolved to siblings (control-flow.md §3), functions with their parameters,
 * and the variables each frame declares when it opens. Pure; structural errors come back as
 * ALT_REFERENCE or ALT_CYCLE before anything runs. A 1.0 job compiles to one block of AI tasks.
 */
import { AltlasError, type Problem } from '../../errors.ts';
import type { DecodeWarning, Job, JobTask } from '../job.ts';
import { conditionReads, type ConditionNode } from './expressions.ts';
import type { VariableType } from './values.ts';

export type NodeKind = 'ai' | 'condition' | 'loop' | 'call' | 'function_def' | 'variables';

export interface VariableDecl {
  name: string;
  type: VariableType;
  value: unknown;
}

export interface ParamDecl {
  name: string;
  type: VariableType;
  defaultValue: unknown;
  required: boolean;
}

/** A list of segments that run together: the top level, a branch, a loop body or a function body. */
export interface Block {
  /** Node indexes, in body order (file order at the top level). */
  members: number[];
  /** The member whose value is the block's value (the last in the body), or null when empty. */
  last: number | null;
  /** Variables declared when this block's frame opens (top level, call, for_each / for_range iteration). */
  frameVars: VariableDecl[];
}

export interface LoopSpec {
  type: 'for_each' | 'for_range' | 'while';
  variable: string | null;
  iterable: string | null;
  start: number;
  end: number;
  step: number;
  test: ConditionNode | null;
  body: Block;
}

export interface ProgramNode {
  index: number;
  id: string;
  task: JobTask;
  kind: NodeKind;
  /** Sibling node indexes this node waits for (dependencies resolved to its block). */
  deps: number[];
  /** The construct whose body holds this segment, or null (top level or a function body). */
  owner: number | null;
  condition?: { test: ConditionNode; then: Block; else: Block | null };
  loop?: LoopSpec;
  call?: { fn: string; args: Record<string, unknown>; resultVariable: string | null };
  /** Variables a variable_assignment node assigns when it runs. */
  assign?: VariableDecl[];
}

export interface FunctionDecl {
  name: string;
  params: ParamDecl[];
  returnType: VariableType;
  body: Block;
}

export interface Program {
  job: Job;
  /** True for 2.0 files: interpolation and control flow apply. */
  enhanced: boolean;
  nodes: ProgramNode[];
  top: Block;
  functions: ReadonlyMap<string, FunctionDecl>;
  warnings: DecodeWarning[];
}

const VAR_TYPES = new Set(['string', 'number', 'boolean', 'array', 'object', 'any']);
const asType = (t: unknown, fallback: VariableType): VariableType => (typeof t === 'string' && VAR_TYPES.has(t) ? (t as VariableType) : fallback);
const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const ids = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function variablesOf(list: unknown): VariableDecl[] {
  return (Array.isArray(list) ? list : []).map((v) => {
    const r = rec(v);
    return { name: String(r.name), type: asType(r.type, 'string'), value: r.value ?? null };
  });
}

const VARIABLE_KINDS = new Set(['variable_definition', 'variable_assignment']);

function kindOf(t: JobTask): NodeKind {
  const c = t.control;
  if (c?.condition) return 'condition';
  if (c?.loop) return 'loop';
  if (c?.function_def) return 'function_def';
  if (c?.function_call) return 'call';
  if (c?.variables?.length && t.kind && VARIABLE_KINDS.has(t.kind.trim().toLowerCase())) return 'variables';
  return 'ai';
}

/** Where a member sits: in a construct's body (owner node index) or a function's body. */
type Home = { owner: number; which: string } | { fn: string };

/** A 1.0 job's (or a plain 2.0 job's) functions: none, one shared empty map rather than one per job. */
const NO_FUNCTIONS: ReadonlyMap<string, FunctionDecl> = new Map();

function plainProgram(job: Job): Program {
  const index = new Map<string, number>();
  job.tasks.forEach((t, i) => index.has(t.id) || index.set(t.id, i));
  const nodes = job.tasks.map((task, i): ProgramNode => ({
    index: i, id: task.id, task, kind: 'ai', owner: null,
    deps: [...new Set(task.dependencies)].map((d) => index.get(d)!).filter((j) => j !== undefined),
  }));
  return { job, enhanced: job.source.form === 'enhanced', nodes, top: { members: nodes.map((n) => n.index), last: null, frameVars: [] }, functions: NO_FUNCTIONS, warnings: [] };
}

/** Programs of the jobs compiled in this thread (the decoder compiles to check; the engine reuses it). */
const compiled = new WeakMap<Job, Program>();

/** Compiles a job once (programs are never changed); throws an AltlasError (ALT_REFERENCE, ALT_CYCLE) when its structure is unsound. */
export function compileProgram(job: Job): Program {
  let program = compiled.get(job);
  if (!program) {
    program = compileUncached(job);
    compiled.set(job, program);
  }
  return program;
}

/**
 * True for a 2.0 job with functions, global variables or a control segment: the only jobs whose
 * program has structure to check. Any other job compiles to one block of AI tasks (no error, no
 * warning, every task at the top level).
 */
export function hasConstructs(job: Job): boolean {
  return job.source.form === 'enhanced' && (job.functions.length > 0 || job.global_variables.length > 0 || job.tasks.some((t) => t.control));
}

function compileUncached(job: Job): Program {
  if (!hasConstructs(job)) return plainProgram(job);

  const tasks = job.tasks;
  const index = new Map<string, number>();
  tasks.forEach((t, i) => index.has(t.id) || index.set(t.id, i));
  const refs: Problem[] = [];
  const cycles: Problem[] = [];
  const at = (i: number) => `/segments/${i}`;

  // Functions: file-level ones and function_def segments.
  const fnDocs = new Map<string, { doc: Record<string, unknown>; pointer: string }>();
  const addFn = (doc: Record<string, unknown>, pointer: string) => {
    const name = String(doc.name);
    if (fnDocs.has(name)) refs.push({ pointer: `${pointer}/name`, message: `function '${name}' is defined twice` });
    else fnDocs.set(name, { doc, pointer });
  };
  job.functions.forEach((f, i) => addFn(rec(f), `/functions/${i}`));
  tasks.forEach((t, i) => t.control?.function_def && addFn(rec(t.control.function_def), `${at(i)}/function_def`));

  // Membership: every body names its members; a segment may be in one body only.
  const home = new Map<number, Home>();
  const claim = (list: unknown, pointer: string, h: Home) => ids(list).forEach((id, k) => {
    const j = index.get(id);
    if (j === undefined) return refs.push({ pointer: `${pointer}/${k}`, message: `segment '${id}' does not exist` });
    if (home.has(j)) return refs.push({ pointer: `${pointer}/${k}`, message: `segment '${id}' is in two bodies` });
    home.set(j, h);
  });
  tasks.forEach((t, i) => {
    const c = t.control;
    if (c?.condition) {
      claim(c.condition.if_body, `${at(i)}/condition/if_body`, { owner: i, which: 'if_body' });
      claim(c.condition.else_body, `${at(i)}/condition/else_body`, { owner: i, which: 'else_body' });
    }
    if (c?.loop) claim(c.loop.body, `${at(i)}/loop/body`, { owner: i, which: 'body' });
  });
  for (const [name, { doc, pointer }] of fnDocs) claim(doc.body, `${pointer}/body`, { fn: name });

  // A construct inside its own body, directly or through others.
  const ownerOf = (i: number): number | null => {
    const h = home.get(i);
    return h && 'owner' in h ? h.owner : null;
  };
  for (const i of home.keys()) {
    const seen = new Set<number>([i]);
    for (let o = ownerOf(i); o !== null; o = ownerOf(o)) {
      if (seen.has(o)) {
        cycles.push({ pointer: at(o), message: `construct ${tasks[o].id} is inside its own body` });
        break;
      }
      seen.add(o);
    }
  }
  if (cycles.length) throw new AltlasError('ALT_CYCLE', `${cycles[0].message}`, { problems: cycles });
  if (refs.length) throw new AltlasError('ALT_REFERENCE', `${refs[0].pointer}: ${refs[0].message}`, { problems: refs });

  const nodes: ProgramNode[] = tasks.map((task, i) => ({ index: i, id: task.id, task, kind: kindOf(task), deps: [], owner: ownerOf(i) }));
  /** The block key of a node: 'top', 'fn:<name>', or '<owner index>:<which>'. */
  const blockKey = (i: number): string => {
    const h = home.get(i);
    if (!h) return 'top';
    return 'fn' in h ? `fn:${h.fn}` : `${h.owner}:${h.which}`;
  };
  const blocks = new Map<string, number[]>();
  tasks.forEach((_t, i) => {
    const k = blockKey(i);
    if (k === 'top') (blocks.get(k) ?? blocks.set(k, []).get(k)!).push(i);
  });
  // Body order for members.
  tasks.forEach((t, i) => {
    const c = t.control;
    if (c?.condition) {
      blocks.set(`${i}:if_body`, ids(c.condition.if_body).map((id) => index.get(id)!));
      blocks.set(`${i}:else_body`, ids(c.condition.else_body).map((id) => index.get(id)!));
    }
    if (c?.loop) blocks.set(`${i}:body`, ids(c.loop.body).map((id) => index.get(id)!));
  });
  for (const [name, { doc }] of fnDocs) blocks.set(`fn:${name}`, ids(doc.body).map((id) => index.get(id)!));
  if (!blocks.has('top')) blocks.set('top', []);

  // Dependencies: siblings as they are; an owner above is satisfied on entry; anything else moves
  // up to the ancestor construct that is its sibling.
  const deps = tasks.map(() => new Set<number>());
  tasks.forEach((t, i) => {
    const mine = blockKey(i);
    t.dependencies.forEach((d, k) => {
      const j = index.get(d);
      if (j === undefined) return;
      const pointer = `${at(i)}/dependencies/${k}`;
      if (blockKey(j) === mine) return void deps[i].add(j);
      let a: number | null = i;
      while (a !== null) {
        const o = ownerOf(a);
        if (o === j) return; // satisfied on entry
        if (o === null) break;
        if (blockKey(j) === blockKey(o)) return void deps[o].add(j);
        a = o;
      }
      const h = home.get(a ?? i);
      if (h && 'fn' in h) return refs.push({ pointer, message: `segment ${t.id} in the body of function ${h.fn} may depend only on its siblings, not on '${d}'` });
      if (!home.has(i)) return refs.push({ pointer, message: `top-level segment ${t.id} depends on '${d}', which runs only inside a construct` });
      refs.push({ pointer, message: `segment ${t.id} depends on '${d}', which is neither a sibling, an owner, nor a sibling of an owner` });
    });
  });

  // Calls: a known function, known argument names, every required parameter given or defaulted.
  const functions = new Map<string, FunctionDecl>();
  const frameVarsOf = new Map<string, VariableDecl[]>();
  const params = (doc: Record<string, unknown>): ParamDecl[] => (Array.isArray(doc.parameters) ? doc.parameters : []).map((p) => {
    const r = rec(p);
    return { name: String(r.name), type: asType(r.type, 'any'), defaultValue: r.default_value ?? null, required: r.required !== false };
  });
  tasks.forEach((t, i) => {
    const call = t.control?.function_call;
    if (!call) return;
    const fn = fnDocs.get(String(call.function_name));
    const pointer = `${at(i)}/function_call`;
    if (!fn) return void refs.push({ pointer: `${pointer}/function_name`, message: `function '${String(call.function_name)}' is not defined` });
    const ps = params(fn.doc);
    const args = rec(call.arguments);
    for (const name of Object.keys(args)) if (!ps.some((p) => p.name === name)) refs.push({ pointer: `${pointer}/arguments/${name}`, message: `function ${fn.doc.name as string} has no parameter '${name}'` });
    for (const p of ps) {
      if (p.required && !Object.hasOwn(args, p.name) && p.defaultValue === null) refs.push({ pointer: `${pointer}/arguments`, message: `required parameter '${p.name}' of ${fn.doc.name as string} has no argument and no default` });
    }
  });

  // Cycles inside each block once dependencies moved up.
  for (const [key, members] of blocks) {
    const inBlock = new Set(members);
    const indeg = new Map(members.map((m) => [m, [...deps[m]].filter((d) => inBlock.has(d)).length]));
    const queue = members.filter((m) => indeg.get(m) === 0);
    for (let h = 0; h < queue.length; h++) {
      for (const m of members) if (deps[m].has(queue[h]) && indeg.set(m, indeg.get(m)! - 1).get(m) === 0) queue.push(m);
    }
    const left = members.filter((m) => indeg.get(m)! > 0);
    if (left.length) cycles.push({ pointer: at(left[0]), message: `the dependencies in ${key === 'top' ? 'the top level' : `block ${key}`} form a cycle through ${left.map((m) => tasks[m].id).join(', ')}` });
  }
  if (cycles.length) throw new AltlasError('ALT_CYCLE', cycles[0].message, { problems: cycles });
  if (refs.length) throw new AltlasError('ALT_REFERENCE', `${refs[0].pointer}: ${refs[0].message}`, { problems: refs });

  // Frames: each frame-opening block declares the variables of its members and of members of
  // nested blocks that open no frame (branches and while bodies).
  const opensFrame = (key: string) => key === 'top' || key.startsWith('fn:') || (key.endsWith(':body') && rec(tasks[Number(key.split(':')[0])].control?.loop).type !== 'while');
  const collect = (key: string, out: VariableDecl[]) => {
    for (const m of blocks.get(key) ?? []) {
      out.push(...variablesOf(tasks[m].control?.variables));
      for (const sub of [`${m}:if_body`, `${m}:else_body`, `${m}:body`]) if (blocks.has(sub) && !opensFrame(sub)) collect(sub, out);
    }
    return out;
  };
  for (const key of blocks.keys()) if (opensFrame(key)) frameVarsOf.set(key, collect(key, key === 'top' ? variablesOf(job.global_variables) : []));
  const block = (key: string): Block => {
    const members = blocks.get(key) ?? [];
    return { members, last: members.length ? members[members.length - 1] : null, frameVars: frameVarsOf.get(key) ?? [] };
  };

  const warnings: DecodeWarning[] = [];
  // Every name a value can be read by: variables, loop variables, parameters, result variables, segment ids.
  let known: Set<string> | null = null;
  const names = () => (known ??= new Set([
    ...variablesOf(job.global_variables).map((v) => v.name),
    ...tasks.flatMap((t) => [
      t.id, ...variablesOf(t.control?.variables).map((v) => v.name),
      ...[rec(t.control?.loop).variable, rec(t.control?.function_call).result_variable].filter((x): x is string => typeof x === 'string'),
    ]),
    ...[...fnDocs.values()].flatMap(({ doc }) => params(doc).map((p) => p.name)),
  ]));
  for (const n of nodes) {
    n.deps = [...deps[n.index]];
    const c = n.task.control;
    if (n.kind === 'condition') {
      const cond = rec(c!.condition);
      n.condition = { test: cond.condition as ConditionNode, then: block(`${n.index}:if_body`), else: cond.else_body == null ? null : block(`${n.index}:else_body`) };
    } else if (n.kind === 'loop') {
      const l = rec(c!.loop);
      n.loop = {
        type: l.type as LoopSpec['type'], variable: typeof l.variable === 'string' ? l.variable : null,
        iterable: typeof l.iterable === 'string' ? l.iterable : l.iterable == null ? null : JSON.stringify(l.iterable),
        start: Number(l.start ?? 0), end: Number(l.end ?? 0), step: l.step == null ? 1 : Number(l.step),
        test: (l.condition as ConditionNode | null) ?? null, body: block(`${n.index}:body`),
      };
      if (n.loop.type === 'while') {
        const written = new Set<string>();
        const walk = (key: string, seenFns: Set<string>) => {
          for (const m of blocks.get(key) ?? []) {
            written.add(tasks[m].id);
            const call = tasks[m].control?.function_call;
            if (call?.result_variable) written.add(String(call.result_variable));
            if (nodes[m].kind === 'variables') variablesOf(tasks[m].control?.variables).forEach((v) => written.add(v.name));
            for (const sub of [`${m}:if_body`, `${m}:else_body`, `${m}:body`]) walk(sub, seenFns);
            if (call && !seenFns.has(String(call.function_name))) walk(`fn:${String(call.function_name)}`, new Set([...seenFns, String(call.function_name)]));
          }
        };
        walk(`${n.index}:body`, new Set());
        // Of the operands, only names something could define are variables; the rest are literals.
        const reads = [...conditionReads(n.loop.test)].filter((r) => names().has(r));
        if (!reads.some((r) => written.has(r))) {
          warnings.push({
            code: 'W_WHILE_NO_WRITE', pointer: `${at(n.index)}/loop/condition`,
            message: reads.length
              ? `nothing in the body of while loop ${n.id} writes ${reads.join(', ')}, which its condition reads: it runs until LOOP_LIMIT`
              : `the condition of while loop ${n.id} reads no variable (its operands are literals), so nothing in its body can end it: it runs until LOOP_LIMIT`,
          });
        }
      }
    } else if (n.kind === 'call') {
      const call = rec(c!.function_call);
      n.call = { fn: String(call.function_name), args: rec(call.arguments), resultVariable: typeof call.result_variable === 'string' ? call.result_variable : null };
    } else if (n.kind === 'variables' && n.task.kind?.trim().toLowerCase() === 'variable_assignment') {
      n.assign = variablesOf(c!.variables);
    }
  }
  for (const [name, { doc }] of fnDocs) functions.set(name, { name, params: params(doc), returnType: asType(doc.return_type, 'any'), body: block(`fn:${name}`) });
  return { job, enhanced: true, nodes, top: block('top'), functions, warnings };
}
