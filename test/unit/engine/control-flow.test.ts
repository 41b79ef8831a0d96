/**
 * 2.0 programs in the engine: the three examples of control-flow.md with their expected traces
 * (which tasks ran, in what order, with which interpolated text, which were skipped), the limits
 * and their codes, and random well-formed programs that always end.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAlt, type Job } from '../../../src/alt/index.ts';
import { runJob } from '../../../src/engine/run-job.ts';
import type { TaskBody, TaskResult } from '../../../src/engine/types.ts';
import { buildLast } from '../../../src/last/index.ts';
import { LastSchema, type Last } from '../../../src/last/schema.ts';
import { compile } from '../../../src/alt/schema-check.ts';
import { ENGINE, output } from '../../helpers/engine.ts';
import { CONTROL_FLOW } from '../../helpers/paths.ts';
import { randomUUID } from 'node:crypto';

const load = (name: string): Job => {
  const r = decodeAlt(readFileSync(join(CONTROL_FLOW, name)), { hint: name });
  if (!r.ok) throw r.error;
  return r.job;
};

/** A body that answers by rules on the task text and records what ran, in order, with its text. */
function scripted(rules: [RegExp, string[]][] = []) {
  const calls: { key: string; text: string; context: string[] }[] = [];
  const turns = new Map<RegExp, number>();
  const body: TaskBody = async (task, ctx) => {
    calls.push({ key: ctx.key, text: task.text, context: [...ctx.dependencyOutputs.keys()] });
    const rule = rules.find(([re]) => re.test(task.text));
    if (!rule) return output(`answer to ${ctx.key}`);
    const turn = turns.get(rule[0]) ?? 0;
    turns.set(rule[0], turn + 1);
    return output(rule[1][Math.min(turn, rule[1].length - 1)]);
  };
  return { body, calls };
}

const validLast = compile<Last>(LastSchema);
const lastOf = (job: Job, run: Awaited<ReturnType<typeof runJob>>) => buildLast({ job, run }, { id: randomUUID(), executionId: randomUUID(), uuid: randomUUID, now: Date.now() });
const statusOf = (results: TaskResult[]) => Object.fromEntries(results.map((r) => [r.task_id, r.status]));

describe('cf-cond: condition, interpolation, not inside and', () => {
  it('runs summarise, the if_body and publish; skips polish', async () => {
    const job = load('cf-cond.alt.yaml');
    const s = scripted([[/Translate the summary/, ['Özet']]]);
    const run = await runJob(job, s.body, ENGINE);
    expect(s.calls.map((c) => c.key)).toEqual(['summarise', 'translate', 'publish']);
    expect(s.calls[0].text).toBe('Summarise the report in at most 120 words');
    expect(s.calls[1].text).toBe('Translate the summary into tr');
    // publish depends on the construct: the results of its instances are its context.
    expect(s.calls[2].context).toEqual(['translate']);
    expect(statusOf(run.results)).toEqual({ summarise: 'completed', check_lang: 'completed', translate: 'completed', publish: 'completed' });
    expect(run.skipped).toEqual([{ segment_id: 'polish', reason: 'else_body of check_lang not taken' }]);
    const last = lastOf(job, run);
    expect(validLast.problems(last)).toEqual([]);
    expect(last.status).toBe('success');
    expect(last.task_results.check_lang.metadata.control).toEqual({ construct: 'condition', branch: 'if_body' });
    expect(last.metadata.control_flow).toEqual({ skipped: [{ segment_id: 'polish', reason: 'else_body of check_lang not taken' }] });
    const byId = new Map(last.execution_graph!.nodes.map((n) => [n.id, n.task_id]));
    const edges = last.execution_graph!.edges.map((e) => `${byId.get(e.source)}->${byId.get(e.target)}:${e.dependency_type}`);
    expect(edges).toEqual(expect.arrayContaining(['summarise->check_lang:required', 'check_lang->translate:conditional', 'check_lang->publish:required']));
  });
});

describe('cf-loops: for_each over a JSON answer, for_range', () => {
  it('writes one paragraph per topic, one after another, then two titles', async () => {
    const job = load('cf-loops.alt.yaml');
    const s = scripted([[/JSON array of three topic/, ['["A","B","C"]']]]);
    const run = await runJob(job, s.body, ENGINE);
    expect(s.calls.map((c) => [c.key, c.text])).toEqual([
      ['topics', 'Return a JSON array of three topic names and nothing else'],
      ['each_topic[0]/write', 'Write one paragraph about A'],
      ['each_topic[1]/write', 'Write one paragraph about B'],
      ['each_topic[2]/write', 'Write one paragraph about C'],
      ['titles[0]/title', 'Draft title number 1 for the article'],
      ['titles[1]/title', 'Draft title number 2 for the article'],
    ]);
    expect(run.results).toHaveLength(8);
    const last = lastOf(job, run);
    expect(validLast.problems(last)).toEqual([]);
    expect(last.task_results.each_topic.metadata.control).toEqual({ construct: 'loop', iterations: 3 });
    expect(last.task_results['titles[1]/title'].metadata).toMatchObject({ segment_id: 'title', iteration: 1 });
  });

  it('loops once per non-blank line when the answer is plain lines', async () => {
    const s = scripted([[/JSON array of three topic/, ['solar\n\n wind \nhydro\n']]]);
    await runJob(load('cf-loops.alt.yaml'), s.body, ENGINE);
    expect(s.calls.filter((c) => c.key.startsWith('each_topic')).map((c) => c.text)).toEqual(['Write one paragraph about solar', 'Write one paragraph about wind', 'Write one paragraph about hydro']);
  });

  it('fails the loop with LOOP_ITERABLE when the iterable is no list, and cancels its dependents', async () => {
    // A decoded job is compiled once and never changed: the altered copy is a new job.
    const job = structuredClone(load('cf-loops.alt.yaml'));
    job.tasks.find((t) => t.id === 'each_topic')!.control!.loop!.iterable = 'nothing_here';
    const run = await runJob(job, scripted().body, ENGINE);
    const r = Object.fromEntries(run.results.map((x) => [x.task_id, x]));
    expect(r.each_topic).toMatchObject({ status: 'failed', error_code: 'LOOP_ITERABLE' });
    expect(r.titles).toMatchObject({ status: 'cancelled', error: 'Cancelled due to dependency failure: each_topic' });
  });
});

describe('cf-func: function, result_variable, while, segment variables', () => {
  it('reviews until approved, then writes the final text with the verdict', async () => {
    const job = load('cf-func.alt.yaml');
    const s = scripted([[/Draft a 100-word/, ['THE DRAFT']], [/Review this abstract/, ['revise', 'approved']]]);
    const run = await runJob(job, s.body, ENGINE);
    expect(s.calls.map((c) => c.key)).toEqual(['draft', 'review_loop[0]/call_review/judge', 'review_loop[1]/call_review/judge', 'final']);
    expect(s.calls[1].text).toBe('Review this abstract with high strictness; answer with one word, approved or revise: THE DRAFT');
    expect(s.calls[3].text).toBe('Produce the final abstract (review verdict: approved)');
    expect(run.results).toHaveLength(8);
    expect(run.results.every((r) => r.status === 'completed')).toBe(true);
    const last = lastOf(job, run);
    expect(last.task_results.review_loop.metadata.control).toEqual({ construct: 'loop', iterations: 2 });
    expect(last.task_results['review_loop[1]/call_review'].metadata.control).toEqual({ construct: 'function_call', return: 'approved' });
    expect(last.status).toBe('success');
  });

  it('stops at the iteration limit with LOOP_LIMIT when the judge never approves, and cancels final', async () => {
    const s = scripted([[/Review this abstract/, ['revise']]]);
    const run = await runJob(load('cf-func.alt.yaml'), s.body, { ...ENGINE, limits: { maxIterations: 5 } });
    const r = Object.fromEntries(run.results.map((x) => [x.task_id, x]));
    expect(r.review_loop).toMatchObject({ status: 'failed', error_code: 'LOOP_LIMIT' });
    expect(r.final).toMatchObject({ status: 'cancelled' });
    expect(s.calls.filter((c) => c.key.endsWith('/judge'))).toHaveLength(5);
  });
});

/** A 2.0 document from segments and file-level parts. */
const program = (segments: Record<string, unknown>[], extra: Record<string, unknown> = {}) => JSON.stringify({
  id: 'p', version: '2.0', timestamp: '2025-01-01T00:00:00Z', command: 'c', mode: 'Normal', segments: segments.map((s) => ({ task_type: 'create', content: `do ${String(s.id)}`, ...s })), ...extra,
});
const decodeJob = (text: string): Job => {
  const r = decodeAlt(text);
  if (!r.ok) throw r.error;
  return r.job;
};

describe('limits and type errors of 2.0 programs', () => {
  it('CALL_DEPTH for recursion past the limit', async () => {
    const job = decodeJob(program([
      { id: 'go', task_type: 'function_call', function_call: { function_name: 'f' } },
      { id: 'again', task_type: 'function_call', function_call: { function_name: 'f' } },
    ], { functions: [{ name: 'f', body: ['again'] }] }));
    const run = await runJob(job, scripted().body, { ...ENGINE, limits: { maxCallDepth: 4 } });
    expect(run.results.find((r) => r.task_id === 'go/again/again/again/again')).toMatchObject({ status: 'failed', error_code: 'CALL_DEPTH' });
    expect(run.results.find((r) => r.task_id === 'go')).toMatchObject({ status: 'failed', error_code: 'CALL_DEPTH' });
    // Each level names its failed member and the root cause once: the chain is not repeated (nor cut off in the .last).
    const root = 'call go/again/again/again/again to f is nested 5 deep; the limit is 4';
    expect(run.results.find((r) => r.task_id === 'go')!.error).toBe(`go/again failed: ${root}`);
    expect(run.results.find((r) => r.task_id === 'go/again/again')!.error).toBe(`go/again/again/again failed: ${root}`);
  });

  it('a call whose arguments fail says so for its body\'s members, not "never called"', async () => {
    const job = decodeJob(program([
      { id: 'call', task_type: 'function_call', function_call: { function_name: 'f', arguments: { n: 'text' } } },
      { id: 'ask' },
    ], { functions: [{ name: 'f', parameters: [{ name: 'n', type: 'number' }], body: ['ask'] }] }));
    const run = await runJob(job, scripted().body, ENGINE);
    expect(run.results.find((r) => r.task_id === 'call')).toMatchObject({ status: 'failed', error_code: 'VARIABLE_TYPE' });
    expect(run.skipped).toEqual([{ segment_id: 'ask', reason: 'the call call to f failed before its body ran (VARIABLE_TYPE)' }]);
  });

  it('INSTANCE_LIMIT when a loop would create more instances than the job may', async () => {
    const job = decodeJob(program([
      { id: 'many', task_type: 'control_flow', loop: { type: 'for_range', variable: 'i', start: 0, end: 50, body: ['w'] } },
      { id: 'w' },
    ]));
    const run = await runJob(job, scripted().body, { ...ENGINE, limits: { maxInstances: 20 } });
    expect(run.results.find((r) => r.task_id === 'many')).toMatchObject({ status: 'failed', error_code: 'INSTANCE_LIMIT' });
  });

  it('VARIABLE_TYPE when a typed variable receives another type', async () => {
    const job = decodeJob(program([
      { id: 'call', task_type: 'function_call', function_call: { function_name: 'f', result_variable: 'count' } },
      { id: 'ask' },
    ], { global_variables: [{ name: 'count', type: 'number', value: 0 }], functions: [{ name: 'f', return_type: 'string', body: ['ask'] }] }));
    const run = await runJob(job, scripted().body, ENGINE);
    expect(run.results.find((r) => r.task_id === 'call')).toMatchObject({ status: 'failed', error_code: 'VARIABLE_TYPE' });
  });

  it('FUNCTION_RETURN when the value does not convert to the return type', async () => {
    const job = decodeJob(program([
      { id: 'call', task_type: 'function_call', function_call: { function_name: 'f' } },
      { id: 'ask' },
    ], { functions: [{ name: 'f', return_type: 'number', body: ['ask'] }] }));
    const run = await runJob(job, scripted([[/do ask/, ['not a number']]]).body, ENGINE);
    expect(run.results.find((r) => r.task_id === 'call')).toMatchObject({ status: 'failed', error_code: 'FUNCTION_RETURN' });
    const ok = await runJob(job, scripted([[/do ask/, [' 42 ']]]).body, ENGINE);
    expect(ok.results.find((r) => r.task_id === 'call')).toMatchObject({ status: 'completed', metadata: { control: { construct: 'function_call', return: 42 } } });
  });

  it('lists an unresolved reference and leaves it as written', async () => {
    const job = decodeJob(program([{ id: 'a', content: 'uses ${nowhere.to.be.found} and $$5' }]));
    const s = scripted();
    const run = await runJob(job, s.body, ENGINE);
    expect(s.calls[0].text).toBe('uses ${nowhere.to.be.found} and $5');
    expect(run.results[0].metadata.unresolved_references).toEqual(['nowhere.to.be.found']);
  });
});

describe('random well-formed programs', () => {
  /** A random program: top-level tasks, conditions, loops (for_range / while on a counter) and calls, nested up to three deep. */
  const programs = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.record({ kind: fc.constant('task' as const), answer: fc.constantFrom('yes', 'no', '["a","b"]', '3') }),
      fc.record({ kind: fc.constant('cond' as const), op: fc.constantFrom('eq', 'neq', 'contains', 'gt'), right: fc.constantFrom('yes', 'no', 3, 'a'), then: fc.array(tie('node'), { maxLength: 2 }), else: fc.array(tie('node'), { maxLength: 2 }) }),
      fc.record({ kind: fc.constant('range' as const), end: fc.integer({ min: 0, max: 4 }), body: fc.array(tie('node'), { maxLength: 2 }) }),
      fc.record({ kind: fc.constant('call' as const), body: fc.array(tie('node'), { maxLength: 2 }) }),
    ),
  })).node;
  type Node = { kind: 'task'; answer: string } | { kind: 'cond'; op: string; right: unknown; then: Node[]; else: Node[] } | { kind: 'range'; end: number; body: Node[] } | { kind: 'call'; body: Node[] };

  function toDoc(roots: Node[]): string {
    const segments: Record<string, unknown>[] = [];
    const functions: Record<string, unknown>[] = [];
    let n = 0;
    const emit = (node: Node): string => {
      const id = `s${n++}`;
      if (node.kind === 'task') segments.push({ id, content: `answer ${node.answer}` });
      else if (node.kind === 'cond') {
        const then = node.then.map(emit);
        const other = node.else.map(emit);
        segments.push({ id, task_type: 'control_flow', condition: { condition: { operator: node.op, left: `s${Math.max(0, n - 3)}.text`, right: node.right }, if_body: then, else_body: other } });
      } else if (node.kind === 'range') {
        const body = node.body.map(emit);
        segments.push({ id, task_type: 'control_flow', loop: { type: 'for_range', variable: 'i', start: 0, end: node.end, body } });
      } else {
        const body = node.body.map(emit);
        functions.push({ name: `f${id}`, body });
        segments.push({ id, task_type: 'function_call', function_call: { function_name: `f${id}` } });
      }
      return id;
    };
    roots.forEach(emit);
    // Every generated segment appears once; its dependencies stay inside its own block (none here).
    return program(segments, { functions, global_variables: [{ name: 'count', type: 'number', value: 0 }] });
  }

  it('always end within the limits, with every instance in a final state', async () => {
    await fc.assert(fc.asyncProperty(fc.array(programs, { minLength: 1, maxLength: 4 }), async (roots) => {
      const r = decodeAlt(toDoc(roots as Node[]));
      if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
      const body: TaskBody = async (task) => output(task.text.replace('answer ', ''));
      const run = await runJob(r.job, body, { ...ENGINE, limits: { maxIterations: 10, maxCallDepth: 4, maxInstances: 200 } });
      expect(run.stopped).toBeNull();
      expect(run.results.length).toBeLessThanOrEqual(200);
      for (const x of run.results) expect(['completed', 'failed', 'cancelled', 'timeout']).toContain(x.status);
      const last = lastOf(r.job, run);
      expect(validLast.problems(last)).toEqual([]);
      const nodeIds = new Set(last.execution_graph!.nodes.map((x) => x.id));
      for (const e of last.execution_graph!.edges) expect(nodeIds.has(e.source) && nodeIds.has(e.target)).toBe(true);
    }), { numRuns: 300 });
  });
});
