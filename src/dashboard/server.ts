/**
 * `altlas dashboard`: a web page of the fleet, live over Server-Sent Events. The HTTP server
 * listens at once: the page, its assets and `/healthz` answer from the start, and while NATS or
 * the buckets are not there yet the page says what it waits for. Requests go through one route
 * table; every JSON body (and every live event) leaves through one shaper that redacts it under
 * the route's policy: job data (status entries, a job's .last) under the data policy, as the
 * .last itself is written, so ordinary content comes through unchanged; everything else (dead
 * letters, errors, actions) under the logs policy. The buckets are read without a consumer (see
 * live.ts), so the reader and operator roles suffice.
 * Actions (replay, purge, cancel, approve) need DASHBOARD_TOKEN or DASHBOARD_OPERATOR_TOKEN as a
 * bearer token in a POST, the fleet's controls (pause, resume, drain, concurrency) the operator's
 * token; a POST a browser sends from another origin is refused. Without either variable the page
 * is read-only. Bound to 127.0.0.1 unless told otherwise; every response carries a
 * Content-Security-Policy.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { timingSafeEqual, createHash } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Config } from '../config/schema.ts';
import { payloadCodec, type Codec } from '../security/codec.ts';
import { redactData, redactValue } from '../security/redact.ts';
import { ACTIONS, HttpError, READS, idParam, type DashboardData, type Policy } from './routes.ts';
import { openData } from './data.ts';
import type { LiveEvent } from './live.ts';
import { LiveText } from './live-text.ts';
import { CONTROLS } from './controls.ts';

export interface DashboardOptions {
  config: Config;
  host?: string;
  port?: number;
  /** Told each new thing the dashboard waits for (the command says it on standard error). */
  onWaiting?: (what: string) => void;
}

const ASSETS = join(import.meta.dirname, 'assets');
const DAGRE = join(import.meta.dirname, '..', '..', 'node_modules', '@dagrejs', 'dagre', 'dist', 'dagre.esm.js');
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: join(ASSETS, 'index.html'), type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: join(ASSETS, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/graph.js': { file: join(ASSETS, 'graph.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/app.css': { file: join(ASSETS, 'app.css'), type: 'text/css; charset=utf-8' },
  '/assets/dagre.js': { file: DAGRE, type: 'text/javascript; charset=utf-8' },
};
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** A path segment decoded: a malformed escape is bad input (400), not an error of the dashboard. */
function decodePath(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, 'the path holds a malformed %-escape');
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
  #data: DashboardData | null = null;
  #text: LiveText | null = null;
  #waitingFor = 'starting';
  #ping: NodeJS.Timeout | null = null;

  constructor(options: DashboardOptions) {
    this.#o = options;
    this.#codec = payloadCodec(options.config.PAYLOAD_KEYS);
    this.#redactKeys = [...options.config.logRedactKeys];
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  /** Listens at once (the page and /healthz answer before NATS is there); resolves with the address. */
  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.port ?? 8090, this.#o.host ?? '127.0.0.1', () => resolve());
    });
    this.#ping = setInterval(() => {
      this.#send(null, ': ping\n\n');
      for (const p of this.#textPages) this.#send(p, ': ping\n\n');
    }, 15_000);
    this.#ping.unref();
    return this.#server.address() as AddressInfo;
  }

  /** What the page waits for before it has data (NATS, the buckets); shown on the page and in /healthz. */
  waitFor(what: string): void {
    if (what !== this.#waitingFor) this.#o.onWaiting?.(what);
    this.#waitingFor = what;
    this.#send(null, `event: waiting\ndata: ${this.#shape({ waiting_for: what })}\n\n`);
  }

  /** True once the dashboard has its data. */
  get ready(): boolean {
    return this.#data !== null;
  }

  /**
   * Opens the buckets and starts the live view on a connection, waiting (every 2 s) while they do
   * not exist yet; resolves when the dashboard is ready, or when `signal` aborts.
   */
  async attach(nc: NatsConnection, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        this.#data = await openData(nc, this.#o.config, this.#codec);
        break;
      } catch (e) {
        if (!/not found/i.test((e as Error).message)) throw e;
        this.waitFor(`the status buckets do not exist yet (start a worker or run "altlas init")`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, 2_000);
          signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
        });
      }
    }
    if (!this.#data) return;
    const { config } = this.#o;
    this.#text = new LiveText({
      nc, jsm: this.#data.dlq.jsm, config, codec: this.#codec,
      // Through the one shaper: an answer's text is job data (the data policy, as the .last holds it).
      frame: (event, data) => `event: ${event}\ndata: ${this.#shape(data, 'data')}\n\n`,
      send: (to, text) => this.#send(to, text),
    });
    this.#waitingFor = '';
    this.#o.onWaiting?.('');
    this.#data.live.subscribe((e) => this.#broadcast(e));
    this.#send(null, `event: ready\ndata: {}\n\n`);
  }

  async close(): Promise<void> {
    if (this.#ping) clearInterval(this.#ping);
    await this.#data?.close();
    this.#text?.close();
    for (const c of [...this.#clients, ...this.#textPages]) c.end();
    this.#clients.clear();
    this.#textPages.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  /**
   * Every body the dashboard sends, as JSON with secrets masked: the one place redaction happens,
   * whatever the route or event. `data`: job data (the data policy, as the `.last` and the status
   * entries are written); `logs`: the rest (the logs policy); `masked`: a body its route masked part by part.
   */
  #shape(body: unknown, policy: Policy = 'logs'): string {
    return JSON.stringify(policy === 'masked' ? body : policy === 'data' ? redactData(body, this.#redactKeys) : redactValue(body, this.#redactKeys));
  }

  #send(to: ServerResponse | null, text: string): void {
    for (const c of to ? [to] : this.#clients) {
      if (!c.write(text) && c.writableLength > 8 * 1024 * 1024) c.destroy(); // a client that cannot keep up is dropped
    }
  }

  #broadcast(e: LiveEvent): void {
    if (!this.#clients.size) return;
    const data = e.type === 'job' ? e.job : e.type === 'workers' ? e.workers : e.type === 'stats' ? e.stats : { alt_id: e.alt_id };
    this.#send(null, `event: ${e.type}\ndata: ${this.#shape(data, e.type === 'job' ? 'data' : 'logs')}\n\n`);
  }

  #json(res: ServerResponse, status: number, body: unknown, policy: Policy = 'logs'): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...SECURITY_HEADERS });
    res.end(this.#shape(body, policy));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      // A page reached under another name (DNS rebinding: a site whose name now points here) gets nothing.
      if (!this.#hostAllowed(req.headers.host)) throw new HttpError(421, `this dashboard does not answer to the host ${JSON.stringify(String(req.headers.host ?? '').slice(0, 100))}: open it at its own address, or add the name to DASHBOARD_HOSTS`);
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://dashboard');
      } catch {
        throw new HttpError(400, 'the request target is not a path');
      }
      const path = url.pathname;
      if (req.method === 'GET' && STATIC[path]) {
        const { file, type } = STATIC[path];
        res.writeHead(200, { 'content-type': type, ...SECURITY_HEADERS });
        res.end(await readFile(file));
        return;
      }
      if (path === '/healthz') return this.#json(res, 200, { status: 'ok', ready: this.ready, ...(this.ready ? {} : { waiting_for: this.#waitingFor }) });
      if (req.method === 'GET' && path === '/api/config') return this.#json(res, 200, this.#config());
      if (req.method === 'GET' && path === '/api/events') return this.#events(req, res);
      const live = /^\/api\/jobs\/([^/]+)\/progress$/.exec(path);
      if (req.method === 'GET' && live) return this.#progress(idParam(decodePath(live[1]), 'the job id'), req, res);
      if (path.startsWith('/api/actions/')) {
        const name = path.slice('/api/actions/'.length);
        const control = Object.hasOwn(CONTROLS, name) ? CONTROLS[name] : undefined;
        const action = control ?? (Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined);
        if (req.method !== 'POST') throw new HttpError(405, 'actions are POST requests');
        this.#sameOrigin(req);
        const by = this.#authorize(req, control !== undefined);
        if (!action) throw new HttpError(404, `no action ${name}`);
        // A replay carries a job's .alt: a larger body than the other actions.
        const body = await this.#body(req, path.endsWith('/replay_from') ? 1_048_576 : 16_384);
        return this.#json(res, 200, await action(this.#needData(), { url, param: '', body, by }));
      }
      const route = READS.find((r) => r.pattern.test(path));
      if (!route) throw new HttpError(404, 'not found');
      if (req.method !== 'GET') throw new HttpError(405, 'method not allowed');
      const param = decodePath(route.pattern.exec(path)?.[1] ?? '');
      return this.#json(res, 200, await route.read(this.#needData(), { url, param, body: {} }), route.policy);
    } catch (e) {
      // Every refusal has a stable code; anything else is a 500 INTERNAL with its message (redacted, never a stack).
      const status = e instanceof HttpError ? e.status : 500;
      const code = e instanceof HttpError ? e.code : 'INTERNAL';
      if (res.headersSent) return void res.end();
      this.#json(res, status, { error: e instanceof Error ? e.message : String(e), code, ...(status === 503 ? { waiting_for: this.#waitingFor } : {}) });
    }
  }

  /**
   * The Host header names this dashboard: localhost (`localhost`, `127.0.0.1`, `[::1]`), the
   * address it is bound to, when bound to every interface this machine's name and addresses, and
   * DASHBOARD_HOSTS; with or without a port. A browser sends the name it resolved, so a rebound
   * name is refused.
   */
  #hostAllowed(header: string | undefined): boolean {
    if (!header) return false;
    const m = /^(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::[0-9]{1,5})?$/.exec(header.trim());
    if (!m) return false;
    return this.#allowedHosts().has(m[1].toLowerCase().replace(/\.$/, ''));
  }

  #hosts: Set<string> | null = null;

  #allowedHosts(): Set<string> {
    if (this.#hosts) return this.#hosts;
    const bracket = (a: string) => (a.includes(':') ? `[${a.toLowerCase()}]` : a.toLowerCase());
    const hosts = new Set(['localhost', '127.0.0.1', '[::1]']);
    const bound = this.#o.host ?? '127.0.0.1';
    if (bound === '0.0.0.0' || bound === '::' || bound === '') {
      hosts.add(hostname().toLowerCase());
      for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) hosts.add(bracket(a.address.replace(/%.*$/, '')));
    } else hosts.add(bracket(bound.replace(/^\[|\]$/g, '')));
    for (const h of (this.#o.config.DASHBOARD_HOSTS ?? '').split(',')) if (h.trim()) hosts.add(bracket(h.trim().replace(/^\[|\]$/g, '')).replace(/\.$/, ''));
    return (this.#hosts = hosts);
  }

  #needData(): DashboardData {
    if (!this.#data) throw new HttpError(503, `waiting for ${this.#waitingFor}`);
    return this.#data;
  }

  #config(): unknown {
    const { config } = this.#o;
    return {
      actions: Boolean(config.DASHBOARD_TOKEN || config.DASHBOARD_OPERATOR_TOKEN), controls: Boolean(config.DASHBOARD_OPERATOR_TOKEN), trace_url: config.DASHBOARD_TRACE_URL ?? null, streams: { alt: config.ALT_STREAM, last: config.LAST_STREAM, dlq: config.DLQ_STREAM },
      ready: this.ready, ...(this.ready ? {} : { waiting_for: this.#waitingFor }),
    };
  }

  #events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', ...SECURITY_HEADERS });
    res.write('retry: 2000\n\n');
    this.#clients.add(res);
    if (this.#data) {
      // Ready already: said to this client too (a page that asked /api/config before the data came would wait for it).
      this.#send(res, `event: ready\ndata: {}\n\n`);
      this.#send(res, `event: stats\ndata: ${this.#shape(this.#data.live.stats())}\n\n`);
      this.#send(res, `event: workers\ndata: ${this.#shape(this.#data.live.workers())}\n\n`);
    } else this.#send(res, `event: waiting\ndata: ${this.#shape({ waiting_for: this.#waitingFor })}\n\n`);
    req.once('close', () => this.#clients.delete(res));
  }

  /** A job's live text (the answers of its tasks as they come), over Server-Sent Events of its own. */
  #progress(jobId: string, req: IncomingMessage, res: ServerResponse): void {
    this.#needData();
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', ...SECURITY_HEADERS });
    res.write('retry: 2000\n\n');
    this.#textPages.add(res);
    const closed = new Promise<void>((resolve) => req.once('close', () => {
      this.#textPages.delete(res);
      resolve();
    }));
    void this.#text!.add(jobId, res, closed);
  }

  /**
   * Who acts, from the bearer token: DASHBOARD_OPERATOR_TOKEN may take every action and the fleet's
   * controls, DASHBOARD_TOKEN every action but the controls (403 NOT_OPERATOR for one). Without
   * either the dashboard is read-only (403 READ_ONLY); any other token is 401.
   */
  #authorize(req: IncomingMessage, control: boolean): string {
    const { DASHBOARD_TOKEN: token, DASHBOARD_OPERATOR_TOKEN: operator, DASHBOARD_TOKEN_NAME, DASHBOARD_OPERATOR_TOKEN_NAME } = this.#o.config;
    if (!token && !operator) throw new HttpError(403, 'the dashboard is read-only: set DASHBOARD_TOKEN to allow actions');
    const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    // Digests of equal length: the comparison takes the same time whatever was sent.
    const digest = (text: string) => createHash('sha256').update(text).digest();
    const same = (configured: string | undefined) => Boolean(configured) && timingSafeEqual(digest(given), digest(configured!));
    if (same(operator)) return `dashboard:${DASHBOARD_OPERATOR_TOKEN_NAME || hostname()}`;
    if (!same(token)) throw new HttpError(401, 'a valid token is needed for actions');
    if (control) throw new HttpError(403, 'the fleet\'s controls (pause, resume, drain, concurrency) take DASHBOARD_OPERATOR_TOKEN: DASHBOARD_TOKEN allows the other actions only', 'NOT_OPERATOR');
    return `dashboard:${DASHBOARD_TOKEN_NAME || hostname()}`;
  }

  /**
   * A POST from a page of another origin is refused (403 CROSS_ORIGIN): a browser names the page's
   * origin in every POST, which must be this dashboard's own (its scheme, Host and port). A client
   * that sends no Origin (curl, scripts) is not a browser acting for someone.
   */
  #sameOrigin(req: IncomingMessage): void {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    let host: string | null = null;
    try {
      const u = new URL(origin);
      host = u.protocol === 'http:' ? u.host : null;
    } catch {
      host = null;
    }
    const own = new URL(`http://${req.headers.host}`).host;
    if (host !== own) throw new HttpError(403, `a POST from the page of another origin (${JSON.stringify(origin.slice(0, 100))}) is refused: actions come from this dashboard's own page`, 'CROSS_ORIGIN');
  }

  async #body(req: IncomingMessage, max = 16_384): Promise<Record<string, unknown>> {
    if (!/^application\/json/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'actions take application/json');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > max) throw new HttpError(413, 'request too large');
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
}
