/**
 * `altlas dashboard`: a web page of the fleet, live over Server-Sent Events. One HTTP server,
 * static assets from this folder (and the graph layout library from node_modules; the page loads
 * nothing from the internet), a JSON API, and actions (replay, purge, cancel) that need
 * DASHBOARD_TOKEN as a bearer token in a POST; without the variable the page is read-only.
 * Bound to 127.0.0.1 unless told otherwise; every response carries a Content-Security-Policy.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { timingSafeEqual, createHash } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Config } from '../config/schema.ts';
import { HEADERS, subjectToken } from '../messaging/subjects.ts';
import { describeRecord, dlqRecord, dlqRecords, originalOf, purgeRecords, replayRecord, type DlqSession } from '../ops/dlq.ts';
import { isJobState, requestCancel } from '../ops/jobs.ts';
import { isSealed, payloadCodec, type Codec } from '../security/codec.ts';
import { redactData, redactText, redactValue } from '../security/redact.ts';
import { readLast } from '../cli/read-last.ts';
import { Live, type LiveEvent } from './live.ts';
import { LiveText } from './live-text.ts';

export interface DashboardOptions {
  nc: NatsConnection;
  config: Config;
  host?: string;
  port?: number;
}

const ASSETS = join(import.meta.dirname, 'assets');
const DAGRE = join(import.meta.dirname, '..', '..', 'node_modules', '@dagrejs', 'dagre', 'dist', 'dagre.esm.js');
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: join(ASSETS, 'index.html'), type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: join(ASSETS, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/app.css': { file: join(ASSETS, 'app.css'), type: 'text/css; charset=utf-8' },
  '/assets/dagre.js': { file: DAGRE, type: 'text/javascript; charset=utf-8' },
};
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

class HttpError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export class Dashboard {
  readonly #o: DashboardOptions;
  readonly #server: Server;
  readonly #clients = new Set<ServerResponse>();
  /** Pages following a job's live text (their own event stream). */
  readonly #textPages = new Set<ServerResponse>();
  readonly #codec: Codec;
  readonly #redactKeys: string[];
  #live!: Live;
  #text!: LiveText;
  #dlq!: DlqSession;
  #status!: Awaited<ReturnType<Kvm['open']>>;
  #unsubscribe: (() => void) | null = null;
  #ping: NodeJS.Timeout | null = null;

  constructor(options: DashboardOptions) {
    this.#o = options;
    this.#codec = payloadCodec(options.config.PAYLOAD_KEYS);
    this.#redactKeys = options.config.LOG_REDACT.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  /** Opens the buckets, starts the live view and listens; resolves with the page's URL. */
  async start(): Promise<string> {
    const { nc, config } = this.#o;
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const kvm = new Kvm(nc);
    this.#status = await kvm.open(config.RUNNER_STATUS_BUCKET);
    this.#dlq = { config, nc, js: jetstream(nc), jsm };
    this.#live = new Live({ config, nc, jsm, codec: this.#codec });
    await this.#live.start();
    this.#text = new LiveText({ nc, jsm, config, codec: this.#codec, send: (to, text) => this.#send(to, text) });
    this.#unsubscribe = this.#live.subscribe((e) => this.#broadcast(e));
    this.#ping = setInterval(() => {
      this.#send(null, ': ping\n\n');
      for (const p of this.#textPages) this.#send(p, ': ping\n\n');
    }, 15_000);
    this.#ping.unref();
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.port ?? 8090, this.#o.host ?? '127.0.0.1', () => resolve());
    });
    const a = this.#server.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async close(): Promise<void> {
    this.#unsubscribe?.();
    if (this.#ping) clearInterval(this.#ping);
    this.#live?.stop();
    this.#text?.close();
    for (const c of [...this.#clients, ...this.#textPages]) c.end();
    this.#clients.clear();
    this.#textPages.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  #send(to: ServerResponse | null, text: string): void {
    for (const c of to ? [to] : this.#clients) {
      if (!c.write(text) && c.writableLength > 8 * 1024 * 1024) c.destroy(); // a client that cannot keep up is dropped
    }
  }

  #broadcast(e: LiveEvent): void {
    if (!this.#clients.size) return;
    const data = e.type === 'job' ? this.#safeJob(e.job) : e.type === 'workers' ? e.workers : e.type === 'stats' ? e.stats : { alt_id: e.alt_id };
    this.#send(null, `event: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** A status entry as the page may show it: its title is job data (the data policy; its error text was redacted when written). */
  #safeJob<T>(job: T): T {
    return redactData(job, this.#redactKeys) as T;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    try {
      if (req.method === 'GET' && STATIC[url.pathname]) {
        const { file, type } = STATIC[url.pathname];
        res.writeHead(200, { 'content-type': type, ...SECURITY_HEADERS });
        res.end(await readFile(file));
        return;
      }
      if (req.method === 'GET' && url.pathname === '/api/events') return this.#events(req, res);
      const live = /^\/api\/jobs\/([^/]+)\/progress$/.exec(url.pathname);
      if (req.method === 'GET' && live) return this.#progress(decodeURIComponent(live[1]), req, res);
      if (url.pathname.startsWith('/api/actions/')) {
        if (req.method !== 'POST') throw new HttpError(405, 'actions are POST requests');
        this.#authorize(req);
        return this.#json(res, 200, await this.#action(url.pathname.slice('/api/actions/'.length), await this.#body(req)));
      }
      if (req.method !== 'GET') throw new HttpError(405, 'method not allowed');
      return this.#json(res, 200, await this.#get(url));
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      this.#json(res, status, { error: redactText((e as Error).message) });
    }
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...SECURITY_HEADERS });
    res.end(JSON.stringify(body));
  }

  #events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', ...SECURITY_HEADERS });
    res.write('retry: 2000\n\n');
    this.#clients.add(res);
    this.#send(res, `event: stats\ndata: ${JSON.stringify(this.#live.stats())}\n\n`);
    this.#send(res, `event: workers\ndata: ${JSON.stringify(this.#live.workers())}\n\n`);
    req.once('close', () => this.#clients.delete(res));
  }

  /** A job's live text (the answers of its running tasks as they come), over Server-Sent Events. */
  #progress(jobId: string, req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', ...SECURITY_HEADERS });
    res.write('retry: 2000\n\n');
    this.#textPages.add(res);
    const closed = new Promise<void>((resolve) => req.once('close', () => {
      this.#textPages.delete(res);
      resolve();
    }));
    void this.#text.add(jobId, res, closed);
  }

  async #get(url: URL): Promise<unknown> {
    const p = url.pathname;
    const { config } = this.#o;
    if (p === '/api/config') return { actions: Boolean(config.DASHBOARD_TOKEN), trace_url: config.DASHBOARD_TRACE_URL ?? null, streams: { alt: config.ALT_STREAM, last: config.LAST_STREAM, dlq: config.DLQ_STREAM } };
    if (p === '/api/jobs') {
      const state = url.searchParams.get('state') || undefined;
      if (state && !isJobState(state)) throw new HttpError(400, `unknown state ${state}`);
      const limit = Math.min(1_000, Math.max(1, Number(url.searchParams.get('limit') ?? 200) || 200));
      const r = this.#live.list({ state, q: url.searchParams.get('q') || undefined, limit });
      return { total: r.total, jobs: r.jobs.map((j) => this.#safeJob(j)), stats: this.#live.stats() };
    }
    if (p.startsWith('/api/jobs/')) {
      const id = decodeURIComponent(p.slice('/api/jobs/'.length));
      const job = [...this.#live.jobs.values()].find((j) => j.alt_id === id);
      if (!job) throw new HttpError(404, `no status for job ${id}`);
      const stored = await this.#dlq.jsm.streams.getMessage(config.LAST_STREAM, { last_by_subj: `${config.LAST_SUBJECT_PREFIX}.${subjectToken(id)}` }).catch(() => null);
      let last: unknown = null;
      if (stored && stored.header.get(HEADERS.altStreamSeq) === String(job.alt_stream_seq)) {
        try {
          last = readLast(stored.data, this.#codec);
        } catch {
          last = null;
        }
      }
      return { job: this.#safeJob(job), last };
    }
    if (p === '/api/fleet') return { workers: this.#live.workers(), stats: this.#live.stats() };
    if (p === '/api/dlq') return { records: (await dlqRecords(this.#dlq, { code: url.searchParams.get('code') || undefined })).map(describeRecord).map((r) => ({ ...r, error: r.error ? redactText(r.error) : r.error })) };
    if (p.startsWith('/api/dlq/')) {
      const seq = Number(p.slice('/api/dlq/'.length));
      const m = Number.isInteger(seq) && seq > 0 ? await dlqRecord(this.#dlq, seq) : null;
      if (!m) throw new HttpError(404, `no DLQ record ${p.slice('/api/dlq/'.length)}`);
      const original = await originalOf(this.#dlq, m);
      let text = new TextDecoder().decode(isSealed(original) ? this.#codec.open(original, 'alt') : original);
      // The page shows the original with secrets masked, as the logs would.
      try {
        text = JSON.stringify(redactValue(JSON.parse(text), this.#redactKeys), null, 2);
      } catch {
        text = redactText(text);
      }
      return { record: describeRecord(m), payload: text.length > 200_000 ? `${text.slice(0, 200_000)}\n… (${text.length} characters)` : text };
    }
    throw new HttpError(404, 'not found');
  }

  #authorize(req: IncomingMessage): void {
    const token = this.#o.config.DASHBOARD_TOKEN;
    if (!token) throw new HttpError(403, 'the dashboard is read-only: set DASHBOARD_TOKEN to allow actions');
    const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const a = createHash('sha256').update(given).digest();
    const b = createHash('sha256').update(token).digest();
    if (!timingSafeEqual(a, b)) throw new HttpError(401, 'a valid token is needed for actions');
  }

  async #body(req: IncomingMessage): Promise<Record<string, unknown>> {
    if (!/^application\/json/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'actions take application/json');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > 16_384) throw new HttpError(413, 'request too large');
      chunks.push(c as Buffer);
    }
    try {
      const v = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      return v as Record<string, unknown>;
    } catch {
      throw new HttpError(400, 'the body is not a JSON object');
    }
  }

  async #action(name: string, body: Record<string, unknown>): Promise<unknown> {
    if (name === 'cancel') {
      if (typeof body.alt_id !== 'string' || !body.alt_id) throw new HttpError(400, 'alt_id is required');
      return requestCancel(this.#status, body.alt_id, `dashboard ${userInfo().username}@${hostname()}`, this.#codec);
    }
    if (name === 'replay') {
      const records = typeof body.seq === 'number'
        ? [await dlqRecord(this.#dlq, body.seq)].filter((m) => m !== null)
        : typeof body.code === 'string' ? await dlqRecords(this.#dlq, { code: body.code }) : null;
      if (!records) throw new HttpError(400, 'replay takes seq or code');
      if (!records.length) throw new HttpError(404, 'no matching dead letter');
      const replayed = [];
      for (const m of records) replayed.push(await replayRecord(this.#dlq, m));
      return { replayed };
    }
    if (name === 'purge') {
      const records = typeof body.seq === 'number'
        ? [await dlqRecord(this.#dlq, body.seq)].filter((m) => m !== null)
        : await dlqRecords(this.#dlq, { code: typeof body.code === 'string' ? body.code : undefined });
      return { removed: await purgeRecords(this.#dlq, records) };
    }
    throw new HttpError(404, `no action ${name}`);
  }
}
