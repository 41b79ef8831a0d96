/**
 * Publishing to a stream and waiting for its PubAck, with one subscription for every reply and
 * one timer for every deadline. nats.js's `js.publish` makes a request per message (an error
 * object with a stack trace, a timer and a deferred each time); on the worker's path, one
 * `.last` per job, that bookkeeping cost more than the message itself.
 *
 * Replies arrive on `<inbox>.<n>`; a 503 status means no stream listens on the subject; a JSON
 * `error` is JetStream refusing the message (wrong expected sequence, too large, ...).
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/nats-core';

export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** A refusal of the stream, or no answer in time. */
export class StreamPublishError extends Error {
  override name = 'StreamPublishError';
  readonly code: string;

  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

interface Pending {
  resolve: (ack: PubAck) => void;
  reject: (e: Error) => void;
  expiresAt: number;
  subject: string;
}

const decoder = new TextDecoder();

export class StreamPublisher {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #pending = new Map<number, Pending>();
  #sub: Subscription | null = null;
  #timer: NodeJS.Timeout | null = null;
  #next = 0;

  constructor(nc: NatsConnection, inboxPrefix?: string) {
    this.#nc = nc;
    this.#prefix = createInbox(inboxPrefix);
  }

  /** Requests in flight (tests). */
  get pending(): number {
    return this.#pending.size;
  }

  /** Publishes `data` with a reply subject of ours and resolves with the stream's PubAck. */
  publish(subject: string, data: Uint8Array, options: { msgID?: string; headers?: MsgHdrs; timeoutMs?: number } = {}): Promise<PubAck> {
    this.#start();
    const id = ++this.#next;
    const headers = options.headers;
    if (options.msgID) headers?.set('Nats-Msg-Id', options.msgID);
    return new Promise<PubAck>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, expiresAt: Date.now() + (options.timeoutMs ?? 10_000), subject });
      try {
        this.#nc.publish(subject, data, { reply: `${this.#prefix}.${id}`, headers });
      } catch (e) {
        this.#pending.delete(id);
        reject(e as Error);
      }
    });
  }

  /** Rejects what is still waiting and stops listening. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#sub?.unsubscribe();
    this.#sub = null;
    for (const p of this.#pending.values()) p.reject(new StreamPublishError(`publish to ${p.subject}: the publisher closed`, 'CLOSED'));
    this.#pending.clear();
  }

  /**
   * Rejects what waits for a PubAck as not confirmed (code `DISCONNECTED`, a passing failure), so
   * that a caller sends it again once the connection is back instead of waiting out its timeout;
   * what the stream stored meanwhile is then stored twice (its readers skip copies).
   */
  failPending(reason: string): void {
    for (const p of this.#pending.values()) p.reject(new StreamPublishError(`publish to ${p.subject}: ${reason}`, 'DISCONNECTED'));
    this.#pending.clear();
  }

  #start(): void {
    if (this.#sub) return;
    this.#sub = this.#nc.subscribe(`${this.#prefix}.*`, { callback: (err, m) => (err ? this.#failAll(err) : this.#reply(m)) });
    this.#timer = setInterval(() => this.#expire(), 250);
    this.#timer.unref?.();
    void this.#nc.closed().then(() => this.close());
  }

  #reply(m: Msg): void {
    const id = Number(m.subject.slice(this.#prefix.length + 1));
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    const status = m.headers?.code ?? 0;
    if (status >= 300) {
      p.reject(new StreamPublishError(status === 503 ? `no stream stores ${p.subject} (503 no responders)` : `publish to ${p.subject}: ${status} ${m.headers?.description ?? ''}`, String(status)));
      return;
    }
    try {
      const r = JSON.parse(decoder.decode(m.data)) as { stream?: string; seq?: number; duplicate?: boolean; error?: { code?: number; err_code?: number; description?: string } };
      if (r.error) p.reject(new StreamPublishError(`publish to ${p.subject}: ${r.error.description ?? 'refused'} (${r.error.err_code ?? r.error.code ?? ''})`, String(r.error.err_code ?? r.error.code ?? 'ERROR')));
      else p.resolve({ stream: r.stream ?? '', seq: r.seq ?? 0, duplicate: r.duplicate === true });
    } catch (e) {
      p.reject(new StreamPublishError(`publish to ${p.subject}: unreadable PubAck (${(e as Error).message})`, 'BAD_ACK'));
    }
  }

  #expire(): void {
    const now = Date.now();
    for (const [id, p] of this.#pending) {
      if (p.expiresAt > now) continue;
      this.#pending.delete(id);
      p.reject(new StreamPublishError(`publish to ${p.subject}: no PubAck in time`, 'TIMEOUT'));
    }
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }
}
