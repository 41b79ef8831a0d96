/**
 * The ALT stream's raw byte cap: with a server whose max payload was raised (4 MiB here), a
 * producer still cannot store a job beyond ALT_MAX_BYTES plus 64 KiB (ALT_STREAM_MAX_MSG_BYTES);
 * an ALT made without the cap is shown by altlas init as differing and set by init --apply.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RetentionPolicy } from '@nats-io/jetstream';
import { main } from '../../src/cli/main.ts';
import { Harness } from '../helpers/runner.ts';

let h: Harness;

async function cli(argv: string[], env: Record<string, string> = {}) {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await main([...argv, '--server', h.server.url], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

beforeAll(async () => {
  h = await Harness.start({ config: 'max_payload: 4194304' });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

describe('ALT_STREAM_MAX_MSG_BYTES', () => {
  it('keeps a producer from storing a message far beyond the decoder\'s cap, whatever the server\'s max payload', async () => {
    expect((await cli(['init'])).code).toBe(0);
    expect((await h.jsm.streams.info('ALT')).config.max_msg_size).toBe(1_048_576 + 65_536);
    // Within the cap: stored (the decoder refuses it later if it is past ALT_MAX_BYTES).
    await h.js.publish('alt.submit', new Uint8Array(1_048_576 + 60_000));
    // Past it: refused at the publish, nothing stored.
    for (const size of [1_048_576 + 70_000, 4_000_000]) {
      await expect(h.js.publish('alt.submit', new Uint8Array(size))).rejects.toThrow(/message size exceeds maximum/i);
    }
    expect((await h.jsm.streams.info('ALT')).state.messages).toBe(1);
    // Configurable.
    await h.jsm.streams.delete('ALT');
    expect((await cli(['init'], { ALT_STREAM_MAX_MSG_BYTES: '2000000' })).code).toBe(0);
    expect((await h.jsm.streams.info('ALT')).config.max_msg_size).toBe(2_000_000);
  });

  it('shows an ALT made without the cap as differing; init --apply sets it', async () => {
    await h.jsm.streams.delete('ALT');
    await h.jsm.streams.add({ name: 'ALT', subjects: ['alt.>'], retention: RetentionPolicy.Workqueue });
    const shown = await cli(['init']);
    expect(shown.out).toMatch(/^exists +ALT \(differs: max_msg_size no limit, configured 1114112 bytes \(ALT_STREAM_MAX_MSG_BYTES\)\)$/m);
    const applied = await cli(['init', '--apply']);
    expect(applied.code).toBe(0);
    expect((await h.jsm.streams.info('ALT')).config.max_msg_size).toBe(1_114_112);
    await expect(h.js.publish('alt.submit', new Uint8Array(2_000_000))).rejects.toThrow(/message size exceeds maximum/i);
  });
});
