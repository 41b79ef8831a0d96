/**
 * Model rate limits across the fleet, against a real nats-server: the slices of a model's tokens
 * per minute handed over when a worker dies (an injected clock, no sleeps), and the gate before
 * the pull (a real worker process leaves the jobs it cannot start in NATS).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { Kvm, type KV } from '@nats-io/kv';
import { describeCall, type AiCall, type AttemptInfo } from '../../src/ai/call.ts';
import { ModelBudgets } from '../../src/budget/model-budgets.ts';
import { FakeOrchestrator } from '../../src/ai/fake-orchestrator.ts';
import { readRateHeaders } from '../../src/flow/rate-headers.ts';
import { NatsServer } from '../../src/devtools/nats-server.ts';
import { FleetSlices } from '../../src/flow/fleet-slices.ts';
import { parseEntry } from '../../src/flow/slices.ts';
import { Harness, eventually } from '../helpers/runner.ts';
import { main } from '../../src/cli/main.ts';

const MIN = 60_000;
const signal = new AbortController().signal;

describe('model limits shared by the fleet', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let kv: KV;
  let now = 1_700_000_000_000;

  beforeAll(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
    kv = await new Kvm(nc).create('ALT_LIMITS_TEST', { history: 1 });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.dispose();
  });

  /** A worker's model budgets on the shared bucket (renewed by hand: the clock is the test's). */
  function worker(id: string) {
    const slices = new FleetSlices({ store: kv, worker: id, leaseMs: MIN, holdTtlMs: 10_000, now: () => now });
    const b = new ModelBudgets({ doc: { orchestrator: { m: { tpm: 60_000 } } }, holdTtlMs: 10_000, maxWaitMs: 0, defaultOutput: 1_000, now: () => now });
    b.attach(slices);
    return { slices, b };
  }

  /** Calls of 1,012 tokens made until the worker's slice refuses one; returns how many tokens were spent. */
  async function spend(b: ModelBudgets): Promise<number> {
    let spent = 0;
    for (;;) {
      const c = describeCall({ prompt: { system: 's', user: '' }, model: 'm', parameters: { max_tokens: 1_000 } }, 'orchestrator', false) as AiCall & { attempts: AttemptInfo[] };
      try {
        const r = await b.reserve(c, signal);
        c.attempts.push({ status: 200 } as AttemptInfo);
        b.settle(c, r, { ok: true, answer: { text: '', model: 'm', tokens: 1_012, providerMs: 1, streamed: false, usage: { input: 12, output: 1_000, cached_input: null, reasoning: null, attempt: 1 } } });
        spent += 1_012;
      } catch (e) {
        if ((e as { code?: string }).code !== 'AI_LIMIT_WAIT') throw e;
        return spent;
      }
    }
  }

  it('hands a SIGKILLed worker\'s share of a model\'s tokens per minute to the others within 2 × the slice lease, never before its spending left the window', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map(worker);
    const renewAll = async (ws: ReturnType<typeof worker>[]) => {
      for (const w of ws) await w.slices.renew();
    };
    // Each spends what its slice allows, asks for more, and the three settle on equal thirds.
    let spent = [0, 0, 0];
    for (let round = 0; round < 6; round++) {
      await renewAll([a, b, c]);
      spent = await Promise.all([a, b, c].map((w, i) => spend(w.b).then((n) => spent[i] + n)));
    }
    expect(spent.reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(60_000);
    expect(spent.reduce((x, y) => x + y, 0)).toBeGreaterThan(60_000 - 3 * 1_012);
    expect(Math.min(...spent)).toBeGreaterThan(0);
    // c dies: it renews no more. Its lease runs one more minute, and its slice is held one more
    // (what it may have spent up to its lease's end counts that long).
    const cSlice = c.b.figures().find((f) => f.unit === 'tokens')!.spendable;
    expect(cSlice).toBeGreaterThan(0);
    const diedAt = now;
    now = diedAt + MIN + 1;
    await renewAll([a, b]);
    await renewAll([a, b]);
    expect((await spend(a.b)) + (await spend(b.b))).toBe(0);
    const entry = parseEntry((await kv.get('model.orchestrator.m.tokens'))!.value)!;
    expect(entry.slices.c).toBeUndefined();
    expect(entry.tails.filter((t) => t.of === 'c' && t.free_at > now).reduce((n, t) => n + t.amount, 0)).toBeGreaterThanOrEqual(cSlice);
    now = diedAt + 2 * MIN - 1;
    await renewAll([a, b]);
    await renewAll([a, b]);
    const before = (await spend(a.b)) + (await spend(b.b));
    // a and b spent their own again once their own charges left the window, but none of c's share.
    expect(before).toBeLessThanOrEqual(60_000 - spent[2]);
    now = diedAt + 2 * MIN + 1_000;
    let after = 0;
    for (let round = 0; round < 4; round++) {
      await renewAll([a, b]);
      after += (await spend(a.b)) + (await spend(b.b));
    }
    // Within 2 × the lease (and a renewal) c's share is spent by the others: the whole minute's limit, less a call's rounding each.
    expect(after + before).toBeGreaterThan(60_000 - 3 * 1_012);
    expect(after + before).toBeLessThanOrEqual(60_000);
    await Promise.all([a.slices.close(), b.slices.close()]);
  });
});

describe('the gate before the pull', () => {
  let h: Harness | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await h?.close();
    h = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('a worker pulls only the jobs whose AI calls fit the model\'s requests per minute: the rest wait in NATS, not in the worker', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'altlas-limits-'));
    dirs.push(dir);
    const file = join(dir, 'limits.yaml');
    writeFileSync(file, 'orchestrator:\n  default: {rpm: 2}\n');
    h = await Harness.start(undefined, { record: true });
    const w = await h.worker({ AI_LIMITS: file, RUNNER_CONCURRENCY: '4', AI_LIMITS_LEASE_MS: '3000' });
    for (let i = 0; i < 6; i++) {
      await h.publish(JSON.stringify({ id: `j${i}`, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `j${i}`, tasks: [{ id: 't1', description: `job ${i}` }] }));
    }
    await h.waitForLasts(2).catch((e) => {
      throw new Error(`${(e as Error).message}\n${w.lines.join('\n').slice(-5000)}`);
    });
    // Several renewals of the slice later (each one consults the gate again), still only two calls
    // were made and the four other jobs are still in NATS, none delivered.
    const kv = await new Kvm(h.nc).open('ALT_LIMITS');
    const key = 'model.orchestrator.default.requests';
    const first = (await kv.get(key))!.revision;
    await eventually(async () => (await kv.get(key))!.revision, (r) => r >= first + 6, 'six renewals', 60_000);
    expect(h.fake.log.filter((e) => e.status === 200)).toHaveLength(2);
    expect(await h.lasts()).toHaveLength(2);
    const c = await h.consumer();
    expect(c.num_pending).toBe(4);
    expect(c.num_ack_pending).toBe(0);
    // altlas limits shows the live entry: the configured two requests a minute, all leased by the one worker.
    const out: string[] = [];
    expect(await main(['limits', '--json', '--server', h.server.url], { out: (l) => out.push(l), err: (l) => out.push(l) })).toBe(0);
    const requests = out.map((l) => JSON.parse(l) as { model: string; unit: string; limit: number; slices: unknown[]; sliced: number }).find((l) => l.model === 'default' && l.unit === 'requests');
    expect(requests).toMatchObject({ limit: 2, sliced: 2 });
    expect(requests?.slices).toHaveLength(1);
  });
});

describe('a call that waits too long', () => {
  let h: Harness | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await h?.close();
    h = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('is not sent after AI_LIMITS_MAX_WAIT_MS: its job is handed back to NATS (AI_LIMIT_WAIT), and is not pulled again while there is no room', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'altlas-limits-'));
    dirs.push(dir);
    const file = join(dir, 'limits.json');
    writeFileSync(file, JSON.stringify({ orchestrator: { default: { rpm: 1 } } }));
    h = await Harness.start(undefined, { record: true });
    const w = await h.worker({ AI_LIMITS: file, AI_LIMITS_MAX_WAIT_MS: '1000', AI_LIMITS_LEASE_MS: '3000' });
    await h.publish(JSON.stringify({ id: 'chain', version: '1.0', created_at: '2025-05-01T00:00:00Z', title: 'chain', tasks: [
      { id: 't1', description: 'first step' }, { id: 't2', description: 'second step', dependencies: ['t1'] },
    ] }));
    await eventually(async () => w.logs('run ended'), (l) => l.some((x) => x.outcome === 'nak'), 'the job handed back');
    expect(w.lines.some((l) => l.includes('"code":"AI_LIMIT_WAIT"'))).toBe(true);
    // Several renewals of the slice later, the job has not been pulled again: it waits in NATS while there is no room.
    const kv = await new Kvm(h.nc).open('ALT_LIMITS');
    const key = 'model.orchestrator.default.requests';
    const first = (await kv.get(key))!.revision;
    await eventually(async () => (await kv.get(key))!.revision, (r) => r >= first + 4, 'four renewals', 60_000);
    expect(w.logs('run started')).toHaveLength(1);
    // One call was made (t1); t2's was not sent.
    expect(h.fake.log).toHaveLength(1);
    expect(h.fake.log[0].prompt).toContain('first step');
    expect(await h.lasts()).toHaveLength(0);
  });
});

describe('the fake orchestrator\'s enforced limits', () => {
  it('counts requests and tokens per model over a sliding minute, says so in x-ratelimit headers, and answers 429 with Retry-After past them', async () => {
    const fake = new FakeOrchestrator({ tpm: 100, rpm: 3 });
    const url = await fake.listen();
    try {
      const ask = async (model: string, content: string) => {
        const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model, messages: [{ role: 'user', content }] }) });
        const headers = Object.fromEntries(res.headers);
        return { status: res.status, headers, body: (await res.json()) as { usage?: { total_tokens: number } } };
      };
      const first = await ask('a', 'x'.repeat(120));
      expect(first.status).toBe(200);
      const used = first.body.usage!.total_tokens;
      expect(readRateHeaders(first.headers, Date.now())).toMatchObject({ requests: { limit: 3, remaining: 2 }, tokens: { limit: 100, remaining: 100 - used } });
      // A request whose tokens would pass the minute's 100 is refused, and counts nothing.
      const over = await ask('a', 'y'.repeat(4 * (100 - used)));
      expect(over.status).toBe(429);
      expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(59);
      // Another model has its own minute; the third request of model a still fits.
      expect((await ask('b', 'z')).status).toBe(200);
      expect((await ask('a', 'z')).status).toBe(200);
      expect((await ask('a', 'z')).status).toBe(200);
      const fourth = await ask('a', 'z');
      expect(fourth.status).toBe(429);
      expect(fourth.headers['x-ratelimit-remaining-requests']).toBe('0');
      expect(fake.stats.limited).toBe(2);
    } finally {
      await fake.close();
    }
  });
});
