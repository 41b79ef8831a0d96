/** checkKinds on canonical jobs: which tasks it names, where, and how it words the refusal. */
import { describe, expect, it } from '@jest/globals';
import type { Job } from '../../../src/alt/job.ts';
import { checkKinds, kindSkeleton, refusedKind } from '../../../src/alt/kinds.ts';
import { makeJob } from '../../helpers/engine.ts';

function job(kinds: { kind?: string | null; param?: unknown }[], form: Job['source']['form'] = 'runner'): Job {
  const j = makeJob(kinds.map((_, i) => ({ id: `t${i}` })), { id: 'job-k', source: { form, version: '1.0' } });
  kinds.forEach((k, i) => {
    j.tasks[i].kind = k.kind ?? null;
    if (k.param !== undefined) j.tasks[i].parameters = { task_type: k.param };
  });
  return j;
}

describe('checkKinds', () => {
  it('passes a job whose kinds are all allowed (or not strings)', () => {
    expect(checkKinds(job([{ kind: 'analyze' }, { param: 'summarize' }, { param: 42 }, {}]))).toBeNull();
  });

  it('names the first refused task in its message and every refused task in its problems, by place in the file', () => {
    const e = checkKinds(job([{ kind: 'analyze' }, { kind: 'system_command' }, { param: 'file_operations' }]));
    expect(e?.code).toBe('TASK_KIND_FORBIDDEN');
    expect(e?.message).toBe('task kind system_command is not allowed (task t1): the runner never acts on its host');
    expect(e?.problems).toEqual([
      { pointer: '/tasks/1', message: 'task t1 has the forbidden kind system_command' },
      { pointer: '/tasks/2', message: 'task t2 has the forbidden kind file_operation' },
    ]);
    expect(e?.context).toMatchObject({ altId: 'job-k', taskId: 't1' });
  });

  it('points into segments for a 2.0 file, and names a task once even when both its places are refused', () => {
    const e = checkKinds(job([{ kind: 'system_command', param: 'file_operation' }], 'enhanced'));
    expect(e?.problems).toEqual([{ pointer: '/segments/0', message: 'task t0 has the forbidden kind system_command' }]);
  });

  it('quotes a kind that is not plain ASCII, cut to 64 characters', () => {
    const long = `анализ${'x'.repeat(100)}`;
    const e = checkKinds(job([{ kind: long }]));
    const shown = JSON.stringify(long.slice(0, 64));
    expect(e?.message).toBe(`task kind ${shown} (not plain ASCII) is not allowed (task t0): the runner never acts on its host`);
    expect(e?.problems[0].message).toBe(`task t0 has the forbidden kind ${shown} (not plain ASCII)`);
  });
});

describe('refusedKind', () => {
  it('finds a forbidden kind at any word boundary, not inside a word', () => {
    expect(refusedKind('run_system_command')).toEqual({ kind: 'system_command', reason: 'forbidden' });
    expect(refusedKind('SystemCommandV2')).toEqual({ kind: 'system_command', reason: 'forbidden' });
    expect(refusedKind('file_operationes')).toEqual({ kind: 'file_operation', reason: 'forbidden' });
    expect(refusedKind('subsystem_command_docs')).toBeNull();
    expect(refusedKind('xfile_operation')).toBeNull();
    expect(refusedKind('')).toBeNull();
  });
});

describe('kindSkeleton', () => {
  it('has no empty words, whatever separators stand around or between them', () => {
    expect(kindSkeleton('__file--operation  ').words).toEqual(['fiie', 'operation']);
    expect(kindSkeleton('  ').words).toEqual([]);
  });
});

