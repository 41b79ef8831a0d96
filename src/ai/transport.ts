/**
 * The chunk transport: one HTTP attempt through got's stream API, its answer read as it arrives
 * and handed on in chunks. A streamed answer (server-sent events, scanned by sse.ts)
 * gives a chunk per network read that carries text; a whole answer gives one chunk when it has
 * been read. Bytes are
 * counted as they arrive: past AI_MAX_RESPONSE_BYTES the request is destroyed (its socket closed,
 * not kept alive) and the attempt fails with AiTooLargeError, so no answer is held past the cap.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { RequestError, type Got } from 'got';
import type { AiRequest } from './call.ts';
import { AiBadResponseError, AiHttpError, AiTooLargeError, AiTransportError, parseRetryAfter } from './errors.ts';
import type { StreamReader } from './openai-stream.ts';
import type { AiProvider, ParsedAnswer } from './providers.ts';
import { sseScanner } from './sse.ts';

export interface TransportOptions {
  provider: AiProvider;
  /** got with the options every attempt shares (method, headers, agents; its own retry off). */
  got: Got;
  /** The request URL (userinfo included: got sends it as basic auth). */
  url: string;
  /** Bytes held at most: a whole body, or a streamed answer's text and one unfinished event. */
  maxResponseBytes: number;
}

/** What the transport tells its attempt while the answer comes. */
export interface AttemptSink {
  /** The response head arrived. */
  response(status: number, headers: IncomingHttpHeaders): void;
  /** A piece of the answer's text; throwing stops the attempt with that error. */
  chunk(text: string): void;
  /** Body bytes read so far (the transport adds to it). */
  bytes: number;
}

/** An answer read by the transport. */
export interface TransportAnswer extends ParsedAnswer {
  streamed: boolean;
}

export interface BodyReader {
  /** True for a 2xx answer (a failure while reading it is a cut answer). */
  readonly answering: boolean;
  push(data: Buffer): void;
  end(): TransportAnswer;
}

/** Characters of an error body kept for the error's message. */
const ERROR_SNIPPET = 200;
const snippet = (text: string) => (text.length > ERROR_SNIPPET ? `${text.slice(0, ERROR_SNIPPET)}…` : text);

/**
 * Sends one attempt's body (what `body()` returns, asked for once) and reads its answer. Resolves
 * with the answer after its last chunk went to `sink`; rejects with AiHttpError (non-2xx),
 * AiTransportError (no whole answer), AiBadResponseError, AiTooLargeError, or what `sink.chunk`
 * threw. `signal` aborts the request. The body is written into the request stream with its
 * Content-Length rather than handed to got as its `body` option, which got keeps until the
 * request ends: written, it is let go once on the socket.
 */
export function sendAttempt(o: TransportOptions, request: AiRequest, body: () => string, stream: boolean, signal: AbortSignal, sink: AttemptSink): Promise<TransportAnswer> {
  return new Promise((resolve, reject) => {
    const text = body();
    const req = o.got.stream(o.url, { signal, headers: { 'content-length': String(Buffer.byteLength(text)) } });
    let reader: BodyReader | null = null;
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(e);
    };
    // `on`, not `once`: got emits each of these once, and `once` wraps each listener in a closure of its own.
    req.on('response', (res: { statusCode: number; headers: IncomingHttpHeaders }) => {
      try {
        sink.response(res.statusCode, res.headers);
        reader = readerFor(o, request, res.statusCode, res.headers, stream, sink);
      } catch (e) {
        fail(e);
      }
    });
    req.on('data', (data: Buffer) => {
      if (settled || !reader) return;
      sink.bytes += data.length;
      try {
        reader.push(data);
      } catch (e) {
        fail(e);
      }
    });
    req.on('end', () => {
      if (settled || !reader) return;
      try {
        const answer = reader.end();
        settled = true;
        resolve(answer);
      } catch (e) {
        fail(e);
      }
    });
    // `on`, not `once`: a destroyed got stream may emit a second error, which must not go unhandled.
    req.on('error', (e: unknown) => {
      if (!(e instanceof RequestError)) return fail(e);
      // After a 2xx head, a lost connection is an answer cut in the middle, not an unreachable provider.
      const cut = reader?.answering === true && !signal.aborted;
      fail(new AiTransportError(cut ? 'STREAM_CUT' : e.code, cut ? `the answer was cut: ${e.message}` : e.message, { cause: e }));
    });
    req.end(text);
  });
}

function readerFor(o: TransportOptions, request: AiRequest, status: number, headers: IncomingHttpHeaders, stream: boolean, sink: AttemptSink): BodyReader {
  if (status < 200 || status >= 300) return errorReader(o.maxResponseBytes, status, headers);
  const declared = Number(headers['content-length']);
  if (declared > o.maxResponseBytes) throw new AiTooLargeError(o.maxResponseBytes, `the answer (Content-Length ${declared})`);
  const reader = stream && o.provider.streamReader && headers['content-type']?.startsWith('text/event-stream') ? o.provider.streamReader(request) : null;
  return reader ? sseReader(o.maxResponseBytes, reader, sink) : wholeReader(o, request, sink);
}

/** A non-2xx answer: its start kept for the message; a body past the cap ends the attempt there. */
function errorReader(cap: number, status: number, headers: IncomingHttpHeaders): BodyReader {
  let text = '';
  let bytes = 0;
  const error = () => new AiHttpError(status, snippet(text), parseRetryAfter(headers['retry-after'], Date.now()));
  return {
    answering: false,
    push(data) {
      bytes += data.length;
      if (text.length <= ERROR_SNIPPET) text += data.toString('utf8', 0, Math.min(data.length, ERROR_SNIPPET * 4));
      if (bytes > cap) throw error();
    },
    end() {
      throw error();
    },
  };
}

/** A whole JSON answer: read to its end (at most the cap), parsed by the provider, handed on as one chunk. */
function wholeReader(o: TransportOptions, request: AiRequest, sink: AttemptSink): BodyReader {
  const parts: Buffer[] = [];
  let bytes = 0;
  return {
    answering: true,
    push(data) {
      bytes += data.length;
      if (bytes > o.maxResponseBytes) throw new AiTooLargeError(o.maxResponseBytes, 'the answer');
      parts.push(data);
    },
    end() {
      const text = (parts.length === 1 ? parts[0] : Buffer.concat(parts)).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new AiBadResponseError(`the answer is not JSON: ${snippet(text)}`);
      }
      const a = o.provider.parse(body, request);
      sink.chunk(a.text);
      return { text: a.text, model: a.model, tokens: a.tokens, usage: a.usage, providerMs: a.providerMs, streamed: false };
    },
  };
}

/**
 * Server-sent events: the text of the events of one network read is one chunk, handed on after
 * the read is parsed (a fast model's read carries hundreds of deltas: one chunk for them, not a
 * chunk each, and the answer's text joined once at its end). The held text and one unfinished
 * event stay under the cap: a read whose text would pass it ends the attempt before its chunk.
 */
export function sseReader(cap: number, events: StreamReader, sink: Pick<AttemptSink, 'chunk'>): BodyReader {
  /** The answer's text, a piece per chunk. */
  const pieces: string[] = [];
  /** The text of the read being parsed. */
  const read: string[] = [];
  let held = 0;
  const scanner = sseScanner({
    maxBufferSize: cap,
    tooLarge: () => new AiTooLargeError(cap, 'a streamed event'),
    onEvent(data) {
      const delta = events.event(data);
      if (delta) read.push(delta);
    },
    run: events.run?.bind(events),
    out: read,
  });
  const flush = () => {
    if (read.length === 0) return;
    const text = read.length === 1 ? read[0] : read.join('');
    read.length = 0;
    if (text === '') return;
    held += Buffer.byteLength(text);
    if (held > cap) throw new AiTooLargeError(cap, 'the streamed answer');
    pieces.push(text);
    sink.chunk(text);
  };
  return {
    answering: true,
    push(data) {
      scanner.feed(data);
      flush();
    },
    end() {
      // An event the stream ended without its blank line is not dispatched.
      const a = events.end(pieces.length === 1 ? pieces[0] : pieces.join(''));
      return { text: a.text, model: a.model, tokens: a.tokens, usage: a.usage, providerMs: a.providerMs, streamed: true };
    },
  };
}
