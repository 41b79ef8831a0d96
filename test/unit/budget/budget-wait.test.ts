/**
 * A tenant over a period's budget (BUDGET_TENANT_EXCEEDED=wait): the refused call stops its job
 * with BUDGET_WAIT, unless no period can ever hold it (BUDGET_EXCEEDED: the wait would never end);
 * the job parks until the period turns (src/messaging/budget-park.ts: a park record, no run, no
 * delivery spent), and a redelivery of a message whose park was stored is acked without running.
 * On fakes and an injected clock, no server.
 */
import { beforeEach, describe, expect, it } from '@jest/globals';
import { describeCall } from '../../../src/ai/call.ts';
import type { ParkInput, ParkRecord, ParkStore } from '../../../src/approval/park.ts';
import type { Job } from '../../../src/alt/job.ts';
import { JobBudgets, final } from '../../../src/budget/job-budgets.ts';
import { BudgetSteps } from '../../../src/budget/steps.ts';
import { TenantBudgets } from '../../../src/budget/tenant-budgets.ts';
import type { DeliveryInfo } from '../../../src/contract/delivery.ts';
import { budgetWaitMessage, parkForBudget, parkedBefore } from '../../../src/messaging/budget-park.ts';
import { contextLogger, silentLogger } from '../../../src/telemetry/logger.ts';

const NOW = Date.UTC(2026, 11, 7, 10, 30);
const TURN = Date.UTC(2026, 11, 7, 11);

/** A call of job `jobId` of tenant acme whose worst case is `need` tokens (1 byte of prompt, 11 of overhead, the rest max_tokens). */
const call = (need: number, jobId = 'job-a') => describeCall({ prompt: { system: '', user: 'u' }, model: 'm', parameters: { max_tokens: need - 12 }, origin: { jobId, tenant: 'acme', taskKey: 'b' } }, 'openai', false);
const prices = { currency: 'USD', models: { m: { input: 1, output: 1 } } };
/** A job budget of 1,000 tokens and 1 USD (in nano-dollars), nothing spent. */
const JOB_BUDGET = { tokens: 1_000, costNanos: 1e9 };

/** Tenant acme with 100 tokens an hour, of which `spent` are spent; job-a's budget JOB_BUDGET when `jobBudget`. */
async function budgets(o: { exceeded: 'wait' | 'fail'; spent?: number; jobBudget?: boolean; costBudget?: boolean }) {
  const tenants = new TenantBudgets({ doc: { tenants: { acme: { hour: o.costBudget ? { cost: 1 } : { tokens: 100 } } } }, holdTtlMs: 60_000, now: () => NOW });
  if (o.spent) {
    await tenants.reserve('acme', 'before', { tokens: o.spent, costNanos: null });
    tenants.settle('acme', 'before', { tokens: o.spent, costNanos: null });
  }
  const jobs = new JobBudgets();
  if (o.jobBudget) jobs.open('job-a', JOB_BUDGET, { tokens: 0, costNanos: 0 });
  const steps = new BudgetSteps({ jobs, tenants, prices: o.costBudget ? null : prices, maxOutput: 1_000, tenantExceeded: o.exceeded, now: () => NOW });
  return { steps, jobs, tenants };
}

describe('a call its tenant\'s budget refuses', () => {
  it('stops its job with BUDGET_WAIT until the period turns when tenants wait, and the call could fit a period', async () => {
    const { steps } = await budgets({ exceeded: 'wait', spent: 60 });
    await expect(steps.reserve(call(100))).rejects.toMatchObject({
      code: 'BUDGET_WAIT',
      message: `tenant acme's budget per hour of 100 tokens cannot hold this call's worst case of 100: 60 spent; the job waits until ${new Date(TURN).toISOString()}`,
      context: { altId: 'job-a', taskId: 'b', scope: 'tenant', tenant: 'acme', period: 'hour', need: 100, limit: 100, spent: 60, turnsAt: TURN, retryInMs: TURN - NOW },
    });
  });

  it('ends its job with BUDGET_EXCEEDED when tenants fail', async () => {
    const { steps } = await budgets({ exceeded: 'fail', spent: 60 });
    await expect(steps.reserve(call(100))).rejects.toMatchObject({
      code: 'BUDGET_EXCEEDED',
      message: 'tenant acme\'s budget per hour of 100 tokens cannot hold this call\'s worst case of 100: 60 spent',
      context: { scope: 'tenant', need: 100, limit: 100 },
    });
  });

  it('ends its job with BUDGET_EXCEEDED, not a wait, when no period can hold it: past the whole limit, or no price under a cost budget', async () => {
    await expect((await budgets({ exceeded: 'wait' })).steps.reserve(call(101))).rejects.toMatchObject({
      code: 'BUDGET_EXCEEDED', message: expect.stringMatching(/worst case of 101: 0 spent: no period can hold it, so it does not wait$/),
    });
    await expect((await budgets({ exceeded: 'wait', costBudget: true })).steps.reserve(call(20))).rejects.toMatchObject({
      code: 'BUDGET_EXCEEDED', message: 'tenant acme\'s cost budget cannot hold a call to m: the model has no price in AI_PRICES: no period can hold it, so it does not wait',
    });
    await expect((await budgets({ exceeded: 'fail' })).steps.reserve(call(101))).rejects.toMatchObject({
      code: 'BUDGET_EXCEEDED', message: expect.not.stringMatching(/no period/),
    });
  });

  it('gives back what it held of its job\'s budget', async () => {
    const { steps, jobs } = await budgets({ exceeded: 'wait', spent: 60, jobBudget: true });
    await expect(steps.reserve(call(100))).rejects.toMatchObject({ code: 'BUDGET_WAIT' });
    expect(jobs.available('job-a', NOW)).toEqual(JOB_BUDGET);
  });

  it('gives back what it held of its job\'s budget when its wait for the tenant\'s calls in flight is aborted', async () => {
    const { steps, jobs, tenants } = await budgets({ exceeded: 'wait', jobBudget: true });
    expect(await tenants.reserve('acme', 'in-flight', { tokens: 60, costNanos: null })).toBeNull();
    const abort = new AbortController();
    const waiting = steps.reserve(call(50), abort.signal);
    abort.abort(new Error('shutting down'));
    await expect(waiting).rejects.toThrow();
    expect(jobs.available('job-a', NOW)).toEqual(JOB_BUDGET);
  });

  it('is not asked for on a worker without tenant budgets: the job\'s budget alone holds the call', async () => {
    const jobs = new JobBudgets();
    jobs.open('job-a', JOB_BUDGET, { tokens: 0, costNanos: 0 });
    const steps = new BudgetSteps({ jobs, tenants: null, prices, maxOutput: 1_000, tenantExceeded: 'wait', now: () => NOW });
    expect(await steps.reserve(call(100))).toMatchObject({ held: { tokens: 100 } });
  });

  it('is none when it fits: its worst case is held', async () => {
    const { steps } = await budgets({ exceeded: 'wait', spent: 60 });
    expect(await steps.reserve(call(40))).toMatchObject({ held: { tokens: 40 } });
  });
});

describe('final', () => {
  it('is true when the call can never fit what is left (or has no price), false while the calls in flight stand in the way', () => {
    expect(final({ limit: 100, spent: 60, need: 41 })).toBe(true);
    expect(final({ limit: 100, spent: 60, need: 40 })).toBe(false);
    expect(final({ limit: 100, spent: 0, need: null })).toBe(true);
    expect(final({ limit: 100, spent: 60, need: 40 }, 90)).toBe(true);
  });
});

/** A park store that records what is parked, and answers `parkedAt` with `found` (or fails with it). */
function parks(found: ParkRecord | null | Error = null) {
  const parked: { input: ParkInput; now: number }[] = [];
  const store = {
    park: async (input: ParkInput, now: number) => {
      parked.push({ input, now });
      return {} as ParkRecord;
    },
    parkedAt: async () => {
      if (found instanceof Error) throw found;
      return found;
    },
  } as unknown as ParkStore;
  return { store, parked };
}

const job = { id: 'job-a' } as Job;
const d = (deliveries = 1): DeliveryInfo => ({ data: new Uint8Array(0), subject: 'alt.acme.job-a', stream: 'ALT', seq: 7, deliveries });

describe('parkForBudget', () => {
  it('parks the job until the period turns, with what it completed, and says so', async () => {
    const { store, parked } = parks();
    const results = [{ task_id: 't1' }] as never[];
    const out = await parkForBudget(store, { altId: 'job-a', tenant: 'acme', resumeAt: TURN, task: 't2', d: d(), results, from: null, job }, NOW);
    const message = `tenant acme is over a period's budget: the job waits, parked, until ${new Date(TURN).toISOString()}`;
    expect(out).toEqual({ kind: 'parked', job, task: 't2', question: message, code: 'BUDGET_WAIT', resumeAt: TURN });
    expect(parked).toEqual([{ now: NOW, input: { altId: 'job-a', reason: 'budget', resumeAt: TURN, task: 't2', question: message, timeoutS: null, onTimeout: 'fail', d: d(), results, from: null } }]);
  });

  it.each([
    ['in the past', NOW - 5_000],
    ['not a time', Number.NaN],
    ['never', Number.POSITIVE_INFINITY],
  ])('resumes at the next sweep when the period\'s end is %s', async (_what, resumeAt) => {
    const { store, parked } = parks();
    const out = await parkForBudget(store, { altId: 'job-a', tenant: null, resumeAt, task: '', d: d(), results: [], from: null, job }, NOW);
    expect([out.kind === 'parked' && out.resumeAt, parked[0].input.resumeAt]).toEqual([NOW, NOW]);
  });

  it('names the jobs without a tenant by the tenant of no name', () => {
    expect(budgetWaitMessage(null, TURN)).toBe(`tenant _ is over a period's budget: the job waits, parked, until ${new Date(TURN).toISOString()}`);
  });

  it('hands back no outcome when the park cannot be stored', async () => {
    const store = { park: async () => Promise.reject(new Error('bucket gone')) } as unknown as ParkStore;
    await expect(parkForBudget(store, { altId: 'job-a', tenant: 'acme', resumeAt: TURN, task: '', d: d(), results: [], from: null, job }, NOW)).rejects.toThrow('bucket gone');
  });
});

describe('parkedBefore', () => {
  const warned: [string, Record<string, unknown> | undefined][] = [];
  const log = Object.assign(contextLogger(silentLogger(), {}), { warn: (m: string, meta?: Record<string, unknown>) => void warned.push([m, meta]) });
  beforeEach(() => {
    warned.length = 0;
  });
  const park = (o: Partial<ParkRecord>): ParkRecord => ({ alt_id: 'job-a', task: 't2', question: 'q', stream: 'ALT', seq: 7, subject: 's', headers: [], body: 'b', parked_at: '', timeout_at: null, on_timeout: 'fail', ...o });

  it('is none when no park names the message', async () => {
    expect(await parkedBefore(parks(null).store, job, d(2), log, 5)).toBeNull();
  });

  it('acks without running a message whose budget park was stored, until the period turns', async () => {
    const found = park({ reason: 'budget', resume_at: new Date(TURN).toISOString() });
    expect(await parkedBefore(parks(found).store, job, d(2), log, 5)).toEqual({ kind: 'parked', job, task: 't2', question: 'q', code: 'BUDGET_WAIT', resumeAt: TURN });
    expect(warned).toEqual([['an earlier delivery of this message parked the job (its ack was lost): acked without running; the park resumes it', { code: 'BUDGET_WAIT' }]]);
  });

  it('acks without running a message whose approval park was stored', async () => {
    expect(await parkedBefore(parks(park({})).store, job, d(2), log, 5)).toEqual({ kind: 'parked', job, task: 't2', question: 'q' });
    expect(warned.map(([, meta]) => meta)).toEqual([{ code: 'JOB_PARKED' }]);
  });

  it('takes a park its resume holds already as done before', async () => {
    expect(await parkedBefore(parks(park({ reason: 'budget', resumed_seq: 12 })).store, job, d(2), log, 5)).toEqual({ kind: 'done_before', job, heldBy: 12 });
  });

  it('fails closed when the park cannot be read while deliveries remain, and runs the job on the last one', async () => {
    await expect(parkedBefore(parks(new Error('timeout')).store, job, d(4), log, 5)).rejects.toMatchObject({
      code: 'CHECKPOINTS_UNAVAILABLE', message: 'could not read whether message 7 parked its job: timeout', cause: new Error('timeout'), context: { altId: 'job-a' },
    });
    expect(warned).toEqual([]);
    expect(await parkedBefore(parks(new Error('timeout')).store, job, d(5), log, 5)).toBeNull();
    expect(warned).toEqual([['could not read whether an earlier delivery parked the job, on its last delivery; the job runs', { error: 'timeout' }]]);
  });
});
