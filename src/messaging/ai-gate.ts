/**
 * The AI gate: while the AI side is known to be down (a job stopped with AI_UNAVAILABLE), the
 * worker takes no new work and the jobs that met the outage wait here, their leases kept alive,
 * instead of being handed back (which would spend one of their deliveries each). Every
 * `probeMs` (AI_BREAKER_HALF_OPEN_MS) one waiting job is let through as the trial call (with none
 * waiting, the gate opens and new work makes it); the first AI answer that succeeds opens the gate
 * for all. An outage of any length costs no delivery.
 *
 * A job whose own calls fail while the AI side is up (a prompt the provider fails every time)
 * must not hold the worker: when its trial fails while the provider's health check answers and no
 * other job waits, it waits on its own ({@link pause}) and the gate opens for new work; with
 * others waiting, their trials tell an outage from its own failures. Once other calls were
 * answered between two of its failures, the failures are its own and its tasks fail (job-flow.ts).
 */

/** How a wait ended: the gate opened for all, or this job was picked to make the trial call. */
export type GateRelease = 'open' | 'trial';
export class AiGate {
  readonly #probeMs: number;
  readonly #onChange: (down: boolean) => void;
  readonly #health: (() => Promise<boolean>) | null;
  #down = false;
  #since = 0;
  #answeredAt = 0;
  #waiters: { resolve: (how: GateRelease) => void; reject: (e: unknown) => void }[] = [];
  #timer: NodeJS.Timeout | null = null;

  /** `health`: the provider's health check (AiClient.health), true when it answers 2xx. */
  constructor(options: { probeMs: number; onChange?: (down: boolean) => void; health?: () => Promise<boolean> }) {
    this.#probeMs = options.probeMs;
    this.#onChange = options.onChange ?? (() => {});
    this.#health = options.health ?? null;
  }

  /** True when the provider's health endpoint answers (false without a health check, or when it fails). */
  async healthy(): Promise<boolean> {
    return this.#health ? this.#health().catch(() => false) : false;
  }

  get down(): boolean {
    return this.#down;
  }

  /** Jobs waiting for the AI side. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Milliseconds since the gate closed (0 while open). */
  get downForMs(): number {
    return this.#down ? Date.now() - this.#since : 0;
  }

  markDown(): void {
    if (this.#down) return;
    this.#down = true;
    this.#since = Date.now();
    // Each probe interval one waiting job makes the trial call; with none waiting (their runs ended), the
    // gate opens so that new work makes it, else the worker would wait for a trial nobody makes.
    this.#timer = setInterval(() => {
      const trial = this.#waiters.shift();
      if (trial) trial.resolve('trial');
      else this.markUp();
    }, this.#probeMs);
    this.#onChange(true);
  }

  /** When (epoch ms) the AI side last answered a call (0: never). */
  get answeredAt(): number {
    return this.#answeredAt;
  }

  /** An AI call was answered: every waiting job goes on. */
  markUp(): void {
    this.#answeredAt = Date.now();
    if (!this.#down) return;
    this.#down = false;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const w of this.#waiters.splice(0)) w.resolve('open');
    this.#onChange(false);
  }

  /** Resolves when the gate opens ('open') or this job is picked as the trial ('trial'); rejects when `signal` aborts. */
  wait(signal: AbortSignal): Promise<GateRelease> {
    if (!this.#down) return Promise.resolve('open');
    return new Promise<GateRelease>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const waiter = {
        resolve: (how: GateRelease) => {
          signal.removeEventListener('abort', onAbort);
          resolve(how);
        },
        reject,
      };
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Waits one probe interval on this job's own (the gate is not involved); rejects when `signal` aborts. */
  pause(signal: AbortSignal): Promise<GateRelease> {
    return new Promise<GateRelease>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve('trial');
      }, this.#probeMs);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
