import { describe, expect, it } from '@jest/globals';
import { decodeOk, runnerDoc } from '../../helpers/alt.ts';

describe('decode warnings', () => {
  const codes = (doc: unknown) => decodeOk(doc).warnings.map((w) => `${w.code} ${w.pointer}`);

  it('W_NO_TASKS for a job without tasks (not an error)', () => {
    expect(codes(runnerDoc([]))).toEqual(['W_NO_TASKS /tasks']);
  });

  it('W_TIMEOUT_RANGE for timeout 0 or over 7200 seconds', () => {
    expect(codes(runnerDoc([{ id: 'a', timeout_seconds: 0 }, { id: 'b', dependencies: ['a'], timeout_seconds: 7201 }, { id: 'c', dependencies: ['b'], timeout_seconds: 7200 }])))
      .toEqual(['W_TIMEOUT_RANGE /tasks/0/timeout_seconds', 'W_TIMEOUT_RANGE /tasks/1/timeout_seconds']);
  });

  it('W_RETRY_COUNT over 20', () => {
    expect(codes(runnerDoc([{ id: 'a', retry_count: 21 }]))).toEqual(['W_RETRY_COUNT /tasks/0/retry_count']);
  });

  it('W_EMPTY_PARAMETERS for an empty parameters map', () => {
    expect(codes(runnerDoc([{ id: 'a', parameters: {} }]))).toEqual(['W_EMPTY_PARAMETERS /tasks/0/parameters']);
  });

  it('W_ISOLATED_TASK for a task without dependencies or dependents among several', () => {
    expect(codes(runnerDoc([{ id: 'a' }, { id: 'b', dependencies: ['a'] }, { id: 'lonely' }]))).toEqual(['W_ISOLATED_TASK /tasks/2']);
  });

  it('no W_ISOLATED_TASK when no task depends on another, nor for the shipped segmentation samples or a 2.0 body', async () => {
    expect(codes(runnerDoc([{ id: 'a' }, { id: 'b' }, { id: 'c' }]))).toEqual([]);
    const { readFileSync, readdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { decodeAlt } = await import('../../../src/alt/index.ts');
    const { SAMPLES, CONTROL_FLOW } = await import('../../helpers/paths.ts');
    const files = [...readdirSync(SAMPLES).filter((f) => f.startsWith('segmentation-')).map((f) => join(SAMPLES, f)), ...readdirSync(CONTROL_FLOW).filter((f) => f.endsWith('.yaml')).map((f) => join(CONTROL_FLOW, f))];
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      const r = decodeAlt(readFileSync(f), { hint: f });
      expect({ f, isolated: r.ok ? r.warnings.filter((w) => w.code === 'W_ISOLATED_TASK').length : -1 }).toEqual({ f, isolated: 0 });
    }
  });

  it('W_WHILE_NO_WRITE names the variables a condition reads, never a literal', async () => {
    const { decodeAlt } = await import('../../../src/alt/index.ts');
    const doc = (condition: Record<string, unknown>) => JSON.stringify({
      id: 'w', version: '2.0', timestamp: '2025-01-01T00:00:00Z', command: 'c', global_variables: [{ name: 'n', type: 'number', value: 0 }],
      segments: [{ id: 'spin', task_type: 'control_flow', content: 'x', loop: { type: 'while', condition, body: ['step'] } }, { id: 'step', task_type: 'create', content: 'y' }],
    });
    const warning = (condition: Record<string, unknown>) => {
      const r = decodeAlt(doc(condition));
      if (!r.ok) throw r.error;
      return r.warnings.filter((w) => w.code === 'W_WHILE_NO_WRITE').map((w) => w.message);
    };
    expect(warning({ operator: 'neq', left: 'n', right: 'never' })).toEqual(['nothing in the body of while loop spin writes n, which its condition reads: it runs until LOOP_LIMIT']);
    expect(warning({ operator: 'neq', left: 'always', right: 'never' })).toEqual(['the condition of while loop spin reads no variable (its operands are literals), so nothing in its body can end it: it runs until LOOP_LIMIT']);
    expect(warning({ operator: 'neq', left: 'step', right: 'done' })).toEqual([]);
  });

  it('W_EXPECTED_TIME_ZERO, also read from metadata', () => {
    expect(codes(runnerDoc([{ id: 'a' }], { metadata: { expected_completion_time: 0 } }))).toEqual(['W_EXPECTED_TIME_ZERO /expected_completion_time']);
  });

  it('the task timeout field wins over parameters.timeout_seconds', () => {
    const { job } = decodeOk(runnerDoc([{ id: 'a', timeout_seconds: 5, parameters: { timeout_seconds: 9 } }, { id: 'b', dependencies: ['a'], parameters: { timeout_seconds: 9 } }]));
    expect(job.tasks.map((t) => t.timeout_seconds)).toEqual([5, 9]);
  });

  it('top-level priority and tags win over metadata, and unknown fields are kept', () => {
    const { job } = decodeOk(runnerDoc([{ id: 'a', extra_field: 1 }], { priority: 'low', tags: ['t'], metadata: { priority: 'high', tags: ['m'] }, unknown_top: true }));
    expect([job.priority, job.tags]).toEqual(['low', ['t']]);
  });
});
