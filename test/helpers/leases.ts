/** A delivery for the lease tests: its renewals wait until the test confirms them (or not) by hand. */
import type { LeasedDelivery } from '../../src/messaging/leases.ts';

export class FakeDelivery implements LeasedDelivery {
  readonly seq: number;
  readonly deliveries: number;
  readonly receivedAt: number;
  readonly renewals: ((ok: boolean) => void)[] = [];
  constructor(receivedAt: number, seq = 1, deliveries = 1) {
    this.receivedAt = receivedAt;
    this.seq = seq;
    this.deliveries = deliveries;
  }
  renew(): Promise<boolean> {
    return new Promise((resolve) => this.renewals.push(resolve));
  }
  /** Answers every renewal sent so far. */
  answer(ok: boolean): void {
    for (const r of this.renewals.splice(0)) r(ok);
  }
}
