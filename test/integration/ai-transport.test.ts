/** The transport against servers that do what the fake does not: odd framing, plain JSON to a streamed request, a declared length past the cap. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type ServerResponse, type Server } from 'node:http';
import { createConnection, type AddressInfo } from 'node:net';
import got, { type Got } from 'got';
import { leanHttpAgent } from '../../src/ai/agents.ts';
import type { AiChunk } from '../../src/ai/call.ts';
import { failureOf } from '../../src/ai/errors.ts';
import { openaiProvider, orchestratorProvider } from '../../src/ai/providers.ts';
import { sendAttempt } from '../../src/ai/transport.ts';
import { request, testClient } from '../helpers/ai.ts';

let server: Server;
let url: string;
let respond: (res: ServerResponse) => void | Promise<void>;
/** The requests the server read: their head and body. */
let received: { headers: IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(parts).toString('utf8') });
      void respond(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const event = (content: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\r\n\r\n`;

async function call(maxResponseBytes?: number) {
  const chunks: AiChunk[] = [];
  const attempts: { bytes: number; failure: string | null }[] = [];
  const client = testClient(url, { provider: openaiProvider, maxRetries: 0, ...(maxResponseBytes ? { maxResponseBytes } : {}) });
  try {
    const answer = await client.complete(request(), { signal: new AbortController().signal, onChunk: (c) => chunks.push(c), onAttempt: (a) => attempts.push(a) });
    return { answer, chunks, attempts, error: null };
  } catch (error) {
    return { answer: null, chunks, attempts, error };
  } finally {
    client.close();
  }
}

describe('the chunk transport', () => {
  it('reads server-sent events split anywhere, CRLF framing and multi-byte characters included', async () => {
    const parts = ['Ça ', 'va ', '✓ ', 'ğüşıöç'];
    const wire = Buffer.from(`: a comment\r\n${parts.map(event).join('')}data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\r\n\r\ndata: [DONE]\r\n\r\n`);
    respond = async (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      // One byte a write, each after the last left: frames and UTF-8 sequences are cut everywhere.
      for (const b of wire) await new Promise<void>((r) => res.write(Buffer.of(b), () => r()));
      res.end();
    };
    const { answer, chunks, error } = await call();
    expect(error).toBeNull();
    // A chunk per read that completed an event: one event's text a chunk here, or more when reads came together.
    expect(chunks.map((c) => c.text).join('')).toBe(parts.join(''));
    expect(chunks.every((c) => parts.some((p) => c.text.startsWith(p)))).toBe(true);
    expect(answer!.text).toBe(parts.join(''));
    expect(answer!.usage.input).toBeNull();
  });

  it('reads a plain JSON answer to a streamed request as a whole answer', async () => {
    respond = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'whole' } }], usage: { prompt_tokens: 1, completion_tokens: 2 } }));
    };
    const { answer, chunks } = await call();
    expect([answer!.text, answer!.streamed, answer!.tokens, chunks.length]).toEqual(['whole', false, 3, 1]);
  });

  it('refuses an answer whose Content-Length is past the cap at its head, before reading it', async () => {
    respond = (res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(50_000_000) });
      res.write('{"choices":');
    };
    const { error, attempts } = await call(1_024);
    expect(failureOf(error)).toBe('too_large');
    expect(attempts[0].bytes).toBeLessThan(1_024);
  });

  it('refuses an error body past the cap as the HTTP error it is, without reading the rest', async () => {
    respond = (res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.write('x'.repeat(8_192));
    };
    const { error, attempts } = await call(4_096);
    expect(failureOf(error)).toBe('server_error');
    expect(attempts[0].bytes).toBeLessThan(4_096 + 8_192 + 1);
  });
});

describe('the request body and the connection options', () => {
  const answer = (res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ model_id: 'm', outputs: 'ok' }));
  };

  it('sends the same body with its Content-Length on every attempt, retries included', async () => {
    received = [];
    let n = 0;
    respond = (res) => {
      if (n++ === 0) {
        res.writeHead(503).end('busy');
        return;
      }
      answer(res);
    };
    const client = testClient(url, { maxRetries: 2 });
    try {
      const a = await client.complete(request('ça va ✓'), { signal: new AbortController().signal });
      expect(a.text).toBe('ok');
    } finally {
      client.close();
    }
    const body = JSON.stringify(orchestratorProvider.body(request('ça va ✓'), false));
    expect(received.map((r) => r.body)).toEqual([body, body]);
    expect(received.map((r) => [r.headers['content-length'], r.headers['transfer-encoding']])).toEqual([[String(Buffer.byteLength(body)), undefined], [String(Buffer.byteLength(body)), undefined]]);
  });

  it('writes the body into the request instead of handing it to got, which would keep it until the answer ends', async () => {
    received = [];
    respond = answer;
    const options: Record<string, unknown>[] = [];
    const base = got.extend({ method: 'POST', headers: { 'content-type': 'application/json' }, retry: { limit: 0 }, throwHttpErrors: false });
    const recording = { stream: (u: string, o: Record<string, unknown>) => (options.push(o), base.stream(u, o)) } as unknown as Got;
    let asked = 0;
    const sink = { bytes: 0, response: () => {}, chunk: () => {} };
    const a = await sendAttempt({ provider: orchestratorProvider, got: recording, url: `${url}/api/inference/`, maxResponseBytes: 1_024 }, request(), () => (asked++, '{"inputs":"hi"}'), false, new AbortController().signal, sink);
    expect(a.text).toBe('ok');
    expect([asked, options.length, 'body' in options[0], received[0].body]).toEqual([1, 1, false, '{"inputs":"hi"}']);
  });

  it("keeps only the options that are set on the client's sockets (got hands the agent every option it knows)", async () => {
    respond = answer;
    const agent = leanHttpAgent({ keepAlive: true });
    let seen: Record<string, unknown> = {};
    (agent as unknown as { createConnection: unknown }).createConnection = (o: Record<string, unknown>, cb: () => void) => ((seen = o), createConnection(o as never, cb));
    try {
      const res = await got.post(url, { body: '{}', agent: { http: agent }, retry: { limit: 0 } });
      expect(JSON.parse(res.body)).toEqual({ model_id: 'm', outputs: 'ok' });
    } finally {
      agent.destroy();
    }
    expect(Object.keys(seen).length).toBeGreaterThan(0);
    expect(Object.entries(seen).filter(([, v]) => v === undefined).map(([k]) => k)).toEqual([]);
    expect([seen.host, seen.port, seen.keepAlive]).toEqual(['127.0.0.1', (server.address() as AddressInfo).port, true]);
  });
});
