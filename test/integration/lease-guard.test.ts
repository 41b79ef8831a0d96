/**
 * The lease is checked against the clock immediately before each AI request: a run whose lease
 * ran out while it waited (a stall, a pause of the process: here a jump of an injected clock)
 * makes no AI request, counted at the fake AI. Each layer is tested alone: the engine's check
 * before an attempt, and the check where the request is handed to the transport (after the
 * steps, which may wait).
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { FakeOrchestrator } from '../../src/ai/fake-orchestrator.ts';
import { aiTaskBody } from '../../src/tasks/ai-task-body.ts';
import { PASS_THROUGH, type CallSteps } from '../../src/ai/steps.ts';
import { Engine } from '../../src/engine/engine.ts';
import { AltlasError } from '../../src/errors.ts';
import { leaseTiming } from '../../src/messaging/lease-timing.ts';
import { Leases, type LeasedDelivery } from '../../src/messaging/leases.ts';
import type { RunContext } from '../../src/messaging/run-context.ts';
import { contextLogger, createLogger } from '../../src/telemetry/logger.ts';
import { testClient, until } from '../helpers/ai.ts';
import { ENGINE, deferred, makeJob, output } from '../helpers/engine.ts';
import { PassThrough } from 'node:stream';

let fake: FakeOrchestrator | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const delivery = (at: number): LeasedDelivery => ({ seq: 7, deliveries: 1, receivedAt: at, renew: async () => true });

function leaseOn(clock: { t: number }) {
  const leases = new Leases({ timing: leaseTiming(5_000), connected: () => true, now: () => clock.t });
  const lease = leases.hold(delivery(clock.t), () => {});
  const guard = () => (leases.valid(lease) ? null : new AltlasError('LEASE_LOST', 'the lease of message 7 was lost'));
  return { leases, lease, guard };
}

const log = contextLogger(createLogger({ level: 'error', stream: new PassThrough(), pretty: false }), {});

describe('the lease check immediately before each AI request', () => {
  it('stops a call whose lease ran out while it waited in the steps: the fake AI gets no request', async () => {
    fake = new FakeOrchestrator({ latencyMs: 10 });
    const url = await fake.listen();
    const clock = { t: 1_000_000 };
    const { guard } = leaseOn(clock);
    // The second call waits at the gate (a lane, a budget) while the process is paused.
    const held = deferred<void>();
    let entered = 0;
    const steps: CallSteps = {
      ...PASS_THROUGH,
      gate: { enter: async () => { if (++entered === 2) await held.promise; return { leave() {} }; } },
    };
    const body = aiTaskBody(testClient(url, { steps }), { defaultModel: 'default' });
    const engine = new Engine({ ...ENGINE, body });
    const context: RunContext = { log, guard };
    const run = engine.run(makeJob([{ id: 'a' }, { id: 'b', deps: ['a'] }]), { context, guard });
    await until(() => entered === 2, 'the second call at the gate');
    expect(fake.stats.requests).toBe(1);
    // The engine checked the lease before the attempt; then the process stalled past the lease.
    clock.t += 4_001;
    held.resolve();
    const result = await run;
    expect(result.stopped?.code).toBe('LEASE_LOST');
    expect(fake.stats.requests).toBe(1);
    expect(result.results.map((r) => [r.task_id, r.status, r.error_code])).toEqual([['a', 'completed', null], ['b', 'failed', 'LEASE_LOST']]);
  });

  it('lets the call out while the lease holds', async () => {
    fake = new FakeOrchestrator({ latencyMs: 10 });
    const url = await fake.listen();
    const clock = { t: 1_000_000 };
    const { guard } = leaseOn(clock);
    const body = aiTaskBody(testClient(url), { defaultModel: 'default' });
    const run = await new Engine({ ...ENGINE, body }).run(makeJob([{ id: 'a' }, { id: 'b', deps: ['a'] }]), { context: { log, guard } satisfies RunContext, guard });
    expect(run.stopped).toBeNull();
    expect(fake.stats.requests).toBe(2);
  });

  it('the engine refuses an attempt (the body is not called) once the lease ran out between two tasks', async () => {
    const clock = { t: 1_000_000 };
    const { guard } = leaseOn(clock);
    const called: string[] = [];
    const engine = new Engine({
      ...ENGINE,
      body: async (task) => {
        called.push(task.id);
        // The process stalls right after the first task's answer.
        clock.t += 4_500;
        return output(task.id);
      },
    });
    const run = await engine.run(makeJob([{ id: 'a' }, { id: 'b', deps: ['a'] }]), { guard });
    expect(called).toEqual(['a']);
    expect(run.stopped?.code).toBe('LEASE_LOST');
  });
});
