/**
 * Decoding where untrusted input cannot stall the worker: a payload up to
 * ALT_DECODE_THREAD_BYTES is decoded at once (bounded to a few milliseconds), a larger one in a
 * worker thread with a time budget (ALT_DECODE_TIMEOUT_MS). A decode that overruns it is refused
 * with ALT_LIMIT `decode_time` and its thread is replaced, so the event loop that keeps the
 * leases alive never waits on message content.
 */
import { Worker } from 'node:worker_threads';
import { AltlasError, type ErrorCode } from '../errors.ts';
import { decodeAlt, type DecodeResult } from './decode.ts';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from './limits.ts';
import { limitError } from './limit-error.ts';
import type { JobHeader } from './header.ts';

export interface DecodePoolOptions {
  limits?: Partial<DecodeLimits>;
  /** Bytes: larger payloads go to the thread. Default 16,384 (ALT_DECODE_THREAD_BYTES). */
  threadBytes?: number;
  /** Milliseconds a threaded decode may take. Default 10,000 (ALT_DECODE_TIMEOUT_MS). */
  timeoutMs?: number;
}

interface Pending {
  id: number;
  bytes: Uint8Array;
  hint?: string;
  resolve: (r: DecodeResult) => void;
}

export class DecodePool {
  readonly #limits: DecodeLimits;
  readonly #threadBytes: number;
  readonly #timeoutMs: number;
  readonly #queue: Pending[] = [];
  #thread: Worker | null = null;
  #current: Pending | null = null;
  #timer: NodeJS.Timeout | null = null;
  #nextId = 1;
  #closed = false;
  /** Decodes done in the thread, and refused for their time (for tests and benchmarks). */
  threaded = 0;
  timedOut = 0;

  constructor(options: DecodePoolOptions = {}) {
    this.#limits = { ...DEFAULT_DECODE_LIMITS, ...options.limits };
    this.#threadBytes = options.threadBytes ?? 16_384;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  decode(bytes: Uint8Array, hint?: string): Promise<DecodeResult> {
    if (bytes.length <= this.#threadBytes || this.#closed) return Promise.resolve(decodeAlt(bytes, { hint, limits: this.#limits }));
    return new Promise((resolve) => {
      this.#queue.push({ id: this.#nextId++, bytes, hint, resolve });
      this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const t = this.#thread;
    this.#thread = null;
    await t?.terminate();
    for (const p of this.#queue.splice(0)) p.resolve(decodeAlt(p.bytes, { hint: p.hint, limits: this.#limits }));
  }

  #spawn(): Worker {
    const t = new Worker(new URL('./decode-thread.ts', import.meta.url), { execArgv: ['--disable-warning=ExperimentalWarning'] });
    t.unref();
    t.on('message', (m: { id: number; ok: boolean; job?: unknown; warnings?: unknown; syntax?: unknown; error?: { code: ErrorCode; message: string; problems: []; context: Record<string, unknown> }; header?: JobHeader }) => {
      const p = this.#current;
      if (!p || p.id !== m.id) return;
      this.#finish(m.ok
        ? ({ ok: true, job: m.job, warnings: m.warnings, syntax: m.syntax } as DecodeResult)
        : { ok: false, error: new AltlasError(m.error!.code, m.error!.message, { problems: m.error!.problems, context: m.error!.context }), ...(m.header ? { header: m.header } : {}) });
    });
    t.on('error', (e) => {
      // The thread died: the payload in hand is answered as an internal error, the thread replaced.
      if (this.#thread === t) this.#thread = null;
      this.#finish({ ok: false, error: new AltlasError('INTERNAL', `the decode thread failed: ${e.message}`, { cause: e }) });
    });
    return t;
  }

  #finish(result: DecodeResult): void {
    const p = this.#current;
    if (!p) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#current = null;
    p.resolve(result);
    this.#pump();
  }

  #pump(): void {
    if (this.#current || this.#closed) return;
    const p = this.#queue.shift();
    if (!p) {
      this.#thread?.unref();
      return;
    }
    this.#thread ??= this.#spawn();
    this.#thread.ref();
    this.#current = p;
    this.threaded++;
    this.#timer = setTimeout(() => {
      this.timedOut++;
      const t = this.#thread;
      this.#thread = null;
      void t?.terminate();
      this.#finish({ ok: false, error: limitError('decode_time', this.#timeoutMs, this.#timeoutMs) });
    }, this.#timeoutMs);
    this.#thread.postMessage({ id: p.id, bytes: p.bytes, hint: p.hint, limits: this.#limits });
  }
}
