/**
 * One delivery of a JetStream message to this worker: its reply subject parsed (stream,
 * consumer, delivery count, stream sequence), and the acknowledgement verbs sent on it. A
 * small replacement for nats.js's JsMsg that the pull loop builds from the raw message.
 */
import type { Msg, MsgHdrs, NatsConnection } from '@nats-io/nats-core';

const ACK = new TextEncoder().encode('+ACK');
const WPI = new TextEncoder().encode('+WPI');
const NAK = new TextEncoder().encode('-NAK');

export interface DeliveryInfo {
  data: Uint8Array;
  subject: string;
  /** Content type from the message headers, if any (JSON or YAML hint). */
  contentType?: string;
  stream: string;
  seq: number;
  /** 1 for the first delivery. */
  deliveries: number;
  headers?: { get(name: string): string };
}

/** Parses `$JS.ACK.[<domain>.<hash>.]<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>[.<token>]`. */
export function parseAckSubject(reply: string): { stream: string; consumer: string; deliveries: number; seq: number; timestampMs: number } | null {
  const t = reply.split('.');
  if (t[0] !== '$JS' || t[1] !== 'ACK') return null;
  const at = t.length === 9 ? 2 : 4;
  if (t.length < at + 7) return null;
  const n = (i: number) => Number.parseInt(t[at + i], 10);
  return { stream: t[at], consumer: t[at + 1], deliveries: n(2), seq: n(3), timestampMs: Math.floor(n(5) / 1e6) };
}

export class Delivery implements DeliveryInfo {
  readonly data: Uint8Array;
  readonly subject: string;
  readonly headers: MsgHdrs | undefined;
  readonly contentType: string | undefined;
  readonly stream: string;
  readonly seq: number;
  readonly deliveries: number;
  /** Epoch ms when this process read it. */
  readonly receivedAt: number;
  /** Epoch ms when the server delivered it (the server's clock, from the ack subject). */
  readonly deliveredAt: number;
  readonly #nc: NatsConnection;
  readonly #reply: string;
  #settled = false;

  constructor(nc: NatsConnection, m: Msg, receivedAt = Date.now()) {
    const info = parseAckSubject(m.reply ?? '');
    if (!info) throw new Error(`not a JetStream delivery: ${m.reply ?? '(no reply subject)'}`);
    this.#nc = nc;
    this.#reply = m.reply!;
    this.data = m.data;
    this.subject = m.subject;
    this.headers = m.headers;
    this.contentType = m.headers?.get('Content-Type') || undefined;
    this.stream = info.stream;
    this.seq = info.seq;
    this.deliveries = info.deliveries;
    this.receivedAt = receivedAt;
    this.deliveredAt = info.timestampMs;
  }

  /** True once an ack, nak or term was sent on this delivery. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Extends the lease and waits for the server's confirmation; resolves false when none came in time (or it was settled). */
  async renew(timeoutMs: number): Promise<boolean> {
    if (this.#settled) return false;
    try {
      await this.#nc.request(this.#reply, WPI, { timeout: timeoutMs });
      return true;
    } catch {
      return false;
    }
  }

  /** Acks without waiting for a confirmation (nothing depends on knowing it arrived). */
  ack(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#nc.publish(this.#reply, ACK);
  }

  /** Acks and waits for the server's confirmation; resolves false when it did not confirm in time. */
  async ackAck(timeoutMs = 10_000): Promise<boolean> {
    if (this.#settled) return false;
    this.#settled = true;
    try {
      await this.#nc.request(this.#reply, ACK, { timeout: timeoutMs });
      return true;
    } catch {
      return false;
    }
  }

  nak(delayMs = 0): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#nc.publish(this.#reply, delayMs > 0 ? new TextEncoder().encode(`-NAK ${JSON.stringify({ delay: delayMs * 1_000_000 })}`) : NAK);
  }

  /** Terminates the delivery (no redelivery); the reason needs nats-server 2.10.4 (older servers ignore a term with a reason). */
  term(reason?: string): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#nc.publish(this.#reply, new TextEncoder().encode(reason ? `+TERM ${reason}` : '+TERM'));
  }
}
