/** Secrets stay secret (logs, results, dead letters, status), and data is encrypted at rest. */
import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { freePort } from '../../src/devtools/nats-server.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Secrets as they appear in real jobs: provider keys, tokens, credentials in URLs, values under secret-named keys. */
const SECRETS = {
  openai: 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234567890',
  anthropic: 'sk-ant-api03-ABCDEFGHIJKLMNOPQRSTUVWXyz',
  aws: 'AKIAIOSFODNN7EXAMPLE',
  github: 'ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ',
  slack: 'xoxb-123456789012-abcdefghijklmnop',
  google: 'AIzaSyA-1234567890abcdefghijklmnopqrstu',
  stripe: 'sk_live_51HabcdefghijklmnopQRSTUvw',
  jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
  bearer: 'abcDEF123456789xyzBEARER',
  dsnPassword: 'Pa55w0rd-in-a-DSN',
  urlPassword: 'hunter2-in-a-url',
  seed: 'SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY',
  pem: 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSj',
  xApiKey: 'value-under-X-Api-Key',
  privateKey: 'value-under-private_key',
  accessKeyId: 'value-under-access_key_id',
  openaiKey: 'value-under-openai_key',
  pwd: 'value-under-pwd',
  xAuth: 'value-under-X-Auth',
  deep: 'value-under-a-deep-api_key',
  pair: 'value-of-an-api_key-pair',
};

const sensitive = {
  'X-Api-Key': SECRETS.xApiKey, private_key: SECRETS.privateKey, access_key_id: SECRETS.accessKeyId, openai_key: SECRETS.openaiKey,
  pwd: SECRETS.pwd, 'X-Auth': SECRETS.xAuth,
  a: { b: { c: { d: { e: { f: { g: { h: { api_key: SECRETS.deep } } } } } } } },
  notes: `keys ${SECRETS.openai} ${SECRETS.anthropic} ${SECRETS.aws} ${SECRETS.github} ${SECRETS.slack} ${SECRETS.google} ${SECRETS.stripe} token ${SECRETS.jwt}`,
  auth_header: `Authorization: Bearer ${SECRETS.bearer}`,
  db: `postgres://admin:${SECRETS.dsnPassword}@db.internal:5432/app`,
  callback: `https://robot:${SECRETS.urlPassword}@hooks.example.com/x?api_key=${SECRETS.pair}`,
  nats: SECRETS.seed,
  cert: `-----BEGIN PRIVATE KEY-----\n${SECRETS.pem}\n-----END PRIVATE KEY-----`,
};

async function everythingStored(harness: Harness): Promise<string> {
  const out: string[] = [];
  for (const stream of ['LAST', 'ALT_DLQ', 'KV_ALT_RUNS', 'KV_ALT_CHECKPOINTS']) {
    for (const r of await harness.records(stream)) {
      out.push(r.subject, JSON.stringify([...(r.headers ?? [])]));
      // A DLQ record's body is the original .alt, unchanged by design (PAYLOAD_KEYS encrypts it): its headers are checked.
      if (stream !== 'ALT_DLQ') out.push(Buffer.from(r.data).toString('utf8'));
    }
  }
  return out.join('\n');
}

describe('secrets never leave', () => {
  it('keeps a catalogue of secrets planted in every field out of logs, results, dead letters, status and metrics', async () => {
    h = await Harness.start();
    h.fake.setFaults({ script: [{ match: '', answers: ['a fixed answer'] }] });
    const port = await freePort();
    const w = await h.worker({ LOG_LEVEL: 'debug', HTTP_PORT: String(port), RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_STATUS_FLUSH_MS: '10' });
    const doc = JSON.parse(job('secretive', 2)) as Record<string, unknown> & { tasks: Record<string, unknown>[] };
    doc.title = `Report (Bearer ${SECRETS.bearer})`;
    doc.description = `see ${sensitive.callback}`;
    doc.metadata = { ...sensitive, tags: ['x'] };
    doc.tasks = doc.tasks.map((t) => ({ ...t, parameters: { ...sensitive, prompt: 'summarise' }, metadata: sensitive }));
    await h.publish(JSON.stringify(doc));
    // A job that breaks its schema with secrets in the offending values: error texts must not quote them.
    await h.publish(JSON.stringify({ id: 'bad-secrets', version: '1.0', created_at: '2025-01-01T00:00:00Z', title: 't', mode: `api_key=${SECRETS.pair}`, tasks: [{ id: 'a', description: 'x', retry_count: SECRETS.openai }] }));
    await h.waitForLasts(2);
    await eventually(() => h!.records('ALT_DLQ'), (r) => r.length === 1, 'the dead letter');
    await eventually(async () => w.logs('job finished'), (l) => l.length === 1, 'the job line');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    await new Promise((r) => setTimeout(r, 300));
    const channels = { logs: w.lines.join('\n'), stored: await everythingStored(h), metrics };
    expect(channels.logs).toContain('[REDACTED]');
    expect(w.logs('job decoded')).toHaveLength(1);
    for (const [channel, text] of Object.entries(channels)) {
      for (const [name, secret] of Object.entries(SECRETS)) expect({ channel, name, leaked: text.includes(secret) }).toEqual({ channel, name, leaked: false });
    }
  });
});

/** Every file below a directory, concatenated. */
function filesBelow(dir: string): Buffer {
  const parts: Buffer[] = [];
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const p = join(entry.parentPath, entry.name);
    if (entry.isFile() && statSync(p).size > 0) parts.push(readFileSync(p));
  }
  return Buffer.concat(parts);
}

describe('encryption at rest', () => {
  it('stores nothing readable with JetStream encryption on the server, and the worker runs as usual', async () => {
    const marker = `PLAINTEXT-MARKER-${randomBytes(6).toString('hex')}`;
    for (const encrypted of [false, true]) {
      h = await Harness.start(encrypted ? { jetstream: `cipher: aes\nkey: "${randomBytes(24).toString('hex')}"` } : {});
      await h.worker();
      await h.publish(job('at-rest', 1, marker));
      const [{ last }] = await h.waitForLasts(1);
      expect(last.status).toBe('success');
      await h.server.stop();
      // Without encryption the marker is found in the store (the check can see it); with it, nowhere.
      expect({ encrypted, found: filesBelow(h.server.dir).includes(marker) }).toEqual({ encrypted, found: !encrypted });
      await h.server.restart();
      await h.close();
      h = undefined;
    }
  });

  it('encrypts end to end with PAYLOAD_KEYS: nothing readable in any stream, old keys still decrypt, the CLI reads with the key', async () => {
    const k1 = randomBytes(32).toString('base64');
    const k2 = randomBytes(32).toString('base64');
    const marker = `ALT-MARKER-${randomBytes(6).toString('hex')}`;
    const answer = `ANSWER-MARKER-${randomBytes(6).toString('hex')}`;
    h = await Harness.start();
    h.fake.setFaults({ script: [{ match: '', answers: [`${answer} ${'x'.repeat(3_000)}`] }] });
    // The worker encrypts with k2 and still reads k1; the producer still has only the old key.
    await h.worker({ PAYLOAD_KEYS: `k2:${k2},k1:${k1}`, RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_OUTPUT_INLINE_MAX: '1000', RUNNER_STATUS_FLUSH_MS: '10' });
    const io = () => {
      const out: string[] = [];
      const err: string[] = [];
      return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
    };
    const withKeys = async (keys: string | undefined, argv: string[]) => {
      const saved = process.env.PAYLOAD_KEYS;
      if (keys) process.env.PAYLOAD_KEYS = keys;
      else delete process.env.PAYLOAD_KEYS;
      const c = io();
      try {
        return { code: await main([...argv, '--server', h!.server.url], c.io), out: c.out.join('\n'), err: c.err.join('\n') };
      } finally {
        if (saved === undefined) delete process.env.PAYLOAD_KEYS;
        else process.env.PAYLOAD_KEYS = saved;
      }
    };
    const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'altlas-keys-'));
    try {
      writeFileSync(join(dir, 'job.json'), job('sealed', 2, marker));
      writeFileSync(join(dir, 'bad.json'), `{"id": "sealed-bad", "title": "${marker}", "tasks": [`);
      // The producer holds only the old key: it can send, not read the results (sealed with k2).
      const published = await withKeys(`k1:${k1}`, ['publish', join(dir, 'job.json')]);
      expect(published).toMatchObject({ code: 0, err: '' });
      const waited = await withKeys(`k1:${k1}`, ['publish', '--wait', '--timeout', '20', join(dir, 'job.json')]);
      expect(waited.err).toMatch(/encrypted with key k2/);
      expect((await withKeys(`k1:${k1}`, ['publish', '--no-validate', join(dir, 'bad.json')])).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await eventually(() => h!.records('ALT_DLQ'), (r) => r.length === 1, 'the dead letter');
    // Two .lasts: the broken job's id is read from its decrypted bytes, so it gets its failure .last (encrypted) beside the dead letter.
    const stored = await eventually(() => h!.records('LAST'), (r) => r.length === 2, 'the results (encrypted)');
    expect(stored.map((r) => r.headers?.get('Alt-Id')).sort()).toEqual(['sealed', 'sealed-bad']);
    const raw: string[] = [];
    for (const stream of ['ALT', 'LAST', 'ALT_DLQ', 'ALT_PROGRESS', 'ALT_HISTORY', 'KV_ALT_RUNS', 'KV_ALT_CHECKPOINTS', 'OBJ_ALT_OUTPUTS', 'OBJ_ALT_BODIES']) {
      for (const r of await h.records(stream)) raw.push(Buffer.from(r.data).toString('latin1'), JSON.stringify([...(r.headers ?? [])]));
    }
    const all = raw.join('\n');
    expect(all.length).toBeGreaterThan(1_000);
    // The answer went through the progress stream too, sealed.
    expect((await h.records('ALT_PROGRESS')).length).toBeGreaterThan(0);
    for (const m of [marker, answer]) expect({ m, found: all.includes(m) }).toEqual({ m, found: false });
    // With the keys the CLI reads it all back; without them a result does not decrypt.
    const results = await withKeys(`k2:${k2}`, ['results', '--json', '--alt-id', 'sealed']);
    expect(JSON.parse(results.out).task_results.t1.output.text).toContain(answer);
    const status = await withKeys(`k2:${k2}`, ['status', 'sealed', '--json']);
    expect(JSON.parse(status.out)).toMatchObject({ state: 'completed', title: 'job sealed', tasks: { t1: { state: 'completed' } } });
    const dlq = await withKeys(`k1:${k1}`, ['dlq', 'show', '1']);
    expect(dlq.out).toContain(marker);
    const artifact = (JSON.parse(results.out).artifacts as { path: string }[]).find((a) => a.path.startsWith('altlas+obj://'))!;
    expect((await withKeys(`k2:${k2}`, ['artifact', 'get', artifact.path])).out).toContain(answer);
    const keyless = await withKeys(undefined, ['results', '--json', '--alt-id', 'sealed']);
    expect(keyless.code).toBe(1);
    expect(keyless.err).toMatch(/ALT_DECRYPT|PAYLOAD_KEYS|encrypted/);
  });
});
