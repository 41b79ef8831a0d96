/**
 * Fallback chains end to end: a worker process with two AI endpoints (two fake orchestrators),
 * counting the requests each fake received; the chain from AI_FALLBACK and from a task's
 * parameters.fallback; the .last records and the metric.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { FakeOrchestrator } from '../../src/ai/fake-orchestrator.ts';
import { freePort } from '../../src/devtools/nats-server.ts';
import { Harness, WorkerProcess, eventually } from '../helpers/runner.ts';

let h: Harness | undefined;
let backup: FakeOrchestrator | undefined;
afterEach(async () => {
  await h?.close();
  await backup?.close();
  h = undefined;
  backup = undefined;
});

const tasksJob = (id: string, n: number, parameters: Record<string, unknown> = {}) => JSON.stringify({
  id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `job ${id}`,
  tasks: Array.from({ length: n }, (_, i) => ({ id: `t${i + 1}`, description: `step ${i + 1} of ${id}`, dependencies: i ? [`t${i}`] : [], parameters })),
});

describe('fallback chains (worker process, two fake orchestrators)', () => {
  it('first model down: every task answers from the second, at most one failed request per task; the .last and the metric say so', async () => {
    h = await Harness.start(undefined, { errorRate: 1, errorStatus: 503 });
    backup = new FakeOrchestrator();
    const port = await freePort();
    await h.worker({
      AI_ENDPOINTS: `backup=orchestrator@${await backup.listen()}`, AI_FALLBACK: 'backup/fake-small', HTTP_PORT: String(port),
      AI_BREAKER_THRESHOLD: '3', AI_BREAKER_HALF_OPEN_MS: '60000',
    });
    await h.publish(tasksJob('fb-down', 10));
    const [{ last }] = await h.waitForLasts(1);
    expect(last.status).toBe('success');
    const results = Object.values(last.task_results);
    expect(results).toHaveLength(10);
    for (const r of results) {
      expect(r.output?.model_used).toBe('fake-small');
      expect((r.output?.fallback as { answered: string }).answered).toBe('backup/fake-small');
    }
    // The first endpoint saw one failed request per task until its pair's breaker opened (3), then none.
    expect(h.fake.stats.requests).toBe(3);
    expect(backup.stats.requests).toBe(10);
    const metrics = await eventually(async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), (t) => /altlas_ai_fallbacks_total\{[^}]*from="default\/default"[^}]*\} 10$/m.test(t), 'the fallback metric');
    expect(metrics).toMatch(/altlas_ai_fallbacks_total\{[^}]*to="backup\/fake-small"[^}]*\} 10$/m);
  }, 60_000);

  it('both up: the first always answers, the second receives nothing (a task\'s own chain)', async () => {
    h = await Harness.start();
    backup = new FakeOrchestrator();
    await h.worker({ AI_ENDPOINTS: `backup=orchestrator@${await backup.listen()}` });
    await h.publish(tasksJob('fb-up', 10, { fallback: [{ provider: 'backup', model: 'fake-small' }] }));
    const [{ last }] = await h.waitForLasts(1);
    for (const r of Object.values(last.task_results)) {
      expect(r.output?.model_used).toBe('default');
      expect(r.output?.fallback).toEqual({ answered: 'default/default', tried: [{ pair: 'default/default', failure: null, attempts: 1 }] });
    }
    expect(h.fake.stats.requests).toBe(10);
    expect(backup.stats.requests).toBe(0);
  }, 60_000);

  it('an invalid AI_ENDPOINTS stops the worker at start with exit 2', async () => {
    h = await Harness.start();
    const w = new WorkerProcess(h.env({ AI_ENDPOINTS: 'backup' }));
    expect((await w.exited).code).toBe(2);
    expect(w.lines.join('\n')).toContain('AI_ENDPOINTS');
  }, 60_000);
});
