import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { main } from '../../src/cli/main.ts';
import { freePort } from '../../src/devtools/nats-server.ts';
import { Harness, eventually } from '../helpers/runner.ts';
import { ROOT, SAMPLES } from '../helpers/paths.ts';

const run = async (argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
};

let h: Harness;
let server: string[];
/** The shipped samples published with --wait once, before any test (no test depends on another). */
let published: Awaited<ReturnType<typeof run>>;
beforeAll(async () => {
  h = await Harness.start();
  await h.worker({ RUNNER_MAX_DELIVER: '2', AI_MAX_RETRIES: '0', RUNNER_NAK_DELAY_MS: '100' });
  server = ['--server', h.server.url];
  const files = ['runner-example.alt.json', 'segmentation-0.alt.yaml', 'segmentation-2.alt.yaml'].map((f) => join(SAMPLES, f));
  published = await run(['publish', '--wait', '--timeout', '30', ...server, ...files]);
});
afterAll(async () => {
  await h?.close();
});

describe('altlas publish, results, dlq, status', () => {
  it('publish --wait returns the results of the shipped samples', async () => {
    const r = published;
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^success +\S+runner-example\.alt\.json: alt_example_001, success 100\.0%/m);
    expect(r.out.match(/^success /gm)).toHaveLength(3);
  });

  it('skips an invalid file with its problems and exits 1', async () => {
    const r = await run(['publish', ...server, join(SAMPLES, 'invalid-cycle.alt.json')]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^invalid +\S+invalid-cycle\.alt\.json: ALT_CYCLE .*\(skipped\)/m);
  });

  it('on a terminal prints every file\'s line above the progress bar, and the reason it exits 1', async () => {
    // Under a pseudo-terminal (util-linux script): standard output and error are both the terminal.
    const files = ['segmentation-1.alt.yaml', 'invalid-cycle.alt.json', 'segmentation-2.alt.yaml'].map((f) => join(SAMPLES, f));
    const cmd = [join(ROOT, 'bin', 'altlas'), 'publish', '--server', h.server.url, ...files].map((a) => `'${a}'`).join(' ');
    const r = await promisify(execFile)('script', ['-qec', cmd, '/dev/null']).catch((e: { code: number; stdout: string }) => e);
    expect((r as { code: number }).code).toBe(1);
    const raw = (r as { stdout: string }).stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    expect(raw).toMatch(/publishing \[[=-]+\] 3\/3/);
    // The bar redraws in place: without its renders, what is left is the lines, one per file.
    const screen = raw.replace(/publishing \[[=-]+\] \d+\/\d+/g, '');
    expect(screen).toMatch(/^published .*segmentation-1\.alt\.yaml: id 7428f73b-383b-4896-98e7-69fbd0e61cc5, ALT seq \d+/m);
    expect(screen).toMatch(/^invalid +.*invalid-cycle\.alt\.json: ALT_CYCLE .*\(skipped\)/m);
    expect(screen).toMatch(/^published .*segmentation-2\.alt\.yaml: id /m);
  });

  it('status --watch on a terminal updates one block in place until the job ends', async () => {
    h.fake.setFaults({ latencyMs: 1_200 });
    try {
      const cmd = [join(ROOT, 'bin', 'altlas'), 'status', 'watched-1', '--watch', '--server', h.server.url].map((a) => `'${a}'`).join(' ');
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
      const exited = new Promise((r) => child.once('exit', r));
      // Published once the command watches (it says it waits), so it sees the job from its start.
      await eventually(async () => stdout, (o) => o.includes('waiting for job watched-1'), 'the watch to start');
      await h.publish(JSON.stringify({ id: 'watched-1', version: '1.0', created_at: '2025-05-01T00:00:00Z', title: 'watched', tasks: [{ id: 'a', description: 'x' }, { id: 'b', description: 'y', dependencies: ['a'] }] }));
      await exited;
      // Each update after the first moves the cursor back over the block and clears it.
      expect(stdout).toMatch(/\x1b\[\d+A\r\x1b\[Jjob watched-1: /);
      expect(stdout.match(/job watched-1: /g)!.length).toBeGreaterThanOrEqual(2);
      expect(stdout).toMatch(/job watched-1: completed \(\.last success\)/);
    } finally {
      h.fake.setFaults({});
    }
  });

  it('names the subjects of the ALT stream when no stream takes --subject', async () => {
    const r = await run(['publish', '--subject', 'foo.bar', ...server, join(SAMPLES, 'runner-example.alt.json')]);
    expect([r.code, r.err.split('\n')[0]]).toEqual([2, 'altlas publish: no stream stores subject foo.bar: the ALT stream takes alt.>; publish to one of those (--subject)']);
  });

  it('gives one job when the same file is published twice', async () => {
    const file = join(SAMPLES, 'segmentation-3.alt.yaml');
    const first = await run(['publish', '--json', '--wait', ...server, file]);
    const second = await run(['publish', '--json', '--wait', ...server, file]);
    const [p1, w1] = first.out.split('\n').map((l) => JSON.parse(l));
    const [p2, w2] = second.out.split('\n').map((l) => JSON.parse(l));
    expect([p1.duplicate, p2.duplicate, p2.seq]).toEqual([false, true, p1.seq]);
    expect([w1.status, w2.status]).toEqual(['success', 'success']);
    const lasts = (await h.lasts()).filter(({ last }) => last.alt_file_id === '63acd403-e82b-4a25-b112-c7b0e649f05a');
    expect(lasts).toHaveLength(1);
    expect(h.fake.stats.prompts.filter((p) => p.includes('Sistem performans')).length).toBe(1);
    expect((await run(['publish', ...server, file])).out).toMatch(/\(duplicate: published within the stream's duplicate window already, so one job; --rerun runs it again\)$/);
    // --rerun: a fresh message id, a second job of the same id, its own .last.
    const rerun = await run(['publish', '--json', '--rerun', '--wait', ...server, file]);
    const [p3, w3] = rerun.out.split('\n').map((l) => JSON.parse(l));
    expect([p3.duplicate, p3.seq > p1.seq, w3.status]).toEqual([false, true, 'success']);
    expect((await h.lasts()).filter(({ last }) => last.alt_file_id === '63acd403-e82b-4a25-b112-c7b0e649f05a')).toHaveLength(2);
  });

  it('results --json lists the .last documents, and --alt-id picks one job', async () => {
    const all = await run(['results', '--json', ...server]);
    const ids = all.out.split('\n').map((l) => JSON.parse(l).alt_file_id);
    expect(ids).toEqual(expect.arrayContaining(['alt_example_001', 'a6deb67c-255d-442c-be10-baf2fee257ec']));
    const one = await run(['results', '--json', '--alt-id', 'alt_example_001', ...server]);
    expect(one.out.split('\n').map((l) => JSON.parse(l).alt_file_id)).toEqual(['alt_example_001']);
    const table = await run(['results', ...server, '--since', '1h']);
    expect(table.out).toMatch(/^JOB ID +STATUS +SUCCESS +TASKS +DURATION +FINISHED$/m);
    expect(table.out).toMatch(/^alt_example_001 +success +100\.0% +3\/3 /m);
  });

  it('dlq replay republishes an original to its subject and it is processed', async () => {
    // Its own stack: the LAST stream goes missing, so the job is dead-lettered after RUNNER_MAX_DELIVER deliveries.
    const own = await Harness.start();
    try {
      await own.worker({ RUNNER_MAX_DELIVER: '2', RUNNER_NAK_DELAY_MS: '100' });
      const srv = ['--server', own.server.url];
      const lastConfig = (await own.jsm.streams.info('LAST')).config;
      await own.jsm.streams.delete('LAST');
      await run(['publish', ...srv, join(SAMPLES, 'segmentation-4.alt.yaml')]);
      const dlq = await eventually(() => own.records('ALT_DLQ'), (r) => r.length === 1, 'the DLQ record');
      const record = dlq[0];
      expect(record.headers?.get('Dlq-Code')).toBe('LAST_PUBLISH_FAILED');
      expect(record.headers?.get('Dlq-Deliveries')).toBe('2');
      const list = await run(['dlq', 'list', '--json', '--code', 'LAST_PUBLISH_FAILED', ...srv]);
      expect(JSON.parse(list.out)).toMatchObject({ seq: record.seq, code: 'LAST_PUBLISH_FAILED', alt_id: '82aa0a41-509f-4818-a029-69219d1b3ae9', subject: 'alt.medium._', deliveries: 2 });
      const show = await run(['dlq', 'show', String(record.seq), ...srv]);
      expect(show.out).toContain('E-postalar');
      await own.jsm.streams.add(lastConfig);
      const replay = await run(['dlq', 'replay', String(record.seq), ...srv]);
      expect(replay.out).toMatch(new RegExp(`^replayed DLQ ${record.seq} to alt\\.medium\\._: ALT seq \\d+; record removed$`, 'm'));
      const lasts = await eventually(() => own.lasts(), (l) => l.some(({ last }) => last.alt_file_id === '82aa0a41-509f-4818-a029-69219d1b3ae9' && last.status === 'success'), 'the replayed job to succeed');
      expect(lasts.map(({ last }) => last.status)).toEqual(['success']);
      // The replayed record is gone: the job is no longer a dead letter.
      expect(await own.records('ALT_DLQ')).toEqual([]);
      expect((await run(['dlq', 'list', ...srv])).out).toBe('the DLQ is empty');
      expect((await run(['dlq', 'show', '999', ...srv])).code).toBe(1);
      expect((await run(['dlq', 'replay', ...srv])).code).toBe(2);
    } finally {
      await own.close();
    }
  });

  it('status shows the streams and the consumer', async () => {
    const r = await run(['status', '--json', ...server]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.streams.map((x: { stream: string }) => x.stream)).toEqual(['ALT', 'LAST', 'ALT_DLQ']);
    expect(s.consumer).toMatchObject({ consumer: 'runner', pending: 0 });
    expect(s.dlq).toBe(0);
    const text = await run(['status', ...server]);
    expect(text.out).toMatch(/^CONSUMER +PENDING +ACK PENDING +REDELIVERED +PULLS WAITING +DLQ$/m);
  });

  it('reports an unreachable server in one line with exit 1', async () => {
    const r = await run(['status', '--server', `nats://127.0.0.1:${await freePort()}`]);
    expect(r.code).toBe(1);
    expect(r.err.split('\n')).toHaveLength(1);
  });
});

describe('npm run demo', () => {
  it('runs the whole chain with its own nats-server and leaves no process behind', async () => {
    const port = await freePort();
    const { stdout } = await promisify(execFile)(join(ROOT, 'bin', 'altlas'), ['demo'], { env: { ...process.env, NATS_URL: `nats://127.0.0.1:${port}` }, timeout: 120_000 });
    expect(stdout).toContain(`started a local nats-server at nats://127.0.0.1:${port}`);
    expect(stdout).toMatch(/^alt_example_001 +success +100\.0% +3\/3 /m);
    expect(stdout).toMatch(/^\d+ +ALT_CYCLE +invalid-cycle-example +demo\.alt\.submit /m);
    expect(stdout).toContain('demo: done, everything it started is stopped');
    const workerPid = Number(/worker started \(pid (\d+)\)/.exec(stdout)?.[1]);
    const store = /\(store (\S+)\)/.exec(stdout)?.[1];
    expect(workerPid).toBeGreaterThan(0);
    const alive = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
        return Number(p) === workerPid || (store !== undefined && cmd.includes(store));
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
  });
});
