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
