/**
 * Live output end to end: real worker processes, a streaming fake AI (the OpenAI endpoint at a
 * set token rate) and real `altlas watch` processes. Counts come from the raw messages of the
 * progress stream, the `.last` and what the watch printed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { decodeProgress, type ProgressEnd, type ProgressMessage } from '../../src/progress/message.ts';
import { IDENTITY_CODEC, payloadCodec, type Codec } from '../../src/security/codec.ts';
import type { Last } from '../../src/last/index.ts';
import { TcpProxy } from '../../src/devtools/tcp-proxy.ts';
import { ROOT } from '../helpers/paths.ts';
import { Harness, eventually, job, type WorkerProcess } from '../helpers/runner.ts';

let h: Harness;
let worker: WorkerProcess | null = null;
const STREAMING = { AI_PROVIDER: 'openai', RUNNER_ACK_WAIT_MS: '2000' };

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(async () => {
  await h?.close();
});
afterEach(async () => {
  h.fake.setFaults({});
});

interface Watch {
  out: string;
  err: string;
  exited: Promise<number | null>;
}

/** Starts `altlas watch` (or any altlas command) and collects its output. */
function altlas(argv: string[], env: NodeJS.ProcessEnv = {}): Watch {
  const p = spawn(join(ROOT, 'bin', 'altlas'), [...argv, '--server', h.server.url], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const w: Watch = { out: '', err: '', exited: new Promise((r) => p.once('exit', (code) => r(code))) };
  p.stdout!.on('data', (c: Buffer) => (w.out += c.toString()));
  p.stderr!.on('data', (c: Buffer) => (w.err += c.toString()));
  return w;
}

/** A watch that has said it waits for the job (nothing of it stored yet). */
async function waitingWatch(id: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Watch> {
  const w = altlas(['watch', id, ...extra], env);
  await eventually(async () => w.err, (e) => e.includes('waiting for it'), `altlas watch ${id} to wait`, 60_000);
  return w;
}

/** The sections the watch printed (a header line `── ... ──` and the text after it), without the job's closing line. */
function sections(out: string): { header: string; text: string }[] {
  const parts: { header: string; text: string }[] = [];
  for (const line of out.replace(/[^\n]*\n$/, '').split(/(?<=\n)/)) {
    if (line.startsWith('── ')) parts.push({ header: line.trimEnd(), text: '' });
    else if (parts.length) parts.at(-1)!.text += line;
  }
  return parts.map((p) => ({ ...p, text: p.text.replace(/\n$/, '') }));
}

/** Every progress message stored, with its sequence, read raw from the stream. */
async function stored(codec: Codec = IDENTITY_CODEC): Promise<(ProgressMessage & { seq: number })[]> {
  return (await h.records('ALT_PROGRESS')).map((r) => ({ ...decodeProgress(r.data, codec)!, seq: r.seq }));
}

/** Per attempt, from the raw messages: its indices in stream order, its text, its end. */
function attempts(messages: ProgressMessage[]) {
  const by = new Map<string, { task: string; deliveries: number | null; http: number; indices: number[]; text: string; end: ProgressEnd | null }>();
  for (const m of messages) {
    const a = by.get(m.attempt) ?? { task: m.task, deliveries: m.deliveries, http: m.http_attempt, indices: [], text: '', end: null };
    a.indices.push(m.index);
    a.text += m.text;
    if (m.type === 'end') a.end = m;
    by.set(m.attempt, a);
  }
  return [...by.values()];
}

/** No index lost or repeated within any attempt; an ended attempt's text is all its end counts. */
function expectWhole(list: ReturnType<typeof attempts>): void {
  for (const a of list) {
    expect(a.indices).toEqual(a.indices.map((_, i) => i));
    if (a.end) expect(Buffer.byteLength(a.text)).toBe(a.end.bytes);
  }
}

const lastOf = async (id: string): Promise<Last> => (await h.waitForLasts(1)).map((l) => l.last).find((l) => l.alt_file_id === id)!;
const waitLast = async (id: string) => eventually(() => h.lasts(), (l) => l.some((x) => x.last.alt_file_id === id), `the .last of ${id}`, 60_000).then((l) => l.find((x) => x.last.alt_file_id === id)!.last);

describe('altlas watch', () => {
  it('waits for a job not yet published, prints its answers as they come task by task, and exits 0 with its .last', async () => {
    worker ??= await h.worker(STREAMING);
    h.fake.setFaults({ firstTokenMs: 50, tokenRate: 400, outputChars: 400 });
    const id = 'watch-fan';
    const w = await waitingWatch(id);
    await h.publish(JSON.stringify({
      id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: 'fan',
      tasks: [{ id: 'a', description: 'first of two', dependencies: [] }, { id: 'b', description: 'second of two', dependencies: [] }, { id: 'c', description: 'after both', dependencies: ['a', 'b'] }],
    }));
    expect(await w.exited).toBe(0);
    const last = await lastOf(id);
    const printed = sections(w.out);
    // One section per task, each whole (tasks a and b ran side by side), c last; then the job's line.
    expect(printed.map((p) => p.header).slice(0, 2).sort()).toEqual(['── a ──', '── b ──']);
    expect(printed[2].header).toBe('── c ──');
    for (const p of printed) expect(p.text).toBe(last.task_results[p.header.slice(3, -3)].output!.text);
    expect(w.out.trimEnd().split('\n').at(-1)).toMatch(/^success +watch-fan: success 100\.0%, /);
    const raw = attempts(await stored());
    expect(raw.filter((a) => a.end?.outcome === 'ok').map((a) => a.task).sort()).toEqual(['a', 'b', 'c']);
    expectWhole(raw);
  });

  it('shows the switch when the worker is SIGKILLed mid-answer: the redelivered run\'s attempt is a new one, and the .last is whole', async () => {
    worker?.kill('SIGKILL');
    await worker?.exited;
    const first = await h.worker(STREAMING);
    // About 4 s of answer at 50 tokens per second.
    h.fake.setFaults({ firstTokenMs: 50, tokenRate: 50, outputChars: 800 });
    const id = 'watch-kill';
    const text = await waitingWatch(id);
    const json = await waitingWatch(id, ['--json']);
    await h.publish(job(id, 1));
    await eventually(async () => text.out, (o) => o.length > 60, 'some of the answer printed');
    first.kill('SIGKILL');
    await first.exited;
    worker = await h.worker(STREAMING);
    expect(await text.exited).toBe(0);
    expect(await json.exited).toBe(0);
    const answer = (await lastOf(id)).task_results.t1.output!.text;
    expect(answer.length).toBeGreaterThanOrEqual(800);
    const [dead, again] = sections(text.out);
    expect(dead.header).toBe('── t1 ──');
    expect(answer.startsWith(dead.text)).toBe(true);
    expect(dead.text.length).toBeLessThan(answer.length);
    expect(again).toEqual({ header: '── t1: attempt 1, delivery 2; the attempt before stopped without its end (its worker may have died) ──', text: answer });
    const events = json.out.trim().split('\n').map((l) => JSON.parse(l));
    const switched = events.filter((e) => e.type === 'attempt').map((e) => [e.ref.deliveries, e.previous === null ? 'none' : e.previous.end]);
    expect(switched).toEqual([[1, 'none'], [2, null]]);
    expect(events.at(-1)).toMatchObject({ type: 'done', status: 'success' });
    // The raw stream: two attempts of t1, the dead one without an end and the new one whole.
    const raw = attempts((await stored()).filter((m) => m.job === id));
    expect(raw.map((a) => [a.deliveries, a.end?.outcome ?? null])).toEqual([[1, null], [2, 'ok']]);
    expect(raw[1].text).toBe(answer);
    expectWhole(raw);
  });

  it('shows a stream cut in the middle and its retry as two attempts, never glued', async () => {
    worker ??= await h.worker(STREAMING);
    h.fake.resetStats();
    h.fake.setFaults({ firstTokenMs: 10, tokenRate: 200, outputChars: 300, cutStreamAfter: 20, cutStreamFirst: 1 });
    const id = 'watch-cut';
    const w = await waitingWatch(id);
    await h.publish(job(id, 1));
    expect(await w.exited).toBe(0);
    const answer = (await lastOf(id)).task_results.t1.output!.text;
    const printed = sections(w.out);
    expect(printed.map((p) => p.header)).toEqual([
      '── t1 ──', '── t1: the attempt ended transient (stream_cut) ──', '── t1: attempt 1, request 2; the attempt before ended transient (stream_cut) ──',
    ]);
    expect(answer.startsWith(printed[0].text)).toBe(true);
    expect(printed[2].text).toBe(answer);
    const raw = attempts((await stored()).filter((m) => m.job === id));
    expect(raw.map((a) => [a.http, a.end?.outcome, a.end?.failure])).toEqual([[1, 'transient', 'stream_cut'], [2, 'ok', null]]);
    expectWhole(raw);
  });

  it('follows a 2.0 program by its instance keys (a function\'s body task under its call), each section its output in the .last', async () => {
    worker ??= await h.worker(STREAMING);
    h.fake.setFaults({ firstTokenMs: 10, tokenRate: 1_000, outputChars: 100 });
    const id = '5f0c2a8e-7d1b-4c3e-9a44-0b8e2f6d1c10';
    const w = await waitingWatch(id);
    await h.publish((await import('node:fs')).readFileSync(join(ROOT, 'samples', 'enhanced-2.0.alt.yaml')), { 'Content-Type': 'application/yaml' });
    expect([0, 1]).toContain(await w.exited);
    const last = await waitLast(id);
    const printed = sections(w.out);
    const keys = printed.map((p) => p.header.slice(3, -3));
    expect(keys).toContain('s-measure/s-trend');
    for (const p of printed) expect({ key: p.header, text: p.text }).toEqual({ key: p.header, text: last.task_results[p.header.slice(3, -3)].output!.text });
    // Every task that called the AI was shown.
    expect(keys.sort()).toEqual(Object.entries(last.task_results).filter(([, r]) => r.output?.model_used).map(([k]) => k).sort());
  });

  it('publish --wait --stream prints each job\'s answers, then its status', async () => {
    worker ??= await h.worker(STREAMING);
    h.fake.setFaults({ firstTokenMs: 10, tokenRate: 500, outputChars: 200 });
    const p = altlas(['publish', '--wait', '--stream', join(ROOT, 'samples', 'runner-example.alt.json')]);
    expect(await p.exited).toBe(0);
    const lines = p.out.split('\n');
    const last = await lastOf(JSON.parse((await import('node:fs')).readFileSync(join(ROOT, 'samples', 'runner-example.alt.json'), 'utf8')).id);
    for (const [task, r] of Object.entries(last.task_results)) expect(p.out).toContain(`── ${task} ──\n${r.output!.text}\n`);
    expect(lines.find((l) => l.startsWith('success'))).toMatch(/^success +.*runner-example\.alt\.json: .*, success 100\.0%/);
  });
});

describe('altlas watch exits', () => {
  it('with 1 when --timeout passes before the .last, and with 2 for a usage error', async () => {
    const late = altlas(['watch', 'never-published', '--timeout', '1']);
    expect(await late.exited).toBe(1);
    expect(late.out).toBe('timeout   never-published: no .last within 1 s\n');
    const json = altlas(['watch', 'never-published', '--timeout', '1', '--json']);
    expect(await json.exited).toBe(1);
    expect(JSON.parse(json.out)).toEqual({ type: 'done', job: 'never-published', status: null, error: 'timeout' });
    const usage = altlas(['watch']);
    expect(await usage.exited).toBe(2);
    expect(usage.err).toMatch(/watch takes one job id/);
  });
});

describe('a worker cut off from NATS mid-answer', () => {
  it('loses and repeats nothing of the attempt: what was not acknowledged is sent again after the reconnect, stored once', async () => {
    worker?.kill('SIGKILL');
    await worker?.exited;
    worker = null;
    // A server of its own: the consumer's ack wait (set when it is created) outlasts the cut, so the job is not redelivered.
    const shared = h;
    h = await Harness.start();
    const proxy = await TcpProxy.start(h.server.port);
    try {
      worker = await h.worker({ ...STREAMING, NATS_URL: proxy.url, RUNNER_ACK_WAIT_MS: '30000' });
      h.fake.setFaults({ firstTokenMs: 10, tokenRate: 100, outputChars: 600 });
      const id = 'watch-cut-off';
      const w = await waitingWatch(id);
      await h.publish(job(id, 1));
      await eventually(async () => w.out, (o) => o.length > 40, 'some of the answer printed');
      // The worker's connection dies in the middle of the answer and stays down for a second.
      expect(proxy.cut(1_000)).toBeGreaterThan(0);
      expect(await w.exited).toBe(0);
      const answer = (await lastOf(id)).task_results.t1.output!.text;
      expect(sections(w.out)).toEqual([{ header: '── t1 ──', text: answer }]);
      const raw = attempts((await stored()).filter((m) => m.job === id));
      expect(raw).toHaveLength(1);
      expect(raw[0].text).toBe(answer);
      expect(raw[0].end).toMatchObject({ outcome: 'ok' });
      expectWhole(raw);
      expect(worker.logs('NATS reconnect').length + worker.logs('NATS disconnect').length).toBeGreaterThan(0);
    } finally {
      worker = null;
      await proxy.close();
      await h.close();
      h = shared;
    }
  });
});

describe('the progress stream\'s limits', () => {
  it('applies the answer cap to the stream: the attempt shows at most AI_MAX_RESPONSE_BYTES and ends too_large', async () => {
    worker?.kill('SIGKILL');
    await worker?.exited;
    worker = await h.worker({ ...STREAMING, AI_MAX_RESPONSE_BYTES: '2048' });
    h.fake.setFaults({ firstTokenMs: 10, tokenRate: 2_000, outputChars: 20_000 });
    const id = 'watch-cap';
    const w = await waitingWatch(id);
    await h.publish(job(id, 1));
    expect(await w.exited).toBe(1);
    expect(w.out).toMatch(/── t1: the attempt ended too_large ──/);
    const [a] = attempts((await stored()).filter((m) => m.job === id));
    expect(a.end).toMatchObject({ outcome: 'too_large' });
    expect(Buffer.byteLength(a.text)).toBeLessThanOrEqual(2048);
    expect(Buffer.byteLength(a.text)).toBeGreaterThan(1000);
    expect((await waitLast(id)).status).toBe('failure');
    worker.kill('SIGKILL');
    await worker.exited;
    worker = null;
  });

  it('seals progress under PAYLOAD_KEYS: the stream holds no answer text; watch reads it with the keys and refuses without', async () => {
    const keys = `k1:${Buffer.alloc(32, 3).toString('base64')}`;
    worker = await h.worker({ ...STREAMING, PAYLOAD_KEYS: keys });
    h.fake.setFaults({ firstTokenMs: 10, tokenRate: 500, outputChars: 100, script: [{ match: 'sealed-answer', answers: ['the sealed answer 4fd1'] }] });
    const id = 'watch-sealed';
    const w = await waitingWatch(id, [], { PAYLOAD_KEYS: keys });
    await h.publish(job(id, 1, 'sealed-answer'));
    expect(await w.exited).toBe(0);
    expect(w.out).toContain('the sealed answer 4fd1');
    const raw = (await h.records('ALT_PROGRESS')).filter((r) => r.subject.startsWith('progress.watch-sealed.'));
    expect(raw.length).toBeGreaterThan(0);
    for (const r of raw) {
      expect(Buffer.from(r.data).toString('latin1')).not.toContain('sealed answer');
      expect(r.headers?.get('Altlas-Key-Id')).toBe('k1');
    }
    expect(attempts((await stored(payloadCodec(keys))).filter((m) => m.job === id))[0].text).toContain('the sealed answer 4fd1');
    const keyless = altlas(['watch', id]);
    expect(await keyless.exited).toBe(1);
    expect(keyless.err).toMatch(/ALT_DECRYPT/);
    worker.kill('SIGKILL');
    await worker.exited;
    worker = null;
  });
});
