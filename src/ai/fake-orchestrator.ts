/**
 * A fake AI orchestrator for tests, benchmarks and local trials: a real HTTP server (node:http)
 * speaking the ALT_LAS orchestrator API (formats.md §5) and OpenAI chat completions, streamed
 * (`stream: true`: server-sent events at a set token rate after a set time to first token) or
 * not, with deterministic answers, usage with its details, and faults set by options, by
 * `setFaults()`, or by `POST /_faults` from another process. `GET /_stats` returns what it received.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ChatStream, TOKEN_CHARS, chatBody, fakeAnswer, fakeUsage, hash, orchestratorBody, tokenDueAt, tokens, tokensDue, type UsageFaults } from './fake-answers.ts';

export { fakeAnswer } from './fake-answers.ts';

export interface Faults extends UsageFaults {
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
  /** Pad the answers to prompts that contain `match` to `chars` characters (the first matching rule; before outputChars). */
  outputRules?: { match: string; chars: number }[];
  /** Milliseconds added at random (uniform, seeded) to each answer's latency. */
  latencyJitterMs?: number;
  /** Scripted answers: a prompt containing `match` gets `answers` in turn (the last one repeats). */
  script?: { match: string; answers: string[] }[];
  /** Milliseconds from the start of an answer to its first token (after the latency). */
  firstTokenMs?: number;
  /** Tokens per second of each answer (four characters a token); unset or 0: all at once. An unstreamed answer comes when the last token would. */
  tokenRate?: number;
  /** Report no usage at all (the client must keep its counts unknown). */
  noUsage?: boolean;
  /** Cut streamed answers (the connection destroyed) after this many text chunks. */
  cutStreamAfter?: number;
  /** Cut only the first N streamed answers (default: every one). */
  cutStreamFirst?: number;
  /** Extra headers on every inference answer (e.g. x-ratelimit-*). */
  responseHeaders?: Record<string, string>;
  /** Requests per minute enforced per model (a sliding minute): past it, 429 with Retry-After. */
  rpm?: number;
  /** Tokens (input + output, as the answer reports them) per minute enforced per model (a sliding minute): past it, 429 with Retry-After. */
  tpm?: number;
  /** Limits of single models, instead of rpm and tpm. */
  modelLimits?: Record<string, { rpm?: number; tpm?: number }>;
}

/** What one model answered within the sliding minute: when, and how many tokens. */
type Window = { at: number; tokens: number }[];
const MINUTE = 60_000;

/** Milliseconds as a Go duration, the way OpenAI writes its resets (`1.5s`, `20ms`). */
const goDuration = (ms: number) => (ms < 1_000 ? `${Math.max(0, Math.ceil(ms))}ms` : `${Math.round(ms / 100) / 10}s`);

/** One inference request as the fake saw it (FakeOrchestratorOptions.record). */
export interface RequestRecord {
  prompt: string;
  start: number;
  end: number | null;
  status: number | null;
  /** The model the answer named; null until it was answered. */
  model: string | null;
  /** The usage the answer reported (its whole body, or a stream's usage event once sent); null when it reported none. */
  usage: { input: number; output: number; cached_input: number; reasoning: number } | null;
  /** A streamed answer: when its first token was written (milliseconds since the epoch, to the microsecond), else null. */
  firstTokenAt: number | null;
  /** The text of a 200 answer as it was meant to be sent whole (a cut stream sent a prefix of it), else null. */
  answer: string | null;
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
  /** Answers the client closed while they were being sent (a size cap, a cancelled stream). */
  cutByClient: number;
  /** Streamed answers started. */
  streams: number;
  /** TCP connections accepted (clients that reuse keep-alive sockets open few). */
  connections: number;
  /** Bytes of inference request bodies received. */
  requestBytes: number;
  /** Requests answered 429 because they would have passed a model's rpm or tpm. */
  limited: number;
}

export interface FakeOrchestratorOptions extends Faults {
  port?: number;
  host?: string;
  /** Keep a log of every inference request (up to 200,000): prompt, start, end, status, first token, answer, model and the usage reported (`GET /_log`). */
  record?: boolean;
}

const MODELS = [
  { model_id: 'default', name: 'Fake default model', type: 'llm', version: '1.0' },
  { model_id: 'fake-small', name: 'Fake small model', type: 'llm', version: '1.0' },
];
/** Events of a stream written at once at most (a large answer at full speed is written as the client reads it). */
const STREAM_BATCH = 512;
const INFERENCE = ['/api/inference/', '/api/inference', '/api/inference/batch', '/v1/chat/completions'];

export class FakeOrchestrator {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #faults: Faults;
  #counter = 0;
  #streams = 0;
  lastHeaders: IncomingMessage['headers'] = {};
  /** The last inference request body (parsed). */
  lastBody: unknown = null;
  readonly #waits = new Set<() => void>();
  stats: FakeStats = FakeOrchestrator.#emptyStats();
  /** Every inference request, when recording. */
  readonly log: RequestRecord[] = [];
  readonly #record: boolean;
  #seed = 7;
  readonly #scriptTurns = new Map<string, number>();
  readonly #windows = new Map<string, Window>();

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
    return { requests: 0, byPath: {}, byPrompt: {}, prompts: [], inFlight: 0, maxInFlight: 0, abortedByClient: 0, cutByClient: 0, streams: 0, connections: 0, requestBytes: 0, limited: 0 };
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
    this.#streams = 0;
    this.log.length = 0;
    this.#scriptTurns.clear();
    this.#windows.clear();
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
    let answered = false;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (res.destroyed) return;
      answered = true;
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
    if (req.method === 'GET' && path === '/_log') return send(200, this.log);
    if (req.method === 'POST' && path === '/_faults') {
      this.setFaults(body as Faults);
      return send(200, { ok: true });
    }
    if (req.method === 'POST' && path === '/_reset') {
      this.resetStats();
      return send(200, { ok: true });
    }
    if (req.method !== 'POST' || !INFERENCE.includes(path)) return send(404, { detail: 'Not Found' });

    this.stats.requests++;
    this.stats.requestBytes += Buffer.byteLength(raw);
    this.stats.byPath[path] = (this.stats.byPath[path] ?? 0) + 1;
    this.stats.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.stats.inFlight);
    // Headers carry what a proxy or a test wants to check (e.g. the bearer token of the openai provider).
    this.lastHeaders = req.headers;
    this.lastBody = body;
    const entry: RequestRecord | null = this.#record && this.log.length < 200_000 ? { prompt: promptOf(path, body), start: Date.now(), end: null, status: null, firstTokenAt: null, answer: null, model: null, usage: null } : null;
    if (entry) this.log.push(entry);
    res.on('close', () => {
      this.stats.inFlight--;
      if (!answered) this.stats.abortedByClient++;
      else if (!res.writableFinished) this.stats.cutByClient++;
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
    await this.#wait((f.latencyMs ?? 0) + (rule?.ms ?? 0) + jitter, res);
    if (res.destroyed) return;
    if (f.hang) return;
    if (f.reset) {
      req.socket.destroy();
      return;
    }
    const failing = f.errorRules?.find((r) => raw.includes(r.match));
    if (failing) return send(failing.status, { detail: `Inference failed: injected fault for "${failing.match}"` });
    if ((f.failFirst && n < f.failFirst) || hit(f.errorRate)) {
      const status = f.errorStatus ?? 500;
      return send(status, { detail: `Inference failed: injected fault (request ${n})` }, status === 429 ? { 'retry-after': String(f.retryAfterS ?? 1) } : {});
    }
    if (hit(f.rateLimitRate)) return send(429, { detail: 'rate limited' }, { 'retry-after': String(f.retryAfterS ?? 1) });
    if (f.malformed) return send(200, '{"outputs": "trunc');
    const headers = { ...f.responseHeaders };
    if (path === '/api/inference/batch') {
      const items = Array.isArray(body) ? body : [];
      return send(200, items.map((item: Record<string, unknown>) => {
        const { model, prompt } = orchestratorAsk(item);
        const { text, pad } = capAnswer(this.#answer(model, prompt), maxTokensOf(item.parameters), f);
        return orchestratorBody(model, text + '.'.repeat(pad), f.noUsage ? null : fakeUsage(prompt, text.length + pad, f, maxTokensOf(item.parameters)));
      }), headers);
    }
    const chat = path === '/v1/chat/completions';
    const { model, prompt } = chat ? { model: typeof body.model === 'string' ? body.model : 'default', prompt: promptOf(path, body) } : orchestratorAsk(body);
    const maxTokens = maxTokensOf(chat ? body : body.parameters);
    const { text, pad } = capAnswer(this.#answer(model, prompt), maxTokens, f);
    const usage = f.noUsage ? null : fakeUsage(prompt, text.length + pad, f, maxTokens);
    const counted = fakeUsage(prompt, text.length + pad, f, maxTokens).total_tokens as number;
    const limit = this.#enforce(model, counted, f);
    if (limit.refused) {
      this.stats.limited++;
      return send(429, { detail: `rate limited: model ${model} is past its ${limit.refused}`, error: { type: 'rate_limit_exceeded' } }, { ...headers, ...limit.headers });
    }
    Object.assign(headers, limit.headers);
    const id = `chatcmpl-${hash(prompt)}`;
    if (entry) {
      entry.answer = text + '.'.repeat(pad);
      entry.model = model;
    }
    if (chat && body.stream === true) {
      const options = body.stream_options as { include_usage?: boolean } | undefined;
      answered = true;
      return this.#stream(req, res, new ChatStream(id, model), text + '.'.repeat(pad), options?.include_usage === true ? usage : null, headers, entry);
    }
    await this.#wait(this.#generationMs(text.length + pad), res);
    if (res.destroyed) return;
    answered = true;
    if (entry) entry.usage = loggedUsage(usage);
    return sendPadded(res, chat ? chatBody(id, model, text + PAD_MARK, usage) : orchestratorBody(model, text + PAD_MARK, usage), pad, headers);
  }

  /**
   * The model's limits at this instant (a sliding minute, strictly): a request that would pass its
   * rpm or tpm is refused (429 with Retry-After: the seconds until enough of the minute has
   * dropped), else it is counted; either way the x-ratelimit-* headers say where the model stands.
   */
  #enforce(model: string, tokens: number, f: Faults): { refused: 'rpm' | 'tpm' | null; headers: Record<string, string> } {
    const l = f.modelLimits?.[model] ?? { rpm: f.rpm, tpm: f.tpm };
    if (!l.rpm && !l.tpm) return { refused: null, headers: {} };
    const now = Date.now();
    const w = (this.#windows.get(model) ?? []).filter((x) => x.at > now - MINUTE);
    this.#windows.set(model, w);
    const used = w.reduce((n, x) => n + x.tokens, 0);
    const refused = l.rpm && w.length + 1 > l.rpm ? 'rpm' : l.tpm && used + tokens > l.tpm ? 'tpm' : null;
    if (!refused) w.push({ at: now, tokens });
    // When enough of the minute has dropped for this request: the oldest requests (rpm), or tokens (tpm), first.
    let freeAt = now;
    if (refused === 'rpm') freeAt = w[w.length - l.rpm!].at + MINUTE;
    else if (refused === 'tpm') {
      let left = used + tokens - l.tpm!;
      for (const x of w) {
        freeAt = x.at + MINUTE;
        if ((left -= x.tokens) <= 0) break;
      }
    }
    const usedNow = w.reduce((n, x) => n + x.tokens, 0);
    const resetMs = w.length ? w[0].at + MINUTE - now : 0;
    const headers: Record<string, string> = {};
    if (l.rpm) {
      headers['x-ratelimit-limit-requests'] = String(l.rpm);
      headers['x-ratelimit-remaining-requests'] = String(Math.max(0, l.rpm - w.length));
      headers['x-ratelimit-reset-requests'] = goDuration(resetMs);
    }
    if (l.tpm) {
      headers['x-ratelimit-limit-tokens'] = String(l.tpm);
      headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, l.tpm - usedNow));
      headers['x-ratelimit-reset-tokens'] = goDuration(resetMs);
    }
    if (refused) headers['retry-after'] = String(Math.max(1, Math.ceil((freeAt - now) / 1_000)));
    return { refused, headers };
  }

  /** Milliseconds an unstreamed answer takes to generate: the time to first token and its tokens at the token rate. */
  #generationMs(chars: number): number {
    const f = this.#faults;
    return (f.firstTokenMs ?? 0) + tokenDueAt(Math.max(0, Math.ceil(chars / TOKEN_CHARS) - 1), f.tokenRate ?? 0);
  }

  /** Sends a streamed chat completion: the role, then the tokens at the token rate after the time to first token, then the end. */
  async #stream(req: IncomingMessage, res: ServerResponse, events: ChatStream, text: string, usage: Record<string, unknown> | null, headers: Record<string, string>, entry: RequestRecord | null): Promise<void> {
    const f = this.#faults;
    const index = this.#streams++;
    this.stats.streams++;
    const cutAt = f.cutStreamAfter !== undefined && (f.cutStreamFirst === undefined || index < f.cutStreamFirst) ? f.cutStreamAfter : -1;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
    res.write(events.start());
    const pieces = tokens(text);
    const first = Date.now() + (f.firstTokenMs ?? 0);
    const rate = f.tokenRate ?? 0;
    let sent = 0;
    while (sent < pieces.length) {
      const now = Date.now();
      // Token i is due at first + i / rate; those due go out together, at most STREAM_BATCH events a write.
      const due = tokensDue(now, first, rate, pieces.length);
      const upto = Math.min(due, sent + STREAM_BATCH);
      let out = '';
      for (; sent < upto; sent++) {
        if (sent === cutAt) {
          // What was sent reaches the client first: the answer is cut after its first chunks, not lost whole.
          res.write(out, () => req.socket.destroy());
          return;
        }
        out += events.delta(pieces[sent]);
      }
      if (entry && entry.firstTokenAt === null && out) entry.firstTokenAt = performance.timeOrigin + performance.now();
      if (out && !res.write(out)) await drained(res);
      if (res.destroyed) return;
      if (sent < due) continue;
      if (sent < pieces.length) await this.#wait(Math.max(1, first + tokenDueAt(sent, rate) - Date.now()), res);
      if (res.destroyed) return;
    }
    if (entry) entry.usage = loggedUsage(usage);
    res.end(events.end(usage));
  }

  /** Waits `ms`; the wait ends early when the client goes away or the server closes, so no timer outlives it. */
  #wait(ms: number, res: ServerResponse): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const waits = this.#waits;
      const t = setTimeout(done, ms);
      waits.add(done);
      res.once('close', done);
      function done() {
        clearTimeout(t);
        waits.delete(done);
        res.off('close', done);
        resolve();
      }
    });
  }

  /** A seeded pseudo-random number in [0, 1) (the same sequence every run). */
  #random(): number {
    this.#seed = (this.#seed * 1103515245 + 12345) % 2 ** 31;
    return this.#seed / 2 ** 31;
  }

  /** The answer to a prompt (scripted, else the deterministic answer) and the padding the faults add to it. */
  #answer(model: string, prompt: string): { text: string; pad: number } {
    this.#count(prompt);
    const text = this.#scripted(prompt) ?? fakeAnswer(model, prompt);
    const chars = this.#faults.outputRules?.find((r) => prompt.includes(r.match))?.chars ?? this.#faults.outputChars ?? 0;
    return { text, pad: Math.max(0, chars - text.length) };
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

}

/** `max_tokens` of a request (chat body, or orchestrator parameters), when a positive integer. */
function maxTokensOf(o: unknown): number | null {
  const v = (o as { max_tokens?: unknown } | null | undefined)?.max_tokens;
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null;
}

/** An answer cut to `max_tokens` (reasoning tokens included), as a provider does. */
function capAnswer(a: { text: string; pad: number }, maxTokens: number | null, f: Faults): { text: string; pad: number } {
  if (maxTokens === null) return a;
  const chars = Math.max(0, maxTokens - (f.reasoningTokens ?? 0)) * TOKEN_CHARS;
  if (a.text.length + a.pad <= chars) return a;
  return a.text.length >= chars ? { text: a.text.slice(0, chars), pad: 0 } : { text: a.text, pad: chars - a.text.length };
}

/** The usage a log entry keeps, from the OpenAI-shaped usage the fake reported. */
function loggedUsage(u: Record<string, unknown> | null): RequestRecord['usage'] {
  if (!u) return null;
  const details = (k: string, f: string) => ((u[k] as Record<string, number> | undefined)?.[f] ?? 0);
  return { input: u.prompt_tokens as number, output: u.completion_tokens as number, cached_input: details('prompt_tokens_details', 'cached_tokens'), reasoning: details('completion_tokens_details', 'reasoning_tokens') };
}

/** The model and prompt of an orchestrator request. */
function orchestratorAsk(body: Record<string, unknown>): { model: string; prompt: string } {
  return { model: typeof body.model_id === 'string' ? body.model_id : 'default', prompt: typeof body.inputs === 'string' ? body.inputs : JSON.stringify(body.inputs ?? '') };
}

/** Stands in the body for the padding, which is written in pieces (a 40 MB answer is never one string). */
const PAD_MARK = '@@fake-pad@@';
const DOTS = '.'.repeat(65_536);

/** Sends a 200 JSON body whose PAD_MARK becomes `pad` dots, written as the client reads them. */
async function sendPadded(res: ServerResponse, body: unknown, pad: number, headers: Record<string, string>): Promise<void> {
  const [before, after] = JSON.stringify(body).split(PAD_MARK);
  res.writeHead(200, { 'content-type': 'application/json', ...headers });
  if (pad === 0) return void res.end(before + after);
  res.write(before);
  for (let left = pad; left > 0 && !res.destroyed; left -= DOTS.length) {
    if (!res.write(left >= DOTS.length ? DOTS : DOTS.slice(0, left))) await drained(res);
  }
  if (!res.destroyed) res.end(after);
}

/** Resolves when `res` can take more, or is closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

/** The prompt of an inference request body (orchestrator inputs, or the chat messages joined). */
function promptOf(path: string, body: Record<string, unknown>): string {
  if (path === '/v1/chat/completions') return (Array.isArray(body.messages) ? (body.messages as { content: string }[]) : []).map((m) => m.content).join('\n\n');
  return typeof body.inputs === 'string' ? body.inputs : JSON.stringify(body.inputs ?? '');
}
