/**
 * A delivery of a job whose tenant is over a period's budget (BUDGET_TENANT_EXCEEDED=wait), in
 * processDelivery (src/messaging/job-flow.ts): known spent before the job starts, it parks without
 * running a task (no AI call, no delivery spent) or, on a worker without parks, is handed back until
 * the period turns; refused during the run, it parks with what it completed; on its last delivery
 * without parks, and over a job's budget, it ends with a `.last`. A real engine on a recording body,
 * fake stores, no server.
 */
import { describe, expect, it } from '@jest/globals';
import type { ParkInput, ParkRecord, ParkStore } from '../../../src/approval/park.ts';
import type { Budgets } from '../../../src/budget/budgets.ts';
import type { DeliveryInfo } from '../../../src/contract/delivery.ts';
import { Engine } from '../../../src/engine/engine.ts';
import { AltlasError } from '../../../src/errors.ts';
import { processDelivery, type FlowDeps } from '../../../src/messaging/job-flow.ts';
import type { AiGate } from '../../../src/messaging/ai-gate.ts';
import { contextLogger, silentLogger } from '../../../src/telemetry/logger.ts';
import { ENGINE, makeJob, output, recordingBody } from '../../helpers/engine.ts';

const NOW = Date.UTC(2026, 11, 7, 10, 30);
const TURN = Date.UTC(2026, 11, 7, 11);
const MAX_DELIVER = 3;

/** A flow for a two-task job (b after a): `refuseB` makes b's call refused with that code; the tenant is known spent until TURN when `spent`. */
function flow(o: { spent?: boolean; exceeded?: 'wait' | 'fail'; parks?: boolean; refuseB?: 'BUDGET_WAIT' | 'BUDGET_EXCEEDED' | 'JOB_PARKED'; budgets?: 'none' | 'no tenants'; subject?: string; refusedTask?: string }) {
  const job = makeJob([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
  const rec = recordingBody(async (id) => {
    if (id === 'b' && o.refuseB) throw new AltlasError(o.refuseB, 'over the budget', { context: { ...('refusedTask' in o ? { taskId: o.refusedTask } : { taskId: 'b' }), turnsAt: TURN, retryInMs: TURN - NOW } });
    return output(id);
  });
  const parked: ParkInput[] = [];
  const parks = { park: async (p: ParkInput) => ((parked.push(p)), {} as ParkRecord) } as unknown as ParkStore;
  const budgets = {
    tenantExceeded: o.exceeded ?? 'wait',
    tenants: o.budgets === 'no tenants' ? null : { exhaustedUntil: () => (o.spent ? TURN : null) },
    open: () => null,
  } as unknown as Budgets;
  const deps: FlowDeps = {
    rules: { maxDeliver: MAX_DELIVER, nakDelayMs: 1_000, nakMaxDelayMs: 60_000 },
    engine: new Engine({ ...ENGINE, body: rec.body }) as FlowDeps['engine'],
    gate: {} as AiGate,
    decode: async () => ({ ok: true, job, warnings: [] }) as never,
    lastStored: async () => false,
    cancelRequested: () => false,
    budgets: o.budgets === 'none' ? null : budgets,
    parks: o.parks === false ? null : parks,
    now: () => NOW,
  };
  const run = (deliveries = 1) => {
    const d: DeliveryInfo = { data: new Uint8Array(0), subject: o.subject ?? 'alt.medium.acme', stream: 'ALT', seq: 7, deliveries };
    return processDelivery(deps, { d, record: undefined, signal: new AbortController().signal, guard: () => null, log: contextLogger(silentLogger(), {}) });
  };
  return { job, rec, parked, run };
}

describe('a job whose tenant is known over its budget, before it starts', () => {
  it('parks until the period turns without running a task', async () => {
    const { job, rec, parked, run } = flow({ spent: true });
    expect(await run()).toMatchObject({ kind: 'parked', job, task: '', code: 'BUDGET_WAIT', resumeAt: TURN });
    expect(rec.started).toEqual([]);
    expect(parked).toMatchObject([{ altId: job.id, reason: 'budget', resumeAt: TURN, task: '', results: [] }]);
  });

  it('is handed back until the period turns on a worker without parks, without running a task', async () => {
    const { rec, run } = flow({ spent: true, parks: false });
    expect(await run(MAX_DELIVER - 1)).toMatchObject({
      kind: 'handback', error: { code: 'BUDGET_WAIT', message: `tenant acme is over a period's budget until ${new Date(TURN).toISOString()}`, context: { tenant: 'acme', retryInMs: TURN - NOW } },
    });
    expect(rec.started).toEqual([]);
    expect(await flow({ spent: true, parks: false, subject: 'alt.submit' }).run()).toMatchObject({ error: { message: `tenant _ is over a period's budget until ${new Date(TURN).toISOString()}` } });
  });

  it.each([['no budgets', 'none'], ['no tenant budgets', 'no tenants']] as const)('runs on a worker with %s', async (_what, budgets) => {
    const { rec, run } = flow({ spent: true, budgets });
    expect(await run()).toMatchObject({ kind: 'ran' });
    expect(rec.started).toEqual(['a', 'b']);
  });

  it('runs on its last delivery on a worker without parks', async () => {
    const { rec, run } = flow({ spent: true, parks: false });
    expect(await run(MAX_DELIVER)).toMatchObject({ kind: 'ran' });
    expect(rec.started).toEqual(['a', 'b']);
  });

  it('runs when tenants over budget fail instead of waiting (the call is refused then)', async () => {
    const { rec, parked, run } = flow({ spent: true, exceeded: 'fail' });
    expect(await run()).toMatchObject({ kind: 'ran' });
    expect([rec.started, parked]).toEqual([['a', 'b'], []]);
  });
});

describe('a job whose call its tenant\'s budget refuses during the run', () => {
  it('parks at that task with what it completed, until the period turns', async () => {
    const { parked, run } = flow({ refuseB: 'BUDGET_WAIT' });
    expect(await run()).toMatchObject({ kind: 'parked', task: 'b', code: 'BUDGET_WAIT', resumeAt: TURN });
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatchObject({ reason: 'budget', task: 'b', resumeAt: TURN });
    expect(parked[0].results.map((r) => [r.task_id, r.status])).toEqual([['a', 'completed']]);
  });

  it('parks at no task when the refusal names none (a call made outside a task)', async () => {
    const { parked, run } = flow({ refuseB: 'BUDGET_WAIT', refusedTask: undefined });
    expect(await run()).toMatchObject({ kind: 'parked', task: '', code: 'BUDGET_WAIT' });
    expect(parked[0].task).toBe('');
  });

  it('ends with a .last on its last delivery on a worker without parks, and is handed back before', async () => {
    expect(await flow({ refuseB: 'BUDGET_WAIT', parks: false }).run(MAX_DELIVER - 1)).toMatchObject({ kind: 'handback', error: { code: 'BUDGET_WAIT' } });
    const last = await flow({ refuseB: 'BUDGET_WAIT', parks: false }).run(MAX_DELIVER);
    expect(last).toMatchObject({ kind: 'ran', last: { status: 'partialsuccess', metadata: { error_code: 'BUDGET_EXCEEDED' } } });
  });

  it('ends with a .last, not a park, over a budget (BUDGET_EXCEEDED)', async () => {
    const { parked, run } = flow({ refuseB: 'BUDGET_EXCEEDED' });
    const out = await run();
    expect(out).toMatchObject({ kind: 'ran', last: { status: 'partialsuccess', metadata: { error_code: 'BUDGET_EXCEEDED' } } });
    expect(parked).toEqual([]);
  });

  it('ends as any other stop, not with a budget\'s .last, on its last delivery when the stop is not a budget\'s', async () => {
    const out = await flow({ refuseB: 'JOB_PARKED', parks: false }).run(MAX_DELIVER);
    expect(out).toMatchObject({ kind: 'rejected', error: { code: 'JOB_PARKED' } });
  });
});
