/** The transport against servers that do what the fake does not: odd framing, plain JSON to a streamed request, a declared length past the cap. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AiChunk } from '../../src/ai/call.ts';
import { failureOf } from '../../src/ai/errors.ts';
import { openaiProvider } from '../../src/ai/providers.ts';
import { request, testClient } from '../helpers/ai.ts';

let server: Server;
let url: string;
let respond: (res: ServerResponse) => void | Promise<void>;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => void respond(res));
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
