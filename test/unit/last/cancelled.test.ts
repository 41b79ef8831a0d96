/**
 * The `.last` of what did not simply run: cancelled jobs (1.0 and 2.0, before and while they run),
 * large outputs cut for their preview, 2.0 artifact names and task time, checked against the
 * ALT_LAS `.last` model (formats.md §4).
 */
import { describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAlt, type Job } from '../../../src/alt/index.ts';
import { runJob } from '../../../src/engine/run-job.ts';
import type { TaskBody } from '../../../src/engine/types.ts';
import { compile } from '../../../src/alt/schema-check.ts';
import { AltlasError } from '../../../src/errors.ts';
import { buildCancelledLast, buildLast } from '../../../src/last/index.ts';
import { LastSchema, type Last } from '../../../src/last/schema.ts';
import { codePoints, cutText, prefixOf } from '../../../src/text.ts';
import { ENGINE, deferred, makeJob, output } from '../../helpers/engine.ts';
import { CONTROL_FLOW } from '../../helpers/paths.ts';

const validLast = compile<Last>(LastSchema);
const ids = (now = Date.now()) => ({ id: randomUUID(), executionId: randomUUID(), uuid: randomUUID, now });
const cancel = () => new AltlasError('JOB_CANCELLED', 'the job was cancelled by an operator');
/** True when a text holds a surrogate that is not half of a pair (invalid Unicode). */
const loneSurrogate = (s: string) => /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

const load = (name: string): Job => {
  const r = decodeAlt(readFileSync(join(CONTROL_FLOW, name)), { hint: name });
  if (!r.ok) throw r.error;
  return r.job;
};

/** A body that never answers until its attempt is aborted. */
const hang = (signal: AbortSignal) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

describe('text cuts', () => {
  it('count code points and never split a surrogate pair or a grapheme cluster', () => {
    const family = '👨‍👩‍👧';
    expect(codePoints('a😀b')).toBe(3);
    expect(prefixOf('😀'.repeat(10), 5)).toBe('😀'.repeat(5));
    expect(prefixOf(`ab${family}`, 4)).toBe('ab');
    expect(prefixOf('éé'.normalize('NFD'), 3)).toBe('é'.normalize('NFD'));
    expect(cutText('😀'.repeat(10), 4)).toBe('😀😀😀…');
    expect(cutText('short', 5)).toBe('short');
    for (let n = 0; n < 12; n++) expect(loneSurrogate(cutText(`x${'😀'.repeat(10)}`, n))).toBe(false);
  });
});

describe('a large output\'s preview', () => {
  it('keeps 2,000 characters of astral text, whole, with no lone surrogate', async () => {
    const text = `x${'😀'.repeat(3_000)}`;
    const job = makeJob([{ id: 'a' }]);
    const run = await runJob(job, async () => output(text), ENGINE);
    const last = buildLast({ job, run, artifacts: { stored: new Set(['a']), url: () => 'altlas+obj://ALT_OUTPUTS/a' } }, ids());
    const preview = last.task_results.a.output!.text;
    expect(loneSurrogate(preview)).toBe(false);
    expect(loneSurrogate(JSON.stringify(last))).toBe(false);
    expect(codePoints(preview)).toBe(2_001);
    expect(preview.endsWith('😀…')).toBe(true);
    expect(last.task_results.a.output).toMatchObject({ truncated: true, size_bytes: Buffer.byteLength(text) });
  });
});

describe('a cancelled job\'s .last', () => {
  it('takes its status from the counts and keeps the cancel in metadata and summary; a task in flight keeps its real time', async () => {
    let clock = 1_000;
    const job = makeJob([{ id: 'a' }, { id: 'b' }, { id: 'c', deps: ['b'] }, { id: 'd', deps: ['c'] }]);
    const controller = new AbortController();
    const bStarted = deferred<void>();
    const body: TaskBody = async (task, ctx) => {
      if (task.id === 'a') return output('a');
      bStarted.resolve();
      return hang(ctx.signal);
    };
    const aDone = deferred<void>();
    const done = runJob(job, body, { ...ENGINE, now: () => clock, onEvent: (e) => e.type === 'task_finished' && e.taskId === 'a' && aDone.resolve() }, controller.signal);
    await Promise.all([aDone.promise, bStarted.promise]);
    clock = 4_484;
    controller.abort(cancel());
    const run = await done;
    const last = buildCancelledLast({ job, run, atMs: clock }, ids(clock));
    expect(validLast.problems(last)).toEqual([]);
    expect([last.status, last.success_rate]).toEqual(['partialsuccess', 0.25]);
    expect(last.metadata).toMatchObject({ error_code: 'JOB_CANCELLED', error: 'the job was cancelled by an operator' });
    expect(last.summary.split('\n')).toEqual(expect.arrayContaining(['- Status: PartialSuccess', '- Successful Tasks: 1', '- Cancelled Tasks: 3', '- Cancelled: the job was cancelled by an operator']));
    expect(last.task_results.b).toMatchObject({ status: 'cancelled', metadata: { error_code: 'JOB_CANCELLED' }, duration_ms: 3_484, start_time: new Date(1_000).toISOString(), end_time: new Date(4_484).toISOString() });
    expect(last.task_results.d).toMatchObject({ status: 'cancelled', metadata: { error_code: 'JOB_CANCELLED' }, duration_ms: 0 });
    expect(last.execution_graph!.nodes.find((n) => n.task_id === 'b')!.duration_ms).toBe(3_484);
  });

  it('keeps the failure of a task that failed before the cancel', async () => {
    const job = makeJob([{ id: 'a' }, { id: 'b' }]);
    const controller = new AbortController();
    const run = await runJob(job, async (task, ctx) => {
      if (task.id === 'a') {
        setImmediate(() => controller.abort(cancel()));
        throw new AltlasError('AI_REJECTED', 'HTTP 400');
      }
      return hang(ctx.signal);
    }, ENGINE, controller.signal);
    const last = buildCancelledLast({ job, run, atMs: Date.now() }, ids());
    expect(last.task_results.a).toMatchObject({ status: 'failed', metadata: { error_code: 'AI_REJECTED' } });
    expect(last.task_results.b).toMatchObject({ status: 'cancelled', metadata: { error_code: 'JOB_CANCELLED' } });
    expect(last.status).toBe('failure');
  });

  it('of a 2.0 program cancelled before it started lists its top-level segments only', () => {
    const job = load('cf-loops.alt.yaml');
    const last = buildCancelledLast({ job, atMs: Date.now() }, ids());
    expect(validLast.problems(last)).toEqual([]);
    expect(Object.keys(last.task_results)).toEqual(['topics', 'each_topic', 'titles']);
    expect(last.summary).toContain('- Total Tasks: 3');
    expect((last.metadata.control_flow as { skipped: { segment_id: string }[] }).skipped.map((s) => s.segment_id)).toEqual(['write', 'title']);
  });

  it('of a 2.0 program cancelled in a loop: no result for an iteration never started, the loop keeps its control metadata', async () => {
    const job = load('cf-loops.alt.yaml');
    const controller = new AbortController();
    const second = deferred<void>();
    const done = runJob(job, async (task, ctx) => {
      if (ctx.key === 'topics') return output('["a", "b", "c"]');
      if (ctx.key === 'each_topic[0]/write') return output('first');
      second.resolve();
      return hang(ctx.signal);
    }, ENGINE, controller.signal);
    await second.promise;
    controller.abort(cancel());
    const run = await done;
    const last = buildCancelledLast({ job, run, atMs: Date.now() }, ids());
    expect(validLast.problems(last)).toEqual([]);
    expect(Object.keys(last.task_results).sort()).toEqual(['each_topic', 'each_topic[0]/write', 'each_topic[1]/write', 'titles', 'topics']);
    expect(last.task_results.each_topic).toMatchObject({ status: 'cancelled', metadata: { error_code: 'JOB_CANCELLED', control: { construct: 'loop', iterations: 1 } } });
    expect(last.task_results.titles.metadata.control).toEqual({ construct: 'loop', iterations: 0 });
    expect(last.summary).toContain('- Total Tasks: 5');
    expect((last.metadata.control_flow as { skipped: { segment_id: string; reason: string }[] }).skipped).toEqual([{ segment_id: 'title', reason: 'not reached: the job stopped (JOB_CANCELLED)' }]);
    // Every edge names a node of the graph.
    const nodes = new Set(last.execution_graph!.nodes.map((n) => n.id));
    for (const e of last.execution_graph!.edges) expect([nodes.has(e.source), nodes.has(e.target)]).toEqual([true, true]);
  });
});

describe('a 2.0 job\'s .last', () => {
  it('adds up the tasks\' own time only, and names artifacts without a path separator', async () => {
    let clock = 0;
    const job = load('cf-loops.alt.yaml');
    const run = await runJob(job, async (_task, ctx) => {
      clock += 10;
      return output(ctx.key === 'topics' ? '["a", "b", "c"]' : `answer of ${ctx.key}`);
    }, { ...ENGINE, now: () => clock });
    const last = buildLast({ job, run }, ids(clock));
    const ai = Object.values(last.task_results).filter((r) => !r.metadata.control);
    expect(ai).toHaveLength(6);
    expect(last.metadata.total_task_duration_ms).toBe(ai.reduce((a, r) => a + r.duration_ms, 0));
    expect(last.metadata.total_task_duration_ms).toBe(60);
    const names = last.artifacts!.map((a) => a.name);
    expect(names).toContain('each_topic[0]__write_output.txt');
    expect(names.filter((n) => n.includes('/'))).toEqual([]);
    expect(new Set(names).size).toBe(names.length);
    expect(last.artifacts!.find((a) => a.name === 'each_topic[0]__write_output.txt')!.task_id).toBe('each_topic[0]/write');
  });
});
