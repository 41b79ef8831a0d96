/**
 * Every fraction of the consumer's ack wait the worker lives by, made once from the ack wait and
 * handed to everything that needs one (leases, pull loop, stall watch, max-deliveries guard).
 *
 * | value              | share of the ack wait | what it is                                                              |
 * |--------------------|-----------------------|-------------------------------------------------------------------------|
 * | `renewEveryMs`     | 1/3 (≥ 250 ms)        | how often every lease is renewed (`+WPI`, confirmed by the server)      |
 * | `suspectAfterMs`   | 1/2                   | a lease unrenewed this long: its run checks its claim before publishing |
 * | `lostAfterMs`      | 0.8                   | a lease unrenewed this long is lost: no AI call, no verb, no publish    |
 * | `settleWithinMs`   | 0.9                   | a verb is sent only this soon after the last confirmed renewal          |
 * | `pullExpiresCapMs` | 1/2 (≥ 250 ms)        | longest pull request: it expires before a dead worker's message returns |
 * | `graceMs`          | 1                     | the max-deliveries guard waits this long for a live owner to settle     |
 */

/** Share of the ack wait after which an unrenewed lease counts as lost. */
export const LEASE_LOST_RATIO = 0.8;
/** Share of the ack wait within which a verb may still be sent on a delivery (the server's lease surely runs). */
export const SETTLE_RATIO = 0.9;

export interface LeaseTiming {
  readonly ackWaitMs: number;
  readonly renewEveryMs: number;
  readonly suspectAfterMs: number;
  readonly lostAfterMs: number;
  readonly settleWithinMs: number;
  readonly pullExpiresCapMs: number;
  readonly graceMs: number;
}

/** The timing of leases under a consumer whose ack wait is `ackWaitMs`. */
export function leaseTiming(ackWaitMs: number): LeaseTiming {
  if (!(ackWaitMs > 0)) throw new RangeError(`ack wait must be positive, got ${ackWaitMs}`);
  return Object.freeze({
    ackWaitMs,
    renewEveryMs: Math.max(250, Math.floor(ackWaitMs / 3)),
    suspectAfterMs: ackWaitMs / 2,
    lostAfterMs: LEASE_LOST_RATIO * ackWaitMs,
    settleWithinMs: SETTLE_RATIO * ackWaitMs,
    pullExpiresCapMs: Math.max(250, Math.floor(ackWaitMs / 2)),
    graceMs: ackWaitMs,
  });
}
