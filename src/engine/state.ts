/**
 * The graph state of one run: a pure, synchronous machine. Instances are created when their
 * block opens (the top level at start; a branch, an iteration or a call body when its construct
 * runs), move through waiting → ready → running → a final state, and release or cancel their
 * dependents. Control nodes (condition, loop, call, variables, function_def) run inside the state
 * the moment they are ready and take no concurrency slot; AI tasks wait in a priority queue for
 * the driver ({@link Engine}) to run them. No timers, no I/O: time comes from `now`.
 */
import { AltlasError, type ErrorCode } from '../errors.ts';
import { PRIORITIES, type Priority } from '../alt/job.ts';
import type { Block, Program, ProgramNode, VariableDecl } from '../alt/program/compile.ts';
import { evaluateCondition, interpolateValue, type Found, type Lookup } from '../alt/program/expressions.ts';
import { convertReturn, type VariableType } from '../alt/program/values.ts';
import type { RunEdge, Skipped, TaskEvent, TaskOutput, TaskResult } from './types.ts';
import { iso } from '../time.ts';
import { assignVariable, callFrame, describe, iterationOf, loopItems, type Frame, type Instance, type InstanceState, type ProgramLimits, type Scope } from './instance.ts';

const NO_OUTPUTS: ReadonlyMap<string, TaskOutput> = new Map();

const RANK: Record<Priority, number> = Object.fromEntries(PRIORITIES.map((p, i) => [p, i])) as Record<Priority, number>;
const FINAL = new Set<InstanceState>(['completed', 'failed', 'cancelled', 'timeout']);

export interface StateOptions {
  now: () => number;
  limits: ProgramLimits;
  /** Completed results from an earlier run of this message, by instance key. */
  resume?: ReadonlyMap<string, TaskResult>;
  /** Receives every event; absent: no event is even built (a run nobody observes). */
  emit?: (e: TaskEvent) => void;
}

export class GraphState {
  readonly program: Program;
  readonly #o: StateOptions;
  readonly #ready: Instance[] = [];
  readonly #all: Instance[] = [];
  readonly #work: (() => void)[] = [];
  readonly #scopes: Scope[] = [];
  /** The first reason each skipped member was given; made at the first skip (most runs skip nothing). */
  #firstSkip: Map<string, string> | null = null;
  readonly #instantiated = new Set<number>();
  readonly resumed: string[] = [];
  #top: Scope | null = null;
  /** The code the run stopped with (JOB_CANCELLED, JOB_ABORTED, ...): nothing is opened or released any more. */
  #stopped: ErrorCode | null = null;
  #draining = false;
  #seq = 0;
  #done = false;

  constructor(program: Program, options: StateOptions) {
    this.program = program;
    this.#o = options;
  }

  /** True once the top level finished (every instance is final). */
  get done(): boolean {
    return this.#done;
  }

  /** Opens the top level with the global frame. */
  begin(): void {
    const frame: Frame = { vars: new Map(), parent: null, fn: false };
    for (const v of this.program.top.frameVars) frame.vars.set(v.name, { type: v.type, value: v.value });
    this.#run(() => {
      this.#top = this.#open(null, this.program.top, '', frame, null, 0);
      if (!this.#top) this.#done = true;
    });
  }

  /** The next AI instance to run: priority (critical first), then creation order. */
  takeReady(): Instance | undefined {
    return this.#ready.shift();
  }

  get readyCount(): number {
    return this.#ready.length;
  }

  /**
   * The run stops: no instance is released, no iteration or call body opened, no failure
   * propagated any more; what ends from now on only records its result, and {@link closeAll}
   * gives the rest theirs.
   */
  stop(code: ErrorCode): void {
    this.#stopped ??= code;
    this.#ready.length = 0;
  }

  /** An AI instance starts running. */
  started(inst: Instance): void {
    inst.state = 'running';
    inst.startedAt = this.#o.now();
  }

  /** An AI instance ended (completed, failed, timed out or cancelled). */
  finished(inst: Instance, result: TaskResult): void {
    this.#run(() => this.#finish(inst, result));
  }

  /** Every instance with a result, in creation order. */
  results(): TaskResult[] {
    return this.#all.flatMap((i) => (i.result ? [i.result] : []));
  }

  /** Instances not yet final (after a stop): they get a "not run" result. */
  unfinished(): Instance[] {
    return this.#all.filter((i) => !FINAL.has(i.state) && !i.dropped);
  }

  /**
   * The job stopped (`code`): every unfinished instance ends `cancelled` at `end`. An iteration
   * or call body of which nothing started is dropped (its instances get no result, its members
   * count as not reached); a construct that was running keeps its time and its control metadata.
   */
  closeAll(code: ErrorCode, end: number): void {
    this.stop(code);
    for (const scope of this.#scopes) {
      if (!scope.owner) continue;
      const members = [...scope.byNode.values()];
      if (members.every((m) => m.state === 'waiting' || m.state === 'ready')) for (const m of members) m.dropped = true;
    }
    for (const inst of this.unfinished()) {
      const started = inst.startedAt;
      inst.state = 'cancelled';
      inst.result = {
        task_id: inst.key, status: 'cancelled', start_time: started === null ? null : iso(started), end_time: iso(end),
        duration_ms: started === null ? 0 : Math.max(0, end - started), output: null,
        error: `Not run: the job stopped (${code})`, error_code: code, attempts: started === null || inst.node.kind === 'ai' ? 0 : 1,
        metadata: { ...this.#meta(inst), ...(inst.node.kind === 'ai' ? {} : { control: this.#controlSoFar(inst) }) },
      };
    }
  }

  /** A construct's control metadata as it stands (a loop's iterations done, a condition's branch). */
  #controlSoFar(inst: Instance): Record<string, unknown> {
    const n = inst.node;
    if (n.kind === 'loop') return { construct: 'loop', iterations: inst.loop?.k ?? 0 };
    if (n.kind === 'condition') return { construct: 'condition', branch: inst.branch ?? null };
    if (n.kind === 'call') return { construct: 'function_call' };
    if (n.kind === 'variables') return { construct: n.assign ? 'variable_assignment' : 'variable_definition' };
    return { construct: n.kind };
  }

  /** Members never instantiated (or only in a dropped body), with the reason (control-flow.md §5). */
  skipped(): Skipped[] {
    const out: Skipped[] = [];
    const live = new Set<number>();
    for (const i of this.#all) if (!i.dropped) live.add(i.node.index);
    for (const n of this.program.nodes) {
      if (live.has(n.index) || this.#isTop(n)) continue;
      const reason = this.#stopped && !this.#firstSkip?.has(n.id) ? `not reached: the job stopped (${this.#stopped})` : this.#firstSkip?.get(n.id) ?? this.#defaultSkip(n);
      out.push({ segment_id: n.id, reason });
    }
    return out;
  }

  /** Dependency edges (required) and construct → member edges (conditional for condition and loop, required for call). */
  edges(): RunEdge[] {
    const edges: RunEdge[] = [];
    for (const inst of this.#all) {
      if (inst.dropped) continue;
      for (const d of inst.node.deps) {
        const dep = inst.scope.byNode.get(d);
        if (dep) edges.push({ source: dep.key, target: inst.key, dependency_type: 'required' });
      }
    }
    for (const scope of this.#scopes) {
      const owner = scope.owner;
      if (!owner) continue;
      const type = owner.node.kind === 'call' ? 'required' : 'conditional';
      for (const m of scope.byNode.values()) if (!m.dropped) edges.push({ source: owner.key, target: m.key, dependency_type: type });
    }
    return edges;
  }

  /** Reads names for an instance: variables innermost frame first, then task values innermost scope first. */
  lookup(inst: Instance): Lookup {
    return {
      name: (name: string): Found => {
        for (let f: Frame | null = inst.scope.frame; f; f = f.parent) {
          const v = f.vars.get(name);
          if (v) return { found: true, value: v.value };
        }
        for (let s: Scope | null = inst.scope; s; s = s.parent) {
          const other = this.#byId(s, name);
          if (other && other.state === 'completed') return this.#readable(other);
        }
        return { found: false };
      },
    };
  }

  /** Outputs of an instance's dependencies; a construct contributes every AI instance below it. */
  dependencyOutputs(inst: Instance): ReadonlyMap<string, TaskOutput> {
    // A task without dependencies (every job's first) shares one empty map rather than holding its own while it runs.
    if (inst.node.deps.length === 0) return NO_OUTPUTS;
    const out = new Map<string, TaskOutput>();
    for (const d of inst.node.deps) {
      const dep = inst.scope.byNode.get(d);
      if (!dep) continue;
      if (dep.node.kind === 'ai') {
        if (dep.result?.output) out.set(dep.key, dep.result.output);
      } else for (const c of dep.contributions ?? []) if (c.result?.output) out.set(c.key, c.result.output);
    }
    return out;
  }

  #isTop(n: ProgramNode): boolean {
    return this.program.top.members.includes(n.index);
  }

  #defaultSkip(n: ProgramNode): string {
    if (n.owner === null) {
      const fn = [...this.program.functions.values()].find((f) => f.body.members.includes(n.index));
      return fn ? `function ${fn.name} was never called` : 'never reached';
    }
    const owner = this.program.nodes[n.owner];
    return `${owner.id} did not run its body`;
  }

  #byId(scope: Scope, id: string): Instance | undefined {
    for (const inst of scope.byNode.values()) if (inst.node.id === id) return inst;
    return undefined;
  }

  #readable(inst: Instance): Found {
    if (inst.node.kind !== 'ai') return { found: true, value: inst.value };
    const output = inst.result?.output ?? null;
    if (inst.json === undefined) {
      const text = output?.text.trim() ?? '';
      inst.json = null;
      if (text.startsWith('{') || text.startsWith('[')) {
        try {
          inst.json = { parsed: JSON.parse(text) };
        } catch {
          inst.json = null;
        }
      }
    }
    return { found: true, value: output, json: inst.json?.parsed };
  }

  /** Runs state changes through one queue, so long chains of control nodes never recurse deeply. */
  #run(fn: () => void): void {
    this.#work.push(fn);
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let w = this.#work.shift(); w; w = this.#work.shift()) w();
    } finally {
      this.#draining = false;
    }
  }

  #open(owner: Instance | null, block: Block, prefix: string, frame: Frame, parent: Scope | null, callDepth: number): Scope | null {
    if (this.#all.length + block.members.length > this.#o.limits.maxInstances) return null;
    const scope: Scope = { prefix, block, parent, frame, owner, byNode: new Map(), open: block.members.length, failure: null, callDepth };
    this.#scopes.push(scope);
    const at = this.#o.now();
    const iteration = this.#o.emit && this.program.enhanced ? iterationOf(scope) : null;
    for (const index of block.members) {
      const node = this.program.nodes[index];
      const inst: Instance = {
        seq: this.#seq++, key: prefix + node.id, node, scope, state: 'waiting', waitingOn: 0, dependents: null,
        result: null, value: null, startedAt: null, contributions: null,
      };
      scope.byNode.set(index, inst);
      this.#all.push(inst);
      this.#instantiated.add(index);
    }
    for (const inst of scope.byNode.values()) {
      for (const d of inst.node.deps) {
        const dep = scope.byNode.get(d);
        if (!dep) continue;
        inst.waitingOn++;
        (dep.dependents ??= []).push(inst);
      }
      if (this.program.enhanced && this.#o.emit) {
        const dependencies: string[] = [];
        for (const d of inst.node.deps) {
          const dep = scope.byNode.get(d);
          if (dep) dependencies.push(dep.key);
        }
        this.#o.emit({ type: 'instance_created', taskId: inst.key, segmentId: inst.node.id, kind: inst.node.kind, iteration, at, dependencies, owner: owner?.key ?? null });
      }
    }
    if (block.members.length === 0) this.#work.push(() => this.#close(scope));
    for (const inst of scope.byNode.values()) if (inst.waitingOn === 0) this.#work.push(() => this.#makeReady(inst));
    return scope;
  }

  #makeReady(inst: Instance): void {
    if (inst.state !== 'waiting') return;
    if (inst.node.kind !== 'ai') return this.#control(inst);
    const earlier = this.#o.resume?.get(inst.key);
    if (earlier?.status === 'completed' && earlier.output) {
      inst.state = 'completed';
      inst.result = earlier;
      inst.value = earlier.output.text;
      this.resumed.push(inst.key);
      this.#o.emit?.({ type: 'task_resumed', taskId: inst.key, result: earlier, at: this.#o.now() });
      return this.#settled(inst);
    }
    inst.state = 'ready';
    const rank = RANK[inst.node.task.priority ?? this.program.job.priority];
    // Sorted insert by (rank, seq).
    let lo = 0;
    let hi = this.#ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = this.#ready[mid];
      const mr = RANK[m.node.task.priority ?? this.program.job.priority];
      if (mr < rank || (mr === rank && m.seq < inst.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.#ready.splice(lo, 0, inst);
  }

  #finish(inst: Instance, result: TaskResult): void {
    inst.result = result;
    inst.state = result.status;
    if (result.status === 'completed') inst.value = result.output?.text ?? inst.value;
    this.#o.emit?.({ type: 'task_finished', taskId: inst.key, result, at: this.#o.now(), kind: inst.node.kind });
    // After a stop an ending instance only records its result: nothing it would release or cancel runs.
    if (!this.#stopped) this.#settled(inst);
  }

  /** Releases or cancels dependents and closes the scope when it was the last open member. */
  #settled(inst: Instance): void {
    const scope = inst.scope;
    if (inst.state === 'completed') {
      if (inst.node.kind === 'ai') for (let s: Scope | null = scope; s?.owner; s = s.owner.scope) (s.owner.contributions ??= []).push(inst);
      if (inst.dependents) for (const d of inst.dependents) if (--d.waitingOn === 0) this.#work.push(() => this.#makeReady(d));
    } else {
      scope.failure ??= inst;
      this.#cancelDependents(inst);
    }
    if (--scope.open === 0) this.#work.push(() => this.#close(scope));
  }

  #cancelDependents(failed: Instance): void {
    const queue = [...(failed.dependents ?? [])];
    const at = this.#o.now();
    while (queue.length) {
      const d = queue.shift()!;
      if (FINAL.has(d.state)) continue;
      d.state = 'cancelled';
      d.result = {
        task_id: d.key, status: 'cancelled', start_time: null, end_time: iso(at), duration_ms: 0, output: null,
        error: `Cancelled due to dependency failure: ${failed.key}`, error_code: 'TASK_CANCELLED', attempts: 0, metadata: this.#meta(d),
      };
      this.#o.emit?.({ type: 'task_finished', taskId: d.key, result: d.result, at, kind: d.node.kind });
      if (d.node.kind !== 'ai') this.#skipBodies(d, `${d.key} was cancelled`);
      if (--d.scope.open === 0) this.#work.push(() => this.#close(d.scope));
      if (d.dependents) queue.push(...d.dependents);
    }
  }

  #meta(inst: Instance): Record<string, unknown> {
    if (!this.program.enhanced) return {};
    const iteration = iterationOf(inst.scope);
    return { segment_id: inst.node.id, ...(iteration !== null ? { iteration } : {}) };
  }

  #skip(block: Block | null | undefined, reason: string): void {
    if (!block) return;
    for (const m of block.members) {
      const id = this.program.nodes[m].id;
      const firstSkip = (this.#firstSkip ??= new Map());
      if (!firstSkip.has(id)) {
        firstSkip.set(id, reason);
        if (!this.#instantiated.has(m)) this.#o.emit?.({ type: 'skipped', segmentId: id, reason, at: this.#o.now() });
      }
      this.#skipBodies(this.program.nodes[m], reason);
    }
  }

  #skipBodies(n: Instance | ProgramNode, reason: string): void {
    const node = 'node' in n ? n.node : n;
    if (node.condition) {
      this.#skip(node.condition.then, reason);
      this.#skip(node.condition.else, reason);
    }
    if (node.loop) this.#skip(node.loop.body, reason);
  }

  // --- control nodes ---

  #control(inst: Instance): void {
    inst.state = 'running';
    inst.startedAt = this.#o.now();
    this.#o.emit?.({ type: 'task_started', taskId: inst.key, attempt: 1, at: inst.startedAt });
    const n = inst.node;
    try {
      if (n.kind === 'function_def') return this.#complete(inst, null, { construct: 'function_def' });
      if (n.kind === 'variables') {
        for (const v of n.assign ?? []) this.#assign(inst, v.name, this.#interpolated(inst, v.value), v.type);
        return this.#complete(inst, null, { construct: n.assign ? 'variable_assignment' : 'variable_definition' });
      }
      if (n.kind === 'condition') return this.#runCondition(inst);
      if (n.kind === 'loop') return this.#startLoop(inst);
      if (n.kind === 'call') return this.#startCall(inst);
    } catch (e) {
      const error = e instanceof AltlasError ? e : new AltlasError('TASK_FAILED', (e as Error).message);
      return this.#fail(inst, error.code, error.message);
    }
  }

  #interpolated(inst: Instance, v: unknown): unknown {
    const unresolved: string[] = [];
    return interpolateValue(v, this.lookup(inst), unresolved);
  }

  #complete(inst: Instance, value: unknown, control: Record<string, unknown>): void {
    inst.value = value;
    const end = this.#o.now();
    this.#finish(inst, {
      task_id: inst.key, status: 'completed', start_time: iso(inst.startedAt ?? end), end_time: iso(end),
      duration_ms: Math.max(0, end - (inst.startedAt ?? end)), output: null, error: null, error_code: null, attempts: 1,
      metadata: { ...this.#meta(inst), control },
    });
  }

  #fail(inst: Instance, code: ErrorCode, message: string, control: Record<string, unknown> = {}): void {
    const end = this.#o.now();
    this.#finish(inst, {
      task_id: inst.key, status: 'failed', start_time: iso(inst.startedAt ?? end), end_time: iso(end),
      duration_ms: Math.max(0, end - (inst.startedAt ?? end)), output: null, error: message, error_code: code, attempts: 1,
      metadata: { ...this.#meta(inst), control: { construct: inst.node.kind === 'ai' ? undefined : inst.node.kind === 'call' ? 'function_call' : inst.node.kind, ...control } },
    });
  }

  #runCondition(inst: Instance): void {
    const c = inst.node.condition!;
    const taken = evaluateCondition(c.test, this.lookup(inst));
    inst.branch = taken ? 'if_body' : c.else ? 'else_body' : null;
    const branch = taken ? c.then : c.else;
    this.#skip(taken ? c.else : c.then, `${taken ? 'else_body' : 'if_body'} of ${inst.key} not taken`);
    if (!branch || branch.members.length === 0) return this.#complete(inst, null, { construct: 'condition', branch: inst.branch });
    const scope = this.#open(inst, branch, inst.scope.prefix, inst.scope.frame, inst.scope, inst.scope.callDepth);
    if (!scope) return this.#fail(inst, 'INSTANCE_LIMIT', this.#instanceLimit(), { construct: 'condition', branch: inst.branch });
  }

  #instanceLimit(): string {
    return `the job would create more than ${this.#o.limits.maxInstances} task instances`;
  }

  #startLoop(inst: Instance): void {
    const r = loopItems(inst.node.loop!, inst.key, this.lookup(inst), this.#o.limits.maxIterations);
    if ('code' in r) return this.#fail(inst, r.code, r.message, { construct: 'loop', iterations: 0 });
    inst.loop = { k: 0, items: r.items, values: [] };
    this.#nextIteration(inst);
  }

  #nextIteration(inst: Instance): void {
    const l = inst.node.loop!;
    const loop = inst.loop!;
    const control = () => ({ construct: 'loop', iterations: loop.k });
    if (loop.items) {
      if (loop.k >= loop.items.length) return this.#complete(inst, loop.values, control());
    } else {
      if (!evaluateCondition(l.test!, this.lookup(inst))) return this.#complete(inst, loop.values, control());
      if (loop.k >= this.#o.limits.maxIterations) {
        return this.#fail(inst, 'LOOP_LIMIT', `while loop ${inst.key} still runs after ${loop.k} iterations; the limit is ${this.#o.limits.maxIterations}`, control());
      }
    }
    let frame = inst.scope.frame;
    if (loop.items) {
      frame = { vars: new Map(), parent: inst.scope.frame, fn: false };
      if (l.variable) frame.vars.set(l.variable, { type: 'any', value: loop.items[loop.k] });
      for (const v of l.body.frameVars) frame.vars.set(v.name, { type: v.type, value: v.value });
    }
    const scope = this.#open(inst, l.body, `${inst.key}[${loop.k}]/`, frame, inst.scope, inst.scope.callDepth);
    if (!scope) return this.#fail(inst, 'INSTANCE_LIMIT', this.#instanceLimit(), control());
  }

  #startCall(inst: Instance): void {
    const call = inst.node.call!;
    const fn = this.program.functions.get(call.fn)!;
    if (inst.scope.callDepth + 1 > this.#o.limits.maxCallDepth) {
      return this.#callFailed(inst, 'CALL_DEPTH', `call ${inst.key} to ${fn.name} is nested ${inst.scope.callDepth + 1} deep; the limit is ${this.#o.limits.maxCallDepth}`);
    }
    const frame = callFrame(fn, call.args, this.#top!.frame, (v) => this.#interpolated(inst, v));
    if ('code' in frame) return this.#callFailed(inst, frame.code, frame.message);
    const scope = this.#open(inst, fn.body, `${inst.key}/`, frame, this.#top, inst.scope.callDepth + 1);
    if (!scope) return this.#callFailed(inst, 'INSTANCE_LIMIT', this.#instanceLimit());
  }

  /** A call that failed before its body ran: the body's members are skipped with the reason (the function was called). */
  #callFailed(inst: Instance, code: ErrorCode, message: string): void {
    const fn = inst.node.call!.fn;
    this.#skip(this.program.functions.get(fn)!.body, `the call ${inst.key} to ${fn} failed before its body ran (${code})`);
    return this.#fail(inst, code, message, { construct: 'function_call' });
  }

  #assign(inst: Instance, name: string, value: unknown, declared: VariableType = 'any'): void {
    assignVariable(inst.scope.frame, inst.key, name, value, declared);
  }

  #close(scope: Scope): void {
    const owner = scope.owner;
    if (!owner) {
      this.#done = true;
      return;
    }
    const n = owner.node;
    const lastValue = () => {
      const last = scope.block.last === null ? undefined : scope.byNode.get(scope.block.last);
      return last?.state === 'completed' ? last.value : null;
    };
    const failed = scope.failure;
    // The member that failed and the first error underneath it: nested constructs do not repeat each other's messages.
    const failure = () => {
      owner.cause = failed!.cause ?? failed!.result?.error ?? undefined;
      return `${failed!.key} ${failed!.state}${owner.cause ? `: ${owner.cause}` : ''}`;
    };
    if (n.kind === 'condition') {
      if (failed) return this.#fail(owner, failed.result?.error_code ?? 'TASK_FAILED', failure(), { construct: 'condition', branch: owner.branch });
      return this.#complete(owner, lastValue(), { construct: 'condition', branch: owner.branch });
    }
    if (n.kind === 'loop') {
      const loop = owner.loop!;
      if (failed) return this.#fail(owner, failed.result?.error_code ?? 'TASK_FAILED', `iteration ${loop.k} failed: ${failure()}`, { construct: 'loop', iterations: loop.k + 1 });
      loop.values.push(lastValue());
      loop.k++;
      return this.#nextIteration(owner);
    }
    if (n.kind === 'call') {
      const fn = this.program.functions.get(n.call!.fn)!;
      if (failed) return this.#fail(owner, failed.result?.error_code ?? 'TASK_FAILED', failure(), { construct: 'function_call' });
      const converted = convertReturn(fn.returnType, lastValue());
      if (!converted.ok) return this.#fail(owner, 'FUNCTION_RETURN', `${fn.name} returned ${describe(lastValue())}, which is not ${fn.returnType}`, { construct: 'function_call' });
      try {
        if (n.call!.resultVariable) this.#assign(owner, n.call!.resultVariable, converted.value);
      } catch (e) {
        return this.#fail(owner, 'VARIABLE_TYPE', (e as Error).message, { construct: 'function_call', return: converted.value });
      }
      return this.#complete(owner, converted.value, { construct: 'function_call', return: converted.value });
    }
  }
}

export type { VariableDecl };
