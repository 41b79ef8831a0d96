/**
 * The AI gate: while the AI side is known to be down (a job stopped with AI_UNAVAILABLE), the
 * worker takes no new work and the jobs that met the outage wait here, their leases kept alive,
 * instead of being handed back (which would spend one of their deliveries each). Every
 * `probeMs` (AI_BREAKER_HALF_OPEN_MS) one waiting job is let through as the trial call (with none
 * waiting, the gate opens and new work makes it); the first AI answer that succeeds opens the gate
 * for all. An outage of any length costs no delivery.
 */
export class AiGate {
  readonly #probeMs: number;
  readonly #onChange: (down: boolean) => void;
  #down = false;
  #since = 0;
  #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #timer: NodeJS.Timeout | null = null;

  constructor(options: { probeMs: number; onChange?: (down: boolean) => void }) {
    this.#probeMs = options.probeMs;
    this.#onChange = options.onChange ?? (() => {});
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
      if (trial) trial.resolve();
      else this.markUp();
    }, this.#probeMs);
    this.#onChange(true);
  }

  /** An AI call succeeded: every waiting job goes on. */
  markUp(): void {
    if (!this.#down) return;
    this.#down = false;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const w of this.#waiters.splice(0)) w.resolve();
    this.#onChange(false);
  }

  /** Resolves when the gate opens or this job is picked as the trial; rejects when `signal` aborts. */
  wait(signal: AbortSignal): Promise<void> {
    if (!this.#down) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const waiter = {
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
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

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
