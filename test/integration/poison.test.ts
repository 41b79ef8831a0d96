/**
 * A prompt the provider fails every time (a "poison" job) is not an outage: once its trial call
 * fails while the provider's health check answers and another job's call is answered, its tasks fail and the worker goes on
 * with other work, instead of waiting for the AI side for ever.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { Harness, eventually, job } from '../helpers/runner.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('a job whose own calls keep failing', () => {
  it('fails its tasks once another job was answered after its failure, and the worker runs the next job', async () => {
    h = await Harness.start();
    h.fake.setFaults({ errorRules: [{ match: 'POISON500', status: 500 }] });
    const w = await h.worker({ AI_BREAKER_HALF_OPEN_MS: '1000', AI_BREAKER_THRESHOLD: '2', AI_MAX_RETRIES: '1', RUNNER_CONCURRENCY: '1' });
    await h.publish(job('poisoned', 1, 'POISON500'));
    await eventually(async () => w.logs('the AI side is unavailable; the job waits in the worker until it answers again').length, (n) => n >= 1, 'the poisoned job to wait');
    await h.publish(job('healthy', 1));
    const lasts = await h.waitForLasts(2, 60_000);
    const byId = Object.fromEntries(lasts.map((l) => [l.headers?.get('Alt-Id'), l.last]));
    expect(byId.poisoned.status).toBe('failure');
    expect(Object.values(byId.poisoned.task_results).map((r) => { const t = r as { status: string; metadata: { error_code?: string } }; return [t.status, t.metadata.error_code]; })).toEqual([['failed', 'AI_UNAVAILABLE']]);
    expect(byId.healthy.status).toBe('success');
    expect(w.logs('the AI side answers other calls but this job\'s keep failing: its tasks fail instead of waiting')).toHaveLength(1);
  });
});
