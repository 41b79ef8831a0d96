/**
 * A fake AI orchestrator for tests and local trials: a real HTTP server (node:http) speaking the
 * ALT_LAS orchestrator API (formats.md §5) and the OpenAI chat completions endpoint, with
 * deterministic answers derived from the prompt and faults set by options, by `setFaults()`, or
 * by `POST /_faults` from another process. `GET /_stats` returns what it received.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Faults {
  /** Milliseconds added before each inference answer. */
  latencyMs?: number;
  /** Extra latency for prompts that contain a marker: the first matching rule applies. */
  latencyRules?: { match: string; ms: number }[];
  /** Requests whose body contains `match` are answered with `status` (a per-prompt failure). */
  errorRules?: { match: string; status: number }[];
  /** Share of inference requests in [0, 1] that fail with `errorStatus` (deterministic sequence). */
  errorRate?: number;
  /** Status of injected errors; default 500. */
  errorStatus?: number;
  /** The first N inference requests fail with `errorStatus`. */
  failFirst?: number;
  /** Share of requests answered 429 with Retry-After `retryAfterS`. */
  rateLimitRate?: number;
  retryAfterS?: number;
  /** Requests never answered (until the client gives up). */
  hang?: boolean;
  /** Answer 200 with a body that is not JSON. */
  malformed?: boolean;
  /** Destroy the connection without an answer. */
  reset?: boolean;
  /** Pad every answer text to this many characters (large outputs). */
  outputChars?: number;
  /** Milliseconds added at random (uniform, seeded) to each answer's latency. */
  latencyJitterMs?: number;
  /** Scripted answers: a prompt containing `match` gets `answers` in turn (the last one repeats). */
  script?: { match: string; answers: string[] }[];
}

/** One inference request as the fake saw it (FakeOrchestratorOptions.record). */
export interface RequestRecord {
  prompt: string;
  start: number;
  end: number | null;
  status: number | null;
}

export interface FakeStats {
  requests: number;
  byPath: Record<string, number>;
  /** Inference requests per prompt hash (to count repeated work). */
  byPrompt: Record<string, number>;
  /** Prompts in arrival order (inputs, or the user message). */
  prompts: string[];
  inFlight: number;
  maxInFlight: number;
  /** Connections the server saw closed by the client before it answered. */
  abortedByClient: number;
  /** TCP connections accepted (clients that reuse keep-alive sockets open few). */
  connections: number;
  /** Bytes of inference request bodies received. */
  requestBytes: number;
}

export interface FakeOrchestratorOptions extends Faults {
  port?: number;
  host?: string;
  /** Keep a log of every inference request (up to 200,000): prompt, start, end, status. */
  record?: boolean;
}

const MODELS = [
  { model_id: 'default', name: 'Fake default model', type: 'llm', version: '1.0' },
  { model_id: 'fake-small', name: 'Fake small model', type: 'llm', version: '1.0' },
];

const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

/** The deterministic answer to a prompt. */
export function fakeAnswer(model: string, prompt: string): string {
  const task = prompt.includes('Task:\n') ? prompt.slice(prompt.lastIndexOf('Task:\n') + 6) : prompt;
  return `[${model}] ${hash(prompt)}: ${task.slice(0, 120)}`;
}

export class FakeOrchestrator {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #faults: Faults;
  #counter = 0;
  lastHeaders: IncomingMessage['headers'] = {};
  readonly #waits = new Set<() => void>();
  stats: FakeStats = FakeOrchestrator.#emptyStats();
  /** Every inference request, when recording. */
  readonly log: RequestRecord[] = [];
  readonly #record: boolean;
  #seed = 7;
  readonly #scriptTurns = new Map<string, number>();

  constructor(options: FakeOrchestratorOptions = {}) {
    const { port: _p, host: _h, record, ...faults } = options;
    this.#faults = faults;
    this.#record = record === true;
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.stats.connections++;
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static #emptyStats(): FakeStats {
    return { requests: 0, byPath: {}, byPrompt: {}, prompts: [], inFlight: 0, maxInFlight: 0, abortedByClient: 0, connections: 0, requestBytes: 0 };
  }

  /** Starts listening; resolves with the base URL. */
  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve());
    });
    return this.url;
  }

  get url(): string {
    const a = this.#server.address() as AddressInfo;
    return `http://${a.address}:${a.port}`;
  }

  setFaults(faults: Faults): void {
    this.#faults = faults;
  }

  resetStats(): void {
    this.stats = FakeOrchestrator.#emptyStats();
    this.#counter = 0;
    this.log.length = 0;
    this.#scriptTurns.clear();
  }

  /** Stops the server and drops every open connection. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    for (const w of this.#waits) w();
    this.#waits.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    let body: Record<string, unknown> = {};
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      return send(422, { detail: 'invalid JSON body' });
    }
    if (req.method === 'GET' && path === '/health') return send(200, { status: 'ok', service: 'ai-orchestrator' });
    if (req.method === 'GET' && (path === '/api/models/' || path === '/api/models' || path === '/v1/models')) {
      return send(200, path === '/v1/models' ? { object: 'list', data: MODELS.map((m) => ({ id: m.model_id, object: 'model' })) } : MODELS);
    }
    if (req.method === 'GET' && path === '/_stats') return send(200, this.stats);
    if (req.method === 'POST' && path === '/_faults') {
      this.setFaults(body as Faults);
      return send(200, { ok: true });
    }
    if (req.method === 'POST' && path === '/_reset') {
      this.resetStats();
      return send(200, { ok: true });
    }
    const inference = ['/api/inference/', '/api/inference', '/api/inference/batch', '/v1/chat/completions'];
    if (req.method !== 'POST' || !inference.includes(path)) return send(404, { detail: 'Not Found' });

    this.stats.requests++;
    this.stats.requestBytes += Buffer.byteLength(raw);
    this.stats.byPath[path] = (this.stats.byPath[path] ?? 0) + 1;
    this.stats.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.stats.inFlight);
    let answered = false;
    // Headers carry what a proxy or a test wants to check (e.g. the bearer token of the openai provider).
    this.lastHeaders = req.headers;
    const entry: RequestRecord | null = this.#record && this.log.length < 200_000 ? { prompt: promptOf(path, body), start: Date.now(), end: null, status: null } : null;
    if (entry) this.log.push(entry);
    res.on('close', () => {
      this.stats.inFlight--;
      if (!answered) this.stats.abortedByClient++;
      if (entry) {
        entry.end = Date.now();
        entry.status = answered ? res.statusCode : null;
      }
    });
    const n = this.#counter++;
    const f = this.#faults;
    // A fixed sequence instead of Math.random: request n fails when the running share crosses a whole number.
    const hit = (rate: number | undefined) => !!rate && Math.floor((n + 1) * rate) > Math.floor(n * rate);
    const rule = f.latencyRules?.find((r) => raw.includes(r.match));
    const jitter = f.latencyJitterMs ? Math.floor(this.#random() * f.latencyJitterMs) : 0;
    const latency = (f.latencyMs ?? 0) + (rule?.ms ?? 0) + jitter;
    if (latency) {
      // The wait ends early when the client goes away or the server closes, so no timer outlives it.
      await new Promise<void>((resolve) => {
        const waits = this.#waits;
        const t = setTimeout(done, latency);
        waits.add(done);
        res.once('close', done);
        function done() {
          clearTimeout(t);
          waits.delete(done);
          resolve();
        }
      });
    }
    if (res.destroyed) return;
    if (f.hang) return;
    if (f.reset) {
      req.socket.destroy();
      return;
    }
    answered = true;
    const failing = f.errorRules?.find((r) => raw.includes(r.match));
    if (failing) return send(failing.status, { detail: `Inference failed: injected fault for "${failing.match}"` });
    if ((f.failFirst && n < f.failFirst) || hit(f.errorRate)) {
      const status = f.errorStatus ?? 500;
      return send(status, { detail: `Inference failed: injected fault (request ${n})` }, status === 429 ? { 'retry-after': String(f.retryAfterS ?? 1) } : {});
    }
    if (hit(f.rateLimitRate)) return send(429, { detail: 'rate limited' }, { 'retry-after': String(f.retryAfterS ?? 1) });
    if (f.malformed) return send(200, '{"outputs": "trunc');
    if (path === '/api/inference/batch') {
      const items = Array.isArray(body) ? body : [];
      return send(200, items.map((item: Record<string, unknown>) => this.#infer(item)));
    }
    if (path === '/v1/chat/completions') {
      const messages = Array.isArray(body.messages) ? (body.messages as { role: string; content: string }[]) : [];
      const prompt = messages.map((m) => m.content).join('\n\n');
      this.#count(prompt);
      const model = typeof body.model === 'string' ? body.model : 'default';
      const text = this.#scripted(prompt) ?? fakeAnswer(model, prompt);
      return send(200, {
        id: `chatcmpl-${hash(prompt)}`, object: 'chat.completion', model,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
        usage: { prompt_tokens: Math.ceil(prompt.length / 4), completion_tokens: Math.ceil(text.length / 4), total_tokens: Math.ceil(prompt.length / 4) + Math.ceil(text.length / 4) },
      });
    }
    return send(200, this.#infer(body));
  }

  /** A seeded pseudo-random number in [0, 1) (the same sequence every run). */
  #random(): number {
    this.#seed = (this.#seed * 1103515245 + 12345) % 2 ** 31;
    return this.#seed / 2 ** 31;
  }

  /** The scripted answer for a prompt, if a rule matches. */
  #scripted(prompt: string): string | null {
    const rule = this.#faults.script?.find((r) => prompt.includes(r.match));
    if (!rule || rule.answers.length === 0) return null;
    const turn = this.#scriptTurns.get(rule.match) ?? 0;
    this.#scriptTurns.set(rule.match, turn + 1);
    return rule.answers[Math.min(turn, rule.answers.length - 1)];
  }

  #count(prompt: string): void {
    const h = hash(prompt);
    this.stats.byPrompt[h] = (this.stats.byPrompt[h] ?? 0) + 1;
    if (this.stats.prompts.length < 10_000) this.stats.prompts.push(prompt);
  }

  #infer(body: Record<string, unknown>): unknown {
    const model = typeof body.model_id === 'string' ? body.model_id : 'default';
    const prompt = typeof body.inputs === 'string' ? body.inputs : JSON.stringify(body.inputs ?? '');
    this.#count(prompt);
    const answer = this.#scripted(prompt) ?? fakeAnswer(model, prompt);
    const pad = this.#faults.outputChars ?? 0;
    const text = pad > answer.length ? answer + '.'.repeat(pad - answer.length) : answer;
    const promptTokens = Math.ceil(prompt.length / 4);
    const completionTokens = Math.ceil(text.length / 4);
    return {
      model_id: model,
      outputs: text,
      metadata: {
        usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
        finish_reason: 'stop', model_version: 'fake-1', cached: false,
      },
    };
  }
}

/** The prompt of an inference request body (orchestrator inputs, or the chat messages joined). */
function promptOf(path: string, body: Record<string, unknown>): string {
  if (path === '/v1/chat/completions') return (Array.isArray(body.messages) ? (body.messages as { content: string }[]) : []).map((m) => m.content).join('\n\n');
  return typeof body.inputs === 'string' ? body.inputs : JSON.stringify(body.inputs ?? '');
}
