/**
 * The engine's lease guard: checked before every AI attempt, first and retried alike; once it
 * refuses, no further call is made and the run stops with the guard's error.
 */
import { describe, expect, it } from '@jest/globals';
import { AltlasError } from '../../../src/errors.ts';
import { Engine } from '../../../src/engine/engine.ts';
import { ENGINE, makeJob, output } from '../../helpers/engine.ts';

describe('Engine: the guard before each AI attempt', () => {
  it('makes no call once the guard refuses, and stops the run with its error', async () => {
    const calls: string[] = [];
    let lost = false;
    const engine = new Engine({
      ...ENGINE,
      body: async (task) => {
        calls.push(task.id);
        // The lease is lost while the first call is out.
        lost = true;
        return output(task.id);
      },
    });
    const job = makeJob([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c', deps: ['b'] }]);
    const run = await engine.run(job, { guard: () => (lost ? new AltlasError('LEASE_LOST', 'the lease went unrenewed') : null) });
    expect(calls).toEqual(['a']);
    expect(run.stopped?.code).toBe('LEASE_LOST');
    const b = run.results.find((r) => r.task_id === 'b');
    expect(b).toMatchObject({ status: 'cancelled', error_code: 'LEASE_LOST', attempts: 0 });
    expect(run.results.find((r) => r.task_id === 'c')?.status).not.toBe('completed');
  });

  it('is asked again before a retry: a lease lost after a failed attempt stops the retry', async () => {
    let attempts = 0;
    let guarded = 0;
    const engine = new Engine({
      ...ENGINE, retry: { baseMs: 1, maxMs: 1 },
      body: async () => {
        attempts++;
        throw new Error('the AI answered garbage');
      },
    });
    const job = makeJob([{ id: 'a', retries: 3 }]);
    const run = await engine.run(job, { guard: () => (++guarded > 1 ? new AltlasError('LEASE_LOST', 'lost') : null) });
    expect(attempts).toBe(1);
    expect(guarded).toBe(2);
    expect(run.stopped?.code).toBe('LEASE_LOST');
    expect(run.results[0]).toMatchObject({ status: 'cancelled', error_code: 'LEASE_LOST', attempts: 1 });
  });

  it('a run given no guard runs every task', async () => {
    const engine = new Engine({ ...ENGINE, body: async (task) => output(task.id) });
    const run = await engine.run(makeJob([{ id: 'a' }, { id: 'b', deps: ['a'] }]), {});
    expect(run.stopped).toBeNull();
    expect(run.results.map((r) => r.status)).toEqual(['completed', 'completed']);
  });

  it('without a refusal, every attempt runs', async () => {
    let attempts = 0;
    const engine = new Engine({
      ...ENGINE, retry: { baseMs: 1, maxMs: 1 },
      body: async () => {
        if (++attempts < 3) throw new Error('flaky');
        return output('ok');
      },
    });
    const run = await engine.run(makeJob([{ id: 'a', retries: 3 }]), { guard: () => null });
    expect(attempts).toBe(3);
    expect(run.stopped).toBeNull();
    expect(run.results[0]).toMatchObject({ status: 'completed', attempts: 3 });
  });
});
