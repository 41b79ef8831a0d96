import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { freePort } from '../../src/devtools/nats-server.ts';
import { AckPolicy, RetentionPolicy } from '@nats-io/jetstream';
import { Harness, WorkerProcess, eventually } from '../helpers/runner.ts';

const run = async (argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err: err.join('\n') };
};

/** The fake AI's answers: a quarter second each (a backlog that runs two at a time). */
const FAKE = { latencyMs: 250 };

let h: Harness;
let w: WorkerProcess;
let dir: string;
let port: number;

/** Writes a one-task job of `priority` and returns its path. */
function job(id: string, priority: string): string {
  const file = join(dir, `${id}.alt.json`);
  writeFileSync(file, JSON.stringify({ id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: id, priority, tasks: [{ id: 'a', description: `answer ${id}` }] }));
  return file;
}

/** Publishes files with altlas publish --json; returns the ALT stream sequence and subject of each. */
async function publish(args: string[]): Promise<{ id: string; seq: number; subject: string }[]> {
  const r = await run(['publish', '--json', '--server', h.server.url, ...args]);
  expect([r.code, r.err]).toEqual([0, '']);
  return r.out.map((l) => JSON.parse(l));
}

/** The value of one series of a scraped /metrics (labels as written first, then the scope's). */
const series = (text: string, name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}[,}][^ ]* (\\S+)$`, 'm').exec(text)?.[1]);

const started = () => w.logs('run started').map((l) => Number(l.alt_stream_seq));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'altlas-lanes-'));
  h = await Harness.start(undefined, FAKE);
  port = await freePort();
  w = await h.worker({ LOG_LEVEL: 'debug', HTTP_PORT: String(port), RUNNER_METRICS_TENANTS: '2', RUNNER_LANES: 'true', RUNNER_CONCURRENCY: '2', RUNNER_LANE_MIN_SHARE: '0', RUNNER_LANE_SCAN_MS: '200' });
  await w.started();
});
afterAll(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('priority lanes and tenants (RUNNER_LANES=true)', () => {
  it('publishes each file to its own lane and tenant; a critical job and another tenant\'s job start at the next free slots, ahead of a backlog; each runs once', async () => {
    const flood = await publish(['--tenant', 'acme', ...Array.from({ length: 12 }, (_, i) => job(`flood-${i}`, 'low'))]);
    expect(new Set(flood.map((p) => p.subject))).toEqual(new Set(['alt.low.acme']));
    // The backlog is running two at a time; then a critical job (tenant beta) and a low job of tenant gamma arrive.
    await eventually(async () => started().length, (n) => n >= 2, 'the flood to start');
    const before = started().length;
    const [critical] = await publish(['--tenant', 'beta', job('urgent', 'critical')]);
    // Counted again: the backlog goes on starting while the command publishes (it takes a moment on busy cores).
    const beforeLight = started().length;
    const [light] = await publish(['--tenant', 'gamma corp', job('light', 'low')]);
    const [plain] = await publish(['--subject', 'alt.submit', job('plain', 'high')]);
    expect(critical.subject).toBe('alt.critical.beta');
    expect(light.subject).toMatch(/^alt\.low\.gamma_corp-[0-9a-f]{8}$/);
    expect(plain.subject).toBe('alt.submit');
    const lasts = await h.waitForLasts(15, 60_000);
    const order = started();
    // At most the two slots that were running when it came free before it.
    expect(order.indexOf(critical.seq)).toBeLessThanOrEqual(before + 2);
    // The other tenant's low job does not wait behind acme's backlog in the same lane.
    expect(order.indexOf(light.seq)).toBeLessThanOrEqual(beforeLight + 4);
    expect(order.indexOf(plain.seq)).toBeGreaterThanOrEqual(0);
    // Once: every message ran once, one .last each, nothing left in the stream.
    expect(order).toHaveLength(new Set(order).size);
    expect(new Set(lasts.map((l) => l.last.alt_file_id)).size).toBe(15);
    expect((await h.jsm.streams.info('ALT')).state.messages).toBe(0);
    const names: string[] = [];
    for await (const c of h.jsm.consumers.list('ALT')) names.push(`${c.name} ${c.config.filter_subject}`);
    expect(names.sort()).toEqual(expect.arrayContaining(['runner alt.*', 'runner-critical-beta alt.critical.beta', 'runner-low-acme alt.low.acme']));
    // Metrics by lane and tenant, the tenant labels bounded (RUNNER_METRICS_TENANTS=2: acme, beta, then _other).
    const metrics = await eventually(async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), (t) => /^altlas_lane_jobs_queued\{/m.test(t), 'the lane metrics');
    expect(series(metrics, 'altlas_lane_jobs_started_total', 'lane="low",tenant="acme"')).toBe(12);
    expect(series(metrics, 'altlas_lane_jobs_started_total', 'lane="critical",tenant="beta"')).toBe(1);
    expect(series(metrics, 'altlas_lane_jobs_started_total', 'lane="low",tenant="_other"')).toBe(1);
    expect(series(metrics, 'altlas_lane_jobs_started_total', 'lane="none",tenant="_other"')).toBe(1);
    expect(series(metrics, 'altlas_lane_wait_seconds_count', 'lane="critical",tenant="beta"')).toBe(1);
    // At debug level, where the critical job's wait went: its doorbell, the consumer made for it, the pull, the receipt.
    const pulled = w.logs('lane job pulled').filter((l) => l.alt_stream_seq === critical.seq);
    expect(pulled).toEqual([expect.objectContaining({ lane: 'critical', tenant: 'beta', pulls_since_bell: expect.any(Number) })]);
    const t = pulled[0] as Record<string, number>;
    expect(t.bell_at).toBeGreaterThan(0);
    expect(t.consumer_made_at).toBeGreaterThanOrEqual(t.bell_at);
    expect(t.requested_at).toBeGreaterThanOrEqual(t.consumer_made_at);
    expect(t.received_at).toBeGreaterThanOrEqual(Math.max(t.requested_at, t.stored_at));
  }, 120_000);

  it('a critical job of a tenant with no consumer yet keeps its claim on the next free slot while its consumer is made: the low backlog does not take the slots meanwhile', async () => {
    await h.jsm.streams.add({ name: 'PRIO', subjects: ['prio.>'], retention: RetentionPolicy.Workqueue });
    const body = (id: string, priority: string) => JSON.stringify({ id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: id, priority, tasks: [{ id: 'a', description: `answer ${id}` }] });
    h.fake.setFaults({ latencyMs: 10 });
    const slots = 2;
    // No tenant reserve: the slot the critical job gets is the one its lane's claim kept, not one the reserve left free.
    const p = await h.worker({ ALT_STREAM: 'PRIO', ALT_SUBJECTS: 'prio.>', RUNNER_LANES: 'true', RUNNER_CONCURRENCY: String(slots), RUNNER_LANE_MIN_SHARE: '0', RUNNER_TENANT_RESERVE: '0' });
    try {
      for (let i = 0; i < 600; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => h.js.publish('prio.low.acme', body(`low-${i + j}`, 'low'))));
      // The backlog runs through its consumer, made by now; then a critical job comes for a tenant never seen.
      await eventually(async () => p.logs('run started').length, (n) => n >= 40, 'the backlog to run');
      // A busy server (a fleet's scans, other consumers being made) is slow to make the consumer: the low jobs go on ending meanwhile.
      const publishedAt = Date.now();
      const published = h.js.publish('prio.critical.newco', body('urgent-new', 'critical'));
      await Promise.all(Array.from({ length: 1000 }, () => h.jsm.streams.info('PRIO', { subjects_filter: '>' }).catch(() => null)));
      const critical = (await published).seq;
      const runs = await eventually(async () => p.logs('run started'), (l) => l.some((x) => Number(x.alt_stream_seq) === critical), 'the critical job to start');
      const at = (x: { timestamp?: unknown }) => Date.parse(String(x.timestamp));
      const startedAt = at(runs.find((x) => Number(x.alt_stream_seq) === critical)!);
      // Low jobs started after its publish and before it: at most the slots already on their way (pulled before its doorbell).
      const lowBetween = runs.filter((x) => Number(x.alt_stream_seq) !== critical && at(x) >= publishedAt && at(x) <= startedAt).length;
      expect({ lowBetween, ok: lowBetween <= slots }).toEqual({ lowBetween, ok: true });
    } finally {
      p.kill();
      await p.exited;
      h.fake.setFaults(FAKE);
    }
  }, 180_000);

  it('refuses to start with lanes on a stream whose RUNNER_DURABLE takes every subject (TOPOLOGY_MISMATCH, exit 2)', async () => {
    await h.jsm.streams.add({ name: 'JOBS', subjects: ['jobs.>'], retention: RetentionPolicy.Workqueue });
    await h.jsm.consumers.add('JOBS', { durable_name: 'runner', ack_policy: AckPolicy.Explicit });
    const other = new WorkerProcess(h.env({ ALT_STREAM: 'JOBS', ALT_SUBJECTS: 'jobs.>', RUNNER_LANES: 'true' }));
    expect((await other.exited).code).toBe(2);
    expect(other.lines.join('\n')).toMatch(/TOPOLOGY_MISMATCH.*RUNNER_LANES=true needs consumer runner filtered on jobs\.\*/s);
  }, 120_000);

  it('refuses to start with lanes off on a stream that lanes left consumers on (TOPOLOGY_MISMATCH naming them, exit 2), not INTERNAL', async () => {
    await h.jsm.streams.add({ name: 'LEFT', subjects: ['left.>'], retention: RetentionPolicy.Workqueue });
    for (const [name, filter] of [['runner-low-acme', 'left.low.acme'], ['runner-critical-beta', 'left.critical.beta']]) await h.jsm.consumers.add('LEFT', { durable_name: name, filter_subject: filter, ack_policy: AckPolicy.Explicit });
    const off = new WorkerProcess(h.env({ ALT_STREAM: 'LEFT', ALT_SUBJECTS: 'left.>' }));
    expect((await off.exited).code).toBe(2);
    const said = off.lines.join('\n');
    expect(said).toMatch(/TOPOLOGY_MISMATCH.*RUNNER_LANES is off, but stream LEFT still has 2 lane consumers made with RUNNER_LANES=true: runner-critical-beta, runner-low-acme\..*RUNNER_LANES=true until the lanes are drained.*or delete them/s);
    expect(said).not.toMatch(/INTERNAL/);
    // RUNNER_DURABLE as lanes left it (the subjects outside lanes only), the lane consumers gone: refused too.
    for (const name of ['runner-low-acme', 'runner-critical-beta']) await h.jsm.consumers.delete('LEFT', name);
    await h.jsm.consumers.add('LEFT', { durable_name: 'runner', filter_subject: 'left.*', ack_policy: AckPolicy.Explicit });
    const rest = new WorkerProcess(h.env({ ALT_STREAM: 'LEFT', ALT_SUBJECTS: 'left.>' }));
    expect((await rest.exited).code).toBe(2);
    expect(rest.lines.join('\n')).toMatch(/TOPOLOGY_MISMATCH.*consumer runner takes only left\.\* \(the subjects outside lanes/s);
  }, 120_000);

  it('reports the backlog of every consumer of the stream, per lane: altlas status and the metrics a KEDA Prometheus trigger scales on', async () => {
    await h.jsm.streams.add({ name: 'BACK', subjects: ['back.>'], retention: RetentionPolicy.Workqueue });
    // Lane consumers of another fleet (durable runner): the worker below (durable w2) cannot pull from their subjects.
    for (const [name, filter] of [['runner-critical-a', 'back.critical.a'], ['runner-low-b', 'back.low.b']]) await h.jsm.consumers.add('BACK', { durable_name: name, filter_subject: filter, ack_policy: AckPolicy.Explicit });
    for (const [subject, n] of [['back.critical.a', 2], ['back.low.b', 3]] as const) for (let i = 0; i < n; i++) await h.js.publish(subject, 'x');
    const metricsPort = await freePort();
    const w2 = await h.worker({ ALT_STREAM: 'BACK', ALT_SUBJECTS: 'back.>', RUNNER_DURABLE: 'w2', RUNNER_LANES: 'true', HTTP_PORT: String(metricsPort) });
    try {
      await w2.started();
      const value = (text: string, name: string, labels = '') => Number(new RegExp(`^${name}(?:\\{${labels}[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
      const metrics = await eventually(async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(), (t) => value(t, 'altlas_consumer_pending') === 5, 'the backlog of every consumer on /metrics');
      expect(['critical', 'high', 'medium', 'low', 'none'].map((lane) => value(metrics, 'altlas_backlog_pending', `lane="${lane}"`))).toEqual([2, 0, 0, 3, 0]);
      const status = await run(['status', '--json', '--server', h.server.url, '--alt-stream', 'BACK', '--durable', 'w2']);
      const c = JSON.parse(status.out[0]).consumer;
      expect([c.consumer, c.consumers, c.pending, c.ack_pending]).toEqual(['w2', 3, 5, 0]);
      expect(c.lanes.map((l: { lane: string; pending: number }) => `${l.lane} ${l.pending}`)).toEqual(['critical 2', 'high 0', 'medium 0', 'low 3', 'none 0']);
      const text = (await run(['status', '--server', h.server.url, '--alt-stream', 'BACK', '--durable', 'w2'])).out.join('\n');
      expect(text).toMatch(/^w2 \+ 2 more +5 +0 /m);
      expect(text).toMatch(/^ {2}lane critical \(1\) +2 +0/m);
      expect(text).toMatch(/^ {2}lane low \(1\) +3 +0/m);
    } finally {
      w2.kill();
      await w2.exited;
    }
  }, 120_000);
});
