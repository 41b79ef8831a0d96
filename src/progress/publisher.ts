/**
 * Publishes the progress of AI answers to the progress stream, one {@link ProgressAttempt} per
 * HTTP attempt:
 *
 * - **Coalesced.** The first chunk of an attempt is sent at once (what a watcher waits for): at
 *   the end of the event loop's turn it came in, so an attempt that ends in that same turn (a
 *   whole answer, a stream read in one go) is one message, its `end` with its text; later text
 *   waits for the publisher's next tick (every `flushMs`) to go with the text after it, or goes
 *   at once when `flushBytes` of it are waiting; no message carries more than `flushBytes` of
 *   text. So an attempt of T ms and B bytes makes at most 2 + T / flushMs + B / flushBytes
 *   messages. One tick for every attempt (not a timer each): the messages of all the answers
 *   streaming at once leave in one socket write.
 * - **Nothing lost or repeated within an attempt.** Messages are sent one at a time per attempt,
 *   each once JetStream acknowledged the one before, so the stream holds them in their order;
 *   one not acknowledged in time (a lost connection, a reconnect) is sent again with the same
 *   `Nats-Msg-Id`, which the stream stores once. Text that arrives meanwhile is added to the
 *   next message.
 * - **Bounded.** An attempt holds at most its answer (`maxBytes`, AI_MAX_RESPONSE_BYTES): text
 *   past it is not sent and the attempt ends `too_large`. {@link ProgressAttempt.settled} waits
 *   a bounded time for the last acknowledgement, then gives the rest up (and says so).
 *
 * Nothing here throws into the AI call or waits on its path.
 */
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import type { AttemptOutcome } from '../ai/call.ts';
import type { PubAck } from '../messaging/stream-publish.ts';
import { IDENTITY_CODEC, type Codec } from '../security/codec.ts';
import { PROGRESS_VERSION, encodeProgress, newAttemptId, progressMsgId, progressSubject, splitUtf8, type ProgressHead, type ProgressMessage } from './message.ts';

/** Where the messages go: a publish that resolves with JetStream's acknowledgement. */
export interface ProgressSink {
  publish(subject: string, data: Uint8Array, options: { msgID: string; headers: MsgHdrs; timeoutMs: number }): Promise<PubAck>;
}

export interface ProgressPublisherOptions {
  out: ProgressSink;
  /** PROGRESS_SUBJECT_PREFIX. */
  prefix: string;
  codec?: Codec;
  /** Milliseconds text waits to go with more (PROGRESS_FLUSH_MS). Default 50. */
  flushMs?: number;
  /** Bytes sent at once; the most text of one message (PROGRESS_FLUSH_BYTES). Default 16,384. */
  flushBytes?: number;
  /** Most text of one attempt in bytes (AI_MAX_RESPONSE_BYTES). Default 4 MiB. */
  maxBytes?: number;
  /** Milliseconds to wait for an acknowledgement before sending the message again. Default 2,000. */
  ackTimeoutMs?: number;
  /** Told about messages sent again and progress given up (an attempt may have its own). */
  onTrouble?: (event: ProgressTrouble) => void;
}

/** What went wrong with an attempt's messages (for the job's log). */
export type ProgressTrouble =
  | { kind: 'resend'; head: AttemptHead; index: number; error: string }
  | { kind: 'given_up'; head: AttemptHead; attempt: string; unsentBytes: number; reason: string };

/** An attempt as the caller names it (the publisher adds its id and the message positions). */
export type AttemptHead = Omit<ProgressHead, 'v' | 'attempt' | 'index'>;

/** Counts of the whole publisher (benchmarks, tests). */
export interface ProgressCounts {
  attempts: number;
  messages: number;
  resent: number;
  givenUp: number;
}

type Resolved = Required<Omit<ProgressPublisherOptions, 'onTrouble'>> & Pick<ProgressPublisherOptions, 'onTrouble'>;

/**
 * The shared tick: attempts with text waiting, flushed together every `flushMs` while there are
 * any; and attempts with their first text, flushed together at the end of the loop's turn.
 */
class Ticker {
  readonly #ms: number;
  readonly #waiting = new Set<{ tick(): void }>();
  readonly #first = new Set<{ tick(): void }>();
  #timer: NodeJS.Timeout | null = null;
  #immediate: NodeJS.Immediate | null = null;

  constructor(ms: number) {
    this.#ms = ms;
  }

  add(a: { tick(): void }): void {
    if (this.#first.has(a)) return;
    this.#waiting.add(a);
    this.#timer ??= setInterval(() => this.#tick(), this.#ms);
  }

  /** `a` is flushed once the callbacks of this turn of the event loop ran (its end, if it came in them, goes with its text). */
  soon(a: { tick(): void }): void {
    this.#waiting.delete(a);
    this.#first.add(a);
    this.#immediate ??= setImmediate(() => this.#soon());
  }

  delete(a: { tick(): void }): void {
    this.#waiting.delete(a);
    this.#first.delete(a);
  }

  #soon(): void {
    this.#immediate = null;
    const due = [...this.#first];
    this.#first.clear();
    for (const a of due) a.tick();
  }

  #tick(): void {
    const due = [...this.#waiting];
    this.#waiting.clear();
    for (const a of due) a.tick();
    if (this.#waiting.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }
}

export class ProgressPublisher {
  readonly #o: Resolved;
  readonly #open = new Set<ProgressAttempt>();
  readonly #ticker: Ticker;
  readonly counts: ProgressCounts = { attempts: 0, messages: 0, resent: 0, givenUp: 0 };
  #closed = false;

  constructor(options: ProgressPublisherOptions) {
    this.#o = { codec: IDENTITY_CODEC, flushMs: 50, flushBytes: 16_384, maxBytes: 4_194_304, ackTimeoutMs: 2_000, ...options };
    this.#ticker = new Ticker(this.#o.flushMs);
  }

  /**
   * Starts an attempt; its first chunk goes out at once, or, with `after` (the attempt before it
   * in the same call), once that one's messages are stored, so the stream holds a task's attempts
   * in their order.
   */
  open(head: AttemptHead, options: { after?: ProgressAttempt; onTrouble?: (t: ProgressTrouble) => void } = {}): ProgressAttempt {
    const o = options.onTrouble ? { ...this.#o, onTrouble: options.onTrouble } : this.#o;
    const a = new ProgressAttempt(o, head, this.counts, this.#ticker, (x) => this.#open.delete(x), options.after);
    this.counts.attempts++;
    if (this.#closed) a.abandon('the publisher is closed');
    else this.#open.add(a);
    return a;
  }

  /** Gives up every attempt still sending (shutdown). */
  close(): void {
    this.#closed = true;
    for (const a of [...this.#open]) a.abandon('the worker is shutting down');
  }
}

/** One HTTP attempt's messages. `chunk` and `end` are synchronous and never throw. */
export class ProgressAttempt {
  readonly id = newAttemptId();
  readonly subject: string;
  readonly #o: Resolved;
  readonly #head: AttemptHead;
  readonly #counts: ProgressCounts;
  readonly #ticker: Ticker;
  readonly #done: (a: ProgressAttempt) => void;
  /** Text not sent yet, and its bytes. */
  #buffer: string[] = [];
  #buffered = 0;
  /** Bytes of text accepted (sent or waiting). */
  #bytes = 0;
  #next = 0;
  /** The message sent and not yet acknowledged. */
  #inFlight: { index: number; data: Uint8Array; headers: MsgHdrs; last: boolean } | null = null;
  #due = false;
  #retry: NodeJS.Timeout | null = null;
  #failures = 0;
  #end: { outcome: AttemptOutcome; failure: string | null; code: string | null } | null = null;
  #capped = false;
  #finished = false;
  #abandoned = false;
  #waiters: ((ok: boolean) => void)[] = [];
  /** True while the attempt before this one still sends. */
  #waiting = false;

  constructor(o: Resolved, head: AttemptHead, counts: ProgressCounts, ticker: Ticker, done: (a: ProgressAttempt) => void, after?: ProgressAttempt) {
    this.#o = o;
    this.#head = head;
    this.#counts = counts;
    this.#ticker = ticker;
    this.#done = done;
    this.subject = progressSubject(o.prefix, head.job, head.task);
    if (after && !after.#finished && !after.#abandoned) {
      this.#waiting = true;
      after.#waiters.push(() => {
        this.#waiting = false;
        this.#pump();
      });
    }
  }

  /** Adds text of the answer. */
  chunk(text: string): void {
    if (this.#end || this.#abandoned || this.#capped || text === '') return;
    const bytes = Buffer.byteLength(text);
    if (this.#bytes + bytes > this.#o.maxBytes) {
      // The answer cap applies to the stream too: nothing past it is sent.
      this.#capped = true;
      return;
    }
    this.#bytes += bytes;
    const first = this.#bytes === bytes;
    this.#buffer.push(text);
    this.#buffered += bytes;
    if (this.#buffered >= this.#o.flushBytes) this.#flushNow();
    else if (first) this.#ticker.soon(this);
    else if (!this.#due) this.#ticker.add(this);
  }

  /** Ends the attempt: its last message says how, with the text not sent yet. */
  end(outcome: AttemptOutcome, failure: string | null = null, code: string | null = null): void {
    if (this.#end || this.#abandoned) return;
    this.#end = { outcome: this.#capped && outcome === 'ok' ? 'too_large' : outcome, failure: this.#capped && outcome === 'ok' ? 'too_large' : failure, code };
    this.#flushNow();
  }

  /**
   * Resolves true once every message of the ended attempt is stored, or false when `timeoutMs`
   * passed first: the rest is given up then.
   */
  settled(timeoutMs: number): Promise<boolean> {
    if (this.#finished) return Promise.resolve(true);
    if (this.#abandoned) return Promise.resolve(false);
    return new Promise((resolve) => {
      const t = setTimeout(() => this.abandon(`not stored within ${timeoutMs} ms`), timeoutMs);
      this.#waiters.push((ok) => {
        clearTimeout(t);
        resolve(ok);
      });
    });
  }

  /** Stops sending; what is not stored yet is given up. */
  abandon(reason: string): void {
    if (this.#finished || this.#abandoned) return;
    this.#abandoned = true;
    const unsentBytes = this.#buffered;
    this.#clearTimers();
    this.#buffer = [];
    this.#inFlight = null;
    this.#counts.givenUp++;
    this.#o.onTrouble?.({ kind: 'given_up', head: this.#head, attempt: this.id, unsentBytes, reason });
    this.#settle(false);
  }

  /** The shared tick came: the waiting text goes. */
  tick(): void {
    this.#flushNow();
  }

  #flushNow(): void {
    this.#ticker.delete(this);
    this.#due = true;
    this.#pump();
  }

  /** Sends the next message when none is waiting for its acknowledgement. */
  #pump(): void {
    if (this.#inFlight || this.#waiting || this.#abandoned || this.#finished || !this.#due) return;
    if (this.#buffered === 0 && !this.#end) {
      this.#due = false;
      return;
    }
    const text = this.#take();
    const last = this.#end !== null && this.#buffered === 0;
    const base = { v: PROGRESS_VERSION, ...this.#head, attempt: this.id, index: this.#next };
    const m: ProgressMessage = last
      ? { ...base, type: 'end', text, outcome: this.#end!.outcome, failure: this.#end!.failure, code: this.#end!.code, bytes: this.#bytes }
      : { ...base, type: 'chunk', text };
    const headers = natsHeaders();
    this.#inFlight = { index: this.#next++, data: encodeProgress(m, this.#o.codec, headers), headers, last };
    // What is left waits for the next tick, unless a full message of it is waiting or the attempt ended.
    this.#due = this.#end !== null || this.#buffered >= this.#o.flushBytes;
    if (!this.#due && this.#buffered > 0) this.#ticker.add(this);
    this.#send();
  }

  /** Takes at most flushBytes of the waiting text, cut between characters. */
  #take(): string {
    if (this.#buffered === 0) return '';
    const all = this.#buffer.length === 1 ? this.#buffer[0] : this.#buffer.join('');
    const pieces = this.#buffered > this.#o.flushBytes ? splitUtf8(all, this.#o.flushBytes) : [all];
    const text = pieces[0];
    const rest = pieces.length > 1 ? all.slice(text.length) : '';
    this.#buffer = rest ? [rest] : [];
    this.#buffered = rest ? this.#buffered - Buffer.byteLength(text) : 0;
    return text;
  }

  #send(): void {
    const m = this.#inFlight;
    if (!m) return;
    this.#counts.messages++;
    this.#o.out.publish(this.subject, m.data, { msgID: progressMsgId(this.id, m.index), headers: m.headers, timeoutMs: this.#o.ackTimeoutMs }).then(() => {
      if (this.#inFlight !== m) return;
      this.#inFlight = null;
      this.#failures = 0;
      if (m.last) {
        this.#finished = true;
        this.#clearTimers();
        this.#settle(true);
        return;
      }
      this.#pump();
    }, (e: Error) => {
      if (this.#inFlight !== m) return;
      this.#counts.resent++;
      if (this.#failures++ === 0) this.#o.onTrouble?.({ kind: 'resend', head: this.#head, index: m.index, error: e.message });
      // The same message again, with the same id: the stream stores it once whichever copy arrives.
      this.#retry = setTimeout(() => {
        this.#retry = null;
        if (this.#inFlight === m && !this.#abandoned) this.#send();
      }, Math.min(100 * 2 ** Math.min(this.#failures, 5), 2_000));
    });
  }

  #clearTimers(): void {
    this.#ticker.delete(this);
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
  }

  #settle(ok: boolean): void {
    this.#done(this);
    for (const w of this.#waiters.splice(0)) w(ok);
  }
}
