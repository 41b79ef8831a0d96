/**
 * Secrets that used to leave, tried through a real worker: planted in every field of valid and
 * invalid jobs, in `baggage` and `tracestate`, in the AI URL. Nothing comes out in a `.last`
 * (body or headers), a dead letter's headers, a status entry, a span, a log line, or what
 * `altlas results`, `status`, `jobs` and `dlq list/show` print; `dlq show --raw` prints the
 * bytes. Ordinary content comes through unchanged, LOG_REDACT's names are masked in results,
 * and under PAYLOAD_KEYS a dead letter's error text is sealed, trace headers are not copied, and
 * a sealed job that does not decode still gets its failure `.last` and status.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { payloadCodec } from '../../src/security/codec.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { OtlpReceiver } from '../helpers/otlp.ts';
import { ORDINARY_KEYS, ORDINARY_TEXTS, PLANTED_SECRETS } from '../fixtures/redaction-corpus.ts';

let h: Harness | undefined;
let otlp: OtlpReceiver | undefined;
afterEach(async () => {
  await h?.close();
  await otlp?.close();
  h = undefined;
  otlp = undefined;
});

/** Runs an `altlas` command in this process with extra environment variables. */
async function cli(argv: string[], env: Record<string, string> = {}) {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await main([...argv, '--server', h!.server.url], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

/** The bodies a dashboard on the harness's connection answers for `paths` (each a GET). */
async function dashboardBodies(paths: string[]): Promise<string[]> {
  const { Dashboard } = await import('../../src/dashboard/server.ts');
  const { loadConfig } = await import('../../src/config/load.ts');
  const dashboard = new Dashboard({ config: loadConfig({ NATS_URL: h!.server.url }), port: 0 });
  const stop = new AbortController();
  try {
    const url = `http://127.0.0.1:${(await dashboard.listen()).port}`;
    await dashboard.attach(h!.nc, stop.signal);
    const out: string[] = [];
    for (const p of paths) {
      const r = await fetch(`${url}${p}`);
      const text = await r.text();
      expect({ p, status: r.status }).toEqual({ p, status: 200 });
      out.push(text);
    }
    return out;
  } finally {
    stop.abort();
    await dashboard.close();
  }
}

const texts = PLANTED_SECRETS.map((p) => p.text);
const SECRETS = PLANTED_SECRETS.flatMap((p) => p.secrets);
const pick = (name: string) => PLANTED_SECRETS.find((p) => p.name === name)!;
const AI_PASSWORD = 'AiPa55-w0rd-9x';
/** Values under secret names nested in metadata, and a passphrase in a title. */
const NESTED = { passphrase: 'open sesame 4711 words', client_secret: 'cs-7f3a9b1e2d4c', title: 'Tr0ub4dor-and-3' };

/** A runner-form job with a planted secret in every field. */
function planted(id: string, extra: Record<string, unknown> = {}) {
  const doc = JSON.parse(job(id, 2)) as Record<string, unknown> & { tasks: Record<string, unknown>[] };
  return {
    ...doc,
    title: `Quarterly report passphrase=${NESTED.title} ${texts.slice(0, 12).join(' ')}`,
    description: texts.join('\n'),
    metadata: { notes: texts, deep: { deeper: Object.fromEntries(texts.map((t, i) => [`f${i}`, t])), vault: { passphrase: NESTED.passphrase, clients: [{ client_secret: NESTED.client_secret }] } }, password: 'correct horse battery staple', tags: ['x'] },
    tags: texts.filter((t) => !t.includes('\n')),
    tasks: doc.tasks.map((t) => ({ ...t, parameters: { prompt: 'summarise', api_key: pick('openai project key').text, notes: texts.slice(0, 30) }, metadata: { db: pick('url password').text } })),
    ...extra,
  };
}

describe('secrets that used to leave', () => {
  it('leave nowhere: results, dead letters, status, spans, logs and what the commands print', async () => {
    otlp = new OtlpReceiver();
    const endpoint = await otlp.listen();
    h = await Harness.start();
    h.fake.setFaults({ script: [{ match: '', answers: ['a fixed answer'] }] });
    const aiUrl = h.aiUrl.replace('://', `://aiuser:${AI_PASSWORD}@`);
    const w = await h.worker({
      AI_URL: aiUrl, LOG_LEVEL: 'debug', RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_STATUS_FLUSH_MS: '10',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    const baggage = `user=alice,api_key=${pick('stripe secret key').text},session=${pick('jwt').text},note=${encodeURIComponent(pick('bearer token in a title').text)}`;
    const tracestate = `acme=${pick('github classic token').text},other=ok`;
    const headers = { baggage, tracestate, traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01` };
    // Valid, and invalid in every way: syntax, schema, graph (a secret as a missing dependency), a forbidden kind.
    await h.publish(JSON.stringify(planted('leak-valid')), headers);
    await h.publish(`${JSON.stringify(planted('leak-syntax')).slice(0, -40)} ${texts.slice(0, 20).join(' ')}`, headers);
    await h.publish(JSON.stringify(planted('leak-schema', { mode: pick('anthropic key').text, tasks: [{ id: 'a', description: 'x', retry_count: pick('aws access key id').text }] })), headers);
    await h.publish(JSON.stringify(planted('leak-graph', { tasks: [{ id: 'a', description: 'x', dependencies: [pick('github classic token').text] }] })), headers);
    await h.publish(JSON.stringify(planted('leak-kind', { tasks: [{ id: 'a', description: 'x', task_type: 'ѕystem_command' }] })), headers);
    await h.waitForLasts(5);
    const dlq = await eventually(() => h!.records('ALT_DLQ'), (r) => r.length === 4, 'the dead letters');
    await eventually(async () => w.logs('job finished'), (l) => l.length === 1, 'the job line');
    await eventually(async () => otlp!.spans.filter((s) => s.attributes['url.full']), (s) => s.length >= 2, 'the AI spans');

    const stored: string[] = [];
    for (const stream of ['LAST', 'KV_ALT_RUNS']) for (const r of await h.records(stream)) stored.push(Buffer.from(r.data).toString('utf8'), JSON.stringify([...(r.headers ?? [])]));
    // A dead letter's body is the original job, unchanged by design: its headers are checked here, what is shown of it below.
    for (const r of dlq) stored.push(JSON.stringify([...(r.headers ?? [])]));
    const shown: string[] = [];
    for (const argv of [['results', '--json'], ['jobs', '--json'], ['dlq', 'list', '--json'], ...['leak-valid', 'leak-kind', 'leak-graph'].map((id) => ['status', id, '--json'])]) {
      const r = await cli(argv);
      expect({ argv, code: r.code, err: r.err }).toEqual({ argv, code: 0, err: '' });
      shown.push(r.out);
    }
    for (const r of dlq) {
      for (const flags of [[], ['--json']]) shown.push((await cli(['dlq', 'show', String(r.seq), ...flags])).out);
    }
    // The dashboard: job data under the data policy, dead letters and their originals under the logs policy.
    shown.push(...await dashboardBodies([
      '/api/jobs', '/api/dlq', '/api/fleet',
      ...['leak-valid', 'leak-kind', 'leak-graph'].map((id) => `/api/jobs/${id}`),
      ...dlq.map((r) => `/api/dlq/${r.seq}`),
    ]));
    const channels = { stored: stored.join('\n'), shown: shown.join('\n'), spans: JSON.stringify(otlp.spans), logs: w.lines.join('\n') };
    for (const [channel, text] of Object.entries(channels)) {
      expect({ channel, leaked: SECRETS.filter((s) => text.includes(s)) }).toEqual({ channel, leaked: [] });
      expect({ channel, ai: text.includes(AI_PASSWORD), horse: text.includes('horse battery') }).toEqual({ channel, ai: false, horse: false });
      expect({ channel, nested: Object.values(NESTED).filter((v) => text.includes(v)) }).toEqual({ channel, nested: [] });
    }
    // What the checks above look at: the .last did carry baggage and tracestate (redacted), the spans the AI URL (without its credentials).
    const valid = (await h.lasts()).find((l) => l.last.alt_file_id === 'leak-valid')!;
    expect(valid.headers?.get('baggage')).toMatch(/^user=alice,api_key=\[REDACTED\],session=\[REDACTED\],note=\[REDACTED\]$/);
    expect(valid.headers?.get('tracestate')).toBe('acme=[REDACTED],other=ok');
    expect(otlp.spans.find((s) => s.attributes['url.full'])!.attributes['url.full']).toMatch(/^http:\/\/(?:REDACTED:REDACTED@)?127\.0\.0\.1:\d+\//);
    // --raw is for the operator who needs the bytes.
    const raw = await cli(['dlq', 'show', String(dlq[0].seq), '--raw']);
    expect(SECRETS.filter((s) => raw.out.includes(s)).length).toBeGreaterThan(10);
  });

  it('copies ordinary titles, metadata and tags unchanged, and masks LOG_REDACT\'s names in results', async () => {
    h = await Harness.start();
    await h.worker({ LOG_REDACT: 'customer_ref', RUNNER_STATUS_FLUSH_MS: '10' });
    const metadata = { ...Object.fromEntries(ORDINARY_KEYS.map((k, i) => [k, ORDINARY_TEXTS[i % ORDINARY_TEXTS.length]])), all_texts: ORDINARY_TEXTS, customer_ref: 'CUST-991' };
    const titles = ORDINARY_TEXTS.slice(0, 12);
    for (const [i, title] of titles.entries()) await h.publish(JSON.stringify({ ...JSON.parse(job(`ordinary-${i}`, 1)), title, metadata, tags: ORDINARY_TEXTS.slice(0, 40) }));
    const lasts = await h.waitForLasts(titles.length);
    for (const [i, title] of titles.entries()) {
      const { last } = lasts.find((l) => l.last.alt_file_id === `ordinary-${i}`)!;
      expect(last.title).toBe(title);
      expect(last.tags).toEqual(ORDINARY_TEXTS.slice(0, 40));
      const copied = Object.fromEntries(Object.entries(last.metadata).filter(([k]) => k.startsWith('alt_')).map(([k, v]) => [k.slice(4), v]));
      expect(copied).toEqual({ ...metadata, customer_ref: '[REDACTED]' });
      const status = await eventually(() => cli(['status', `ordinary-${i}`, '--json']), (r) => r.code === 0 && JSON.parse(r.out).state === 'completed', 'the status entry');
      expect(JSON.parse(status.out).title).toBe(title);
    }
    // The dashboard's job list shows the titles as they are too.
    const { Dashboard } = await import('../../src/dashboard/server.ts');
    const { loadConfig } = await import('../../src/config/load.ts');
    const dashboard = new Dashboard({ config: loadConfig({ NATS_URL: h.server.url, LOG_REDACT: 'customer_ref' }), port: 0 });
    const stop = new AbortController();
    try {
      const address = await dashboard.listen();
      await dashboard.attach(h.nc, stop.signal);
      const url = `http://127.0.0.1:${address.port}`;
      const listed = await (await fetch(`${url}/api/jobs?limit=100`)).json() as { jobs: { alt_id: string; title: string }[] };
      for (const [i, title] of titles.entries()) expect(listed.jobs.find((j) => j.alt_id === `ordinary-${i}`)?.title).toBe(title);
      // Dead letters of ordinary content: dlq show and the dashboard show their originals unchanged (a document and a text).
      const refused = { ...JSON.parse(job('ordinary-dlq', 1)), title: ORDINARY_TEXTS[0], metadata: { ...metadata, notes: ORDINARY_TEXTS }, tags: ORDINARY_TEXTS.slice(0, 40), tasks: [{ id: 'a', description: ORDINARY_TEXTS[2], task_type: 'system_command' }] };
      await h.publish(JSON.stringify(refused));
      const broken = `{"title": "broken\n${ORDINARY_TEXTS.join('\n')}\n`;
      await h.publish(broken);
      const dlq = await eventually(() => h!.records('ALT_DLQ'), (r) => r.length === 2, 'the two dead letters');
      const shown = async (seq: number) => {
        const r = await cli(['dlq', 'show', String(seq), '--json'], { LOG_REDACT: 'customer_ref' });
        expect(r.code).toBe(0);
        const page = await (await fetch(`${url}/api/dlq/${seq}`)).json() as { payload: string };
        const body = (JSON.parse(r.out) as { body: string }).body;
        expect(page.payload).toBe(body);
        return body;
      };
      const kind = dlq.find((r) => r.headers?.get('Dlq-Code') === 'TASK_KIND_FORBIDDEN')!;
      const doc = JSON.parse(await shown(kind.seq)) as typeof refused;
      expect(doc.metadata).toEqual({ ...metadata, notes: ORDINARY_TEXTS, customer_ref: '[REDACTED]' });
      expect([doc.title, doc.tags, doc.tasks[0].description]).toEqual([ORDINARY_TEXTS[0], ORDINARY_TEXTS.slice(0, 40), ORDINARY_TEXTS[2]]);
      const text = await shown(dlq.find((r) => r !== kind)!.seq);
      expect(text.split('\n').filter((l, i) => l !== broken.split('\n')[i])).toEqual([]);
    } finally {
      stop.abort();
      await dashboard.close();
    }
  });

  it('under PAYLOAD_KEYS: seals the dead letter\'s error text, copies no trace header, and a sealed job that does not decode gets its failure .last and status', async () => {
    const keys = `k1:${randomBytes(32).toString('base64')}`;
    h = await Harness.start();
    await h.worker({ PAYLOAD_KEYS: keys, RUNNER_STATUS_FLUSH_MS: '10' });
    const marker = `SECRET-DEP-${randomBytes(6).toString('hex')}`;
    const bad = JSON.stringify({ ...JSON.parse(job('sealed-graph', 1)), tasks: [{ id: 'a', description: 'x', dependencies: [marker] }] });
    const codec = payloadCodec(keys);
    const baggage = `api_key=${pick('stripe secret key').text}`;
    await h.publish(codec.seal(Buffer.from(bad), 'alt'), { 'Altlas-Key-Id': 'k1', baggage, tracestate: 'acme=x' });
    await h.publish(codec.seal(Buffer.from(job('sealed-ok', 1)), 'alt'), { 'Altlas-Key-Id': 'k1', baggage, tracestate: 'acme=x' });
    const lasts = await eventually(() => h!.records('LAST'), (r) => r.length === 2, 'both .lasts');
    const [record] = await eventually(() => h!.records('ALT_DLQ'), (r) => r.length === 1, 'the dead letter');
    for (const r of [...lasts, record]) expect([r.headers?.get('baggage'), r.headers?.get('tracestate')]).toEqual(['', '']);
    expect(record.headers?.get('Dlq-Error')).not.toContain(marker);
    expect(record.headers?.get('Dlq-Error-Sealed')).toBeTruthy();
    expect(JSON.stringify([...(record.headers ?? [])])).not.toContain(marker);
    // With the key the commands read the error; the failure .last and the status say the job failed.
    const listed = await cli(['dlq', 'list', '--json'], { PAYLOAD_KEYS: keys });
    expect(JSON.parse(listed.out)).toMatchObject({ code: 'ALT_UNKNOWN_DEPENDENCY', alt_id: 'sealed-graph', error: expect.stringContaining(marker) });
    const result = await cli(['results', '--json', '--alt-id', 'sealed-graph'], { PAYLOAD_KEYS: keys });
    expect(JSON.parse(result.out)).toMatchObject({ alt_file_id: 'sealed-graph', status: 'failure', metadata: { error_code: 'ALT_UNKNOWN_DEPENDENCY' } });
    const status = await eventually(() => cli(['status', 'sealed-graph', '--json'], { PAYLOAD_KEYS: keys }), (r) => r.code === 0 && JSON.parse(r.out).state === 'failed', 'the failed status');
    expect(JSON.parse(status.out)).toMatchObject({ state: 'failed', error: { code: 'ALT_UNKNOWN_DEPENDENCY' } });
    // publish --wait reports the failure at once instead of waiting for its timeout.
    const dir = mkdtempSync(join(tmpdir(), 'altlas-sealed-'));
    try {
      writeFileSync(join(dir, 'bad.json'), bad.replace('sealed-graph', 'sealed-graph-2'));
      const waited = await cli(['publish', '--no-validate', '--wait', '--timeout', '120', join(dir, 'bad.json')], { PAYLOAD_KEYS: keys });
      expect(waited.code).toBe(1);
      expect(waited.out).toMatch(/^failure +\S+bad\.json: sealed-graph-2, success 0/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
