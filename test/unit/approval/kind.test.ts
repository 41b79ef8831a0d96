/** Approval tasks: the kind wherever it is given, the decoder's check (ALT_APPROVAL), and the body's three ends. */
import { describe, expect, it } from '@jest/globals';
import { withApprovals, type ApprovalContext } from '../../../src/approval/body.ts';
import { isApprovalTask, type Decision } from '../../../src/approval/kind.ts';
import { decodeAlt } from '../../../src/alt/decode.ts';
import type { TaskContext } from '../../../src/engine/types.ts';

const runner = (parameters: Record<string, unknown>, extra: Record<string, unknown> = {}) => JSON.stringify({
  id: 'ap', version: '1.0', created_at: '2025-05-01T00:00:00Z', title: 't', tasks: [{ id: 'r', description: 'Send it?', dependencies: [], parameters, ...extra }],
});

describe('the approval kind', () => {
  it('is read from parameters.task_type, a task_type, and a 2.0 segment', () => {
    const a = decodeAlt(runner({ task_type: 'approval' }));
    expect(a.ok && isApprovalTask(a.job.tasks[0])).toBe(true);
    const seg = decodeAlt('version: "1.0"\nid: s\ncommand: c\nsegments:\n  - {id: r, task_type: Approval, content: "ok?"}\n');
    expect(seg.ok && isApprovalTask(seg.job.tasks[0])).toBe(true);
    const two = decodeAlt(JSON.stringify({ id: 'e', version: '2.0', timestamp: '2025-05-02T11:00:00Z', command: 'c', language: 'en', mode: 'Normal', persona: 'p', chaos_level: null, global_variables: [], functions: [], segments: [{ id: 'r', task_type: 'approval', content: 'ok?', parameters: [], dependencies: [], metadata: {} }] }));
    expect(two.ok && isApprovalTask(two.job.tasks[0])).toBe(true);
    const plain = decodeAlt(runner({}));
    expect(plain.ok && isApprovalTask(plain.job.tasks[0])).toBe(false);
  });

  it.each([
    [{ task_type: 'approval', approval_timeout_s: -1 }, 'approval_timeout_s'],
    [{ task_type: 'approval', approval_timeout_s: 'soon' }, 'approval_timeout_s'],
    [{ task_type: 'approval', approval_timeout_s: 5, on_timeout: 'maybe' }, 'on_timeout'],
    [{ task_type: 'approval', on_timeout: 'approve' }, 'on_timeout'],
  ])('refuses %j with ALT_APPROVAL at /tasks/0/parameters/%s', (parameters, field) => {
    const r = decodeAlt(runner(parameters));
    expect(r.ok ? null : [r.error.code, r.error.problems[0].pointer]).toEqual(['ALT_APPROVAL', `/tasks/0/parameters/${field}`]);
  });
});

describe('the approval body', () => {
  const decoded = decodeAlt(runner({ task_type: 'approval', approval_timeout_s: 5, on_timeout: 'approve' }));
  if (!decoded.ok) throw decoded.error;
  const task = decoded.job.tasks[0];
  const ctx = (approvals?: Map<string, Decision>): TaskContext<ApprovalContext> => ({ job: decoded.job, key: 'r', attempt: 1, signal: new AbortController().signal, dependencyOutputs: new Map(), context: approvals ? { approvals } : {} });
  const ai = withApprovals<ApprovalContext>(async () => ({ text: 'ai', model_used: 'm', tokens_used: 0, processing_time_ms: 0 }));
  const decision = (d: Decision['decision']) => new Map([['r', { task: 'r', decision: d, comment: 'c', by: 'me', decided_at: '2026-01-01T00:00:00.000Z' }]]);

  it('parks without a decision, with the question and the timeout', async () => {
    await expect(ai(task, ctx())).rejects.toMatchObject({ code: 'JOB_PARKED', context: { taskId: 'r', question: 'Send it?', timeoutS: 5, onTimeout: 'approve' } });
  });

  it('ends with the decision: approved (its output), rejected, failed by the timeout', async () => {
    expect(JSON.parse((await ai(task, ctx(decision('approved')))).text)).toEqual({ decision: 'approved', comment: 'c', by: 'me', decided_at: '2026-01-01T00:00:00.000Z' });
    await expect(ai(task, ctx(decision('rejected')))).rejects.toMatchObject({ code: 'APPROVAL_REJECTED' });
    await expect(ai(task, ctx(decision('failed')))).rejects.toMatchObject({ code: 'APPROVAL_TIMEOUT' });
  });

  it('leaves every other task to the AI body', async () => {
    const plain = decodeAlt(runner({}));
    if (!plain.ok) throw plain.error;
    expect((await ai(plain.job.tasks[0], ctx())).text).toBe('ai');
  });
});
