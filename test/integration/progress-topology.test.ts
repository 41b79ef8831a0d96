/**
 * The progress stream as a worker provisions and checks it: its limits and republishing as
 * configured, a stream without the republishing refused, progress switched off, and prefixes
 * that would make the stream store its own copies refused.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DiscardPolicy } from '@nats-io/jetstream';
import { ROOT } from '../helpers/paths.ts';
import { Harness, job } from '../helpers/runner.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('the progress stream', () => {
  it('is created with its limits (discard old, the duplicate window within the max age) and republishes to the live prefix', async () => {
    h = await Harness.start();
    await h.worker({ PROGRESS_MAX_AGE_MS: '60000', PROGRESS_MAX_BYTES: '1048576', PROGRESS_DUPLICATE_WINDOW_MS: '120000', PROGRESS_STREAM: 'LIVE_TEXT', PROGRESS_SUBJECT_PREFIX: 'answers', PROGRESS_LIVE_PREFIX: 'watch.answers' });
    const c = (await h.jsm.streams.info('LIVE_TEXT')).config;
    expect({ subjects: c.subjects, max_age: c.max_age, max_bytes: c.max_bytes, discard: c.discard, duplicate_window: c.duplicate_window, republish: c.republish }).toEqual({
      subjects: ['answers.>'], max_age: 60e9, max_bytes: 1_048_576, discard: DiscardPolicy.Old, duplicate_window: 60e9, republish: { src: 'answers.>', dest: 'watch.answers.>' },
    });
    await h.publish(job('named', 1));
    await h.waitForLasts(1);
    // A whole answer is one message: its end with its text.
    expect((await h.records('LIVE_TEXT')).map((r) => r.subject)).toEqual(['answers.named.t1']);
  });

  it('stops a worker with TOPOLOGY_MISMATCH when an existing progress stream does not republish, and changes nothing', async () => {
    h = await Harness.start();
    await h.jsm.streams.add({ name: 'ALT_PROGRESS', subjects: ['progress.>'] });
    await expect(h.worker()).rejects.toThrow(/worker exited before it started/);
    const w = h.workers.at(-1)!;
    expect((await w.exited).code).toBe(2);
    expect(w.logs('worker could not start')[0]).toMatchObject({ code: 'TOPOLOGY_MISMATCH', error: expect.stringContaining('does not republish what it stores to live.progress.>') });
    expect((await h.jsm.streams.info('ALT_PROGRESS')).config.republish).toBeUndefined();
  });

  it('is created by altlas init; init reports a retention that differs and --apply sets the configured one', async () => {
    h = await Harness.start();
    const init = (args: string[] = []) => new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(join(ROOT, 'bin', 'altlas'), ['init', ...args, '--server', h!.server.url], { env: { ...process.env, PROGRESS_MAX_AGE_MS: '3600000' } });
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      p.stderr.on('data', (c: Buffer) => (out += c.toString()));
      p.once('exit', (code) => resolve({ code, out }));
    });
    const first = await init();
    expect(first.out).toMatch(/^created +ALT_PROGRESS$/m);
    await h.jsm.streams.update('ALT_PROGRESS', { max_age: 60e9, duplicate_window: 60e9 });
    expect((await init()).out).toMatch(/^exists +ALT_PROGRESS \(differs: max_age 1m, configured 1h \(PROGRESS_MAX_AGE_MS\); duplicate_window 1m, configured 2m \(PROGRESS_DUPLICATE_WINDOW_MS\)\)$/m);
    const applied = await init(['--apply']);
    expect(applied.out).toMatch(/^updated +ALT_PROGRESS: max_age 1m → 1h \(PROGRESS_MAX_AGE_MS\)$/m);
    expect((await h.jsm.streams.info('ALT_PROGRESS')).config).toMatchObject({ max_age: 3_600e9, duplicate_window: 120e9, republish: { dest: 'live.progress.>' } });
  });

  it('is neither created nor written with PROGRESS_ENABLED=false; jobs run as before', async () => {
    h = await Harness.start();
    await h.worker({ PROGRESS_ENABLED: 'false' });
    await h.publish(job('quiet', 2));
    const [{ last }] = await h.waitForLasts(1);
    expect(last.status).toBe('success');
    await expect(h.jsm.streams.info('ALT_PROGRESS')).rejects.toThrow(/stream not found/);
  });

  it('refuses a live prefix inside the progress subjects (the stream would store its own copies): exit 2, CONFIG_INVALID', async () => {
    h = await Harness.start();
    const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const p = spawn(join(ROOT, 'bin', 'altlas'), ['worker'], { env: { ...process.env, ...h!.env({ PROGRESS_LIVE_PREFIX: 'progress.live' }) } });
      let text = '';
      p.stdout.on('data', (c: Buffer) => (text += c.toString()));
      p.stderr.on('data', (c: Buffer) => (text += c.toString()));
      p.once('exit', (code) => resolve({ code, text }));
    });
    expect(out.code).toBe(2);
    expect(out.text).toMatch(/PROGRESS_LIVE_PREFIX=progress\.live and PROGRESS_SUBJECT_PREFIX=progress overlap/);
  });
});
