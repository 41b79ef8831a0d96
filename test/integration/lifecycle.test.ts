/** The worker's start, stop and failure branches, as an operator meets them: exit codes, hand-backs, readiness. */
import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { Delivery } from '../../src/contract/delivery.ts';
import { inProcessWorker, type InProcessWorker } from '../helpers/in-process.ts';
import { ROOT } from '../helpers/paths.ts';
import { freePort } from '../../src/devtools/nats-server.ts';

let h: Harness | undefined;
let inproc: InProcessWorker | undefined;
const restore: (() => void)[] = [];
afterEach(async () => {
  for (const r of restore.splice(0)) r();
  await inproc?.close();
  inproc = undefined;
  await h?.close();
  h = undefined;
});

describe('worker start-up and shutdown', () => {
  it('an idle worker exits 0 on SIGTERM once its last pull request has expired: within 5.5 s, or half the ack wait + 0.5 s', async () => {
    h = await Harness.start();
    // An idle worker always has a pull request waiting on the server; the margin covers a busy machine.
    const stop = async (w: Awaited<ReturnType<Harness['worker']>>) => {
      const t0 = Date.now();
      w.kill('SIGTERM');
      const exit = await w.exited;
      return { code: exit.code, ms: exit.at - t0 };
    };
    // The first worker creates the consumer: an ack wait of 2 s makes its requests expire after 1 s.
    const short = await stop(await h.worker({ RUNNER_ACK_WAIT_MS: '2000' }));
    await h.jsm.consumers.delete('ALT', 'runner');
    const long = await stop(await h.worker());
    expect([short.code, long.code]).toEqual([0, 0]);
    expect(short.ms).toBeLessThan(1_500 + 3_000);
    expect(long.ms).toBeLessThan(5_500 + 3_000);
    // Its last line says why it ended.
    expect(h.workers.map((w) => w.logs('process exit'))).toEqual([[expect.objectContaining({ code: 0, reason: 'signal SIGTERM: shut down' })], [expect.objectContaining({ code: 0, reason: 'signal SIGTERM: shut down' })]]);
  });

  it('stops gracefully on SIGHUP as on SIGTERM, also one that came while it was stopped (exit 0, its last line says why)', async () => {
    h = await Harness.start();
    // What the kernel does to a stopped process whose process group loses its last link to its session: SIGHUP, then SIGCONT.
    const w = await h.worker();
    w.kill('SIGSTOP');
    w.kill('SIGHUP');
    w.kill('SIGCONT');
    const exit = await w.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(w.logs('shutting down')).toEqual([expect.objectContaining({ signal: 'SIGHUP' })]);
    expect(w.logs('process exit')).toEqual([expect.objectContaining({ code: 0, reason: 'signal SIGHUP: shut down' })]);
  });

  it('exits 2 listing every invalid variable, without connecting anywhere', async () => {
    const proc = spawn(join(ROOT, 'bin', 'altlas'), ['worker'], { env: { ...process.env, RUNNER_CONCURRENCY: 'many', LOG_LEVEL: 'loud', NATS_URL: 'nats://127.0.0.1:1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
    expect(code).toBe(2);
    expect(err).toMatch(/RUNNER_CONCURRENCY="many"/);
    expect(err).toMatch(/LOG_LEVEL="loud"/);
  });

  it('exits 2 with TOPOLOGY_MISMATCH when the ALT stream does not cover its subjects, and changes nothing', async () => {
    h = await Harness.start();
    await h.jsm.streams.add({ name: 'ALT', subjects: ['other.>'] });
    await expect(h.worker()).rejects.toThrow(/worker exited before it started/);
    const w = h.workers.at(-1)!;
    expect((await w.exited).code).toBe(2);
    expect(w.logs('worker could not start')[0]).toMatchObject({ code: 'TOPOLOGY_MISMATCH', error: expect.stringContaining('do not cover alt.>') });
    expect(w.logs('process exit')).toEqual([expect.objectContaining({ code: 2, reason: 'could not start: TOPOLOGY_MISMATCH' })]);
    expect((await h.jsm.streams.info('ALT')).config.subjects).toEqual(['other.>']);
  });

  it('exits at once with 130 on a second signal', async () => {
    h = await Harness.start();
    h.fake.setFaults({ latencyMs: 60_000 });
    const w = await h.worker({ RUNNER_SHUTDOWN_GRACE_MS: '60000' });
    await h.publish(job('long', 1));
    await eventually(async () => h!.fake.stats.requests, (n) => n === 1, 'the job in flight');
    w.kill('SIGTERM');
    await eventually(async () => w.logs('waiting for in-flight jobs'), (l) => l.length === 1, 'the grace period');
    w.kill('SIGINT');
    const exit = await w.exited;
    expect(exit.code).toBe(130);
    expect(w.logs('second signal: exiting now')).toHaveLength(1);
    expect(w.logs('process exit')).toEqual([expect.objectContaining({ code: 130, reason: 'second signal SIGINT: exiting at once' })]);
  });
});

describe('I/O failures while settling', () => {
  it('naks a rejected job whose DLQ copy cannot be written, and dead-letters it once the DLQ is back', async () => {
    h = await Harness.start();
    const w = await h.worker({ RUNNER_NAK_DELAY_MS: '200', RUNNER_MAX_DELIVER: '20' });
    const dlqConfig = (await h.jsm.streams.info('ALT_DLQ')).config;
    await h.jsm.streams.delete('ALT_DLQ');
    await h.publish('{"id": "broken-1", "tasks": [');
    await eventually(async () => w.logs('could not write the DLQ copy; the message will be redelivered'), (l) => l.length >= 1, 'the failed DLQ write');
    expect((await h.jsm.streams.info('ALT')).state.messages).toBe(1);
    await h.jsm.streams.add(dlqConfig);
    const dlq = await eventually(() => h!.records('ALT_DLQ'), (r) => r.length === 1, 'the DLQ copy');
    expect(dlq[0].subject).toBe('dlq.alt.ALT_SYNTAX');
    await eventually(() => h!.jsm.streams.info('ALT'), (i) => i.state.messages === 0, 'the message to leave ALT');
  });

  it('leaves a message it runs to its own settlement when the max-deliveries advisory comes', async () => {
    h = await Harness.start();
    h.fake.setFaults({ latencyMs: 3_000 });
    // Renewals that never reach the server though the worker takes them as confirmed: JetStream exhausts the message while it runs here.
    const renew = Delivery.prototype.renew;
    Delivery.prototype.renew = async function lostOnTheWay() {
      return true;
    };
    restore.push(() => (Delivery.prototype.renew = renew));
    inproc = await inProcessWorker(h, { RUNNER_ACK_WAIT_MS: '1000', RUNNER_MAX_DELIVER: '2' });
    await h.publish(job('still-mine', 1));
    const [{ last }] = await h.waitForLasts(1, 30_000);
    expect(last.status).toBe('success');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await h.records('ALT_DLQ')).toHaveLength(0);
    expect(inproc.logs('job finished')).toHaveLength(1);
    expect(inproc.lines.filter((l) => l.code === 'DUPLICATE_LAST')).toHaveLength(0);
  });
});

describe('readiness', () => {
  it('reports not ready while the AI breaker is open, and ready again once it closes', async () => {
    h = await Harness.start();
    h.fake.setFaults({ errorRate: 1, errorStatus: 503 });
    const port = await freePort();
    const w = await h.worker({ HTTP_PORT: String(port), AI_MAX_RETRIES: '0', AI_BREAKER_THRESHOLD: '1', AI_BREAKER_HALF_OPEN_MS: '400' });
    const ready = async () => {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      return { status: r.status, body: await r.json() as { checks: Record<string, boolean> } };
    };
    expect((await ready()).status).toBe(200);
    await h.publish(job('breaker', 1));
    const down = await eventually(ready, (r) => r.status === 503, 'not ready');
    expect(down.body.checks.ai_breaker_not_open).toBe(false);
    h.fake.setFaults({});
    await eventually(ready, (r) => r.status === 200, 'ready again', 30_000);
    await h.waitForLasts(1);
    expect(w.logs('AI circuit breaker state changed').map((l) => l.state)).toEqual(expect.arrayContaining(['open', 'closed']));
  });
});

