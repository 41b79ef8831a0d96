/** Leases, their timing and the stall watch under an injected clock: no timer, no server. */
import { describe, expect, it } from '@jest/globals';
import { LEASE_LOST_RATIO, leaseTiming } from '../../../src/messaging/lease-timing.ts';
import { Leases, StallWatch, admit } from '../../../src/messaging/leases.ts';
import { FakeDelivery } from '../../helpers/leases.ts';


const flush = () => new Promise((r) => setImmediate(r));

function setup(ackWaitMs = 5_000) {
  const clock = { t: 1_000_000 };
  let up = true;
  const leases = new Leases<FakeDelivery>({ timing: leaseTiming(ackWaitMs), connected: () => up, now: () => clock.t });
  return { clock, leases, setUp: (v: boolean) => (up = v) };
}

describe('leaseTiming', () => {
  it('cuts every fraction from the one ack wait', () => {
    expect(leaseTiming(5_000)).toEqual({ ackWaitMs: 5_000, renewEveryMs: 1_666, suspectAfterMs: 2_500, lostAfterMs: 4_000, settleWithinMs: 4_500, pullExpiresCapMs: 2_500, graceMs: 5_000 });
    expect(leaseTiming(300)).toMatchObject({ renewEveryMs: 250, pullExpiresCapMs: 250, lostAfterMs: 300 * LEASE_LOST_RATIO });
    expect(() => leaseTiming(0)).toThrow(RangeError);
  });
});

describe('Lease', () => {
  it('is lost once unrenewed for lostAfterMs, judged synchronously against the clock (no timer needs to fire)', () => {
    const { clock, leases } = setup();
    const lost: number[] = [];
    const lease = leases.hold(new FakeDelivery(clock.t), (l) => lost.push(l.delivery.seq));
    clock.t += 3_999;
    expect(leases.valid(lease)).toBe(true);
    // The process was stopped: the clock jumps, no tick ran.
    clock.t += 1;
    expect(leases.valid(lease)).toBe(false);
    expect(lease.state).toMatchObject({ phase: 'lost', lostAt: clock.t });
    expect(lost).toEqual([1]);
    // Lost stays lost (once), and it cannot be renewed back.
    lease.confirmed(clock.t);
    expect(leases.valid(lease)).toBe(false);
    expect(lost).toEqual([1]);
  });

  it('counts a renewal only once the server confirmed it, from the time it was sent', async () => {
    const { clock, leases } = setup();
    const d = new FakeDelivery(clock.t);
    const lease = leases.hold(d, () => {});
    clock.t += 1_000;
    leases.tick();
    const sentAt = clock.t;
    clock.t += 200;
    expect(lease.renewedAt).toBe(d.receivedAt);
    d.answer(true);
    await flush();
    expect(lease.renewedAt).toBe(sentAt);
    // Unanswered renewals (the server is down) do not move it: the lease runs out.
    for (let i = 0; i < 3; i++) {
      clock.t += 1_000;
      leases.tick();
      d.answer(false);
      await flush();
    }
    expect(lease.renewedAt).toBe(sentAt);
    clock.t = sentAt + 4_000;
    expect(leases.valid(lease)).toBe(false);
  });

  it('sends no renewal while disconnected, and marks a lease suspect after a late tick or half the ack wait unrenewed', () => {
    const { clock, leases, setUp } = setup();
    const d = new FakeDelivery(clock.t);
    const lease = leases.hold(d, () => {});
    leases.start();
    leases.stop();
    setUp(false);
    clock.t += 1_000;
    leases.tick();
    expect(d.renewals).toHaveLength(0);
    expect(lease.suspect).toBe(false);
    clock.t += 1_600;
    leases.tick();
    expect(lease.suspect).toBe(true);
    setUp(true);
    const other = leases.hold(new FakeDelivery(clock.t, 2), () => {});
    clock.t += 3 * leases.intervalMs;
    leases.tick();
    expect(other.suspect).toBe(true);
  });

  it('may settle only while the server surely holds the lease and the connection is up', () => {
    const { clock, leases, setUp } = setup();
    const lease = leases.hold(new FakeDelivery(clock.t), () => {});
    clock.t += 4_100;
    expect(leases.valid(lease)).toBe(false);
    // Lost (no AI call, no publish) but the server's lease still runs: a hand-back may go out.
    expect(leases.maySettle(lease)).toBe(true);
    setUp(false);
    expect(leases.maySettle(lease)).toBe(false);
    setUp(true);
    clock.t += 400;
    expect(leases.maySettle(lease)).toBe(false);
  });

  it('adopts a redelivery while held, not once lost; a released lease stays released', () => {
    const { clock, leases } = setup();
    const lease = leases.hold(new FakeDelivery(clock.t), () => {});
    clock.t += 3_000;
    const d2 = new FakeDelivery(clock.t, 1, 2);
    expect(lease.adopt(d2, clock.t)).toBe(true);
    expect([lease.delivery.deliveries, lease.renewedAt, lease.suspect]).toEqual([2, clock.t, true]);
    clock.t += 4_000;
    expect(leases.valid(lease)).toBe(false);
    expect(lease.adopt(new FakeDelivery(clock.t, 1, 3), clock.t)).toBe(false);
    leases.release(lease);
    expect(lease.state).toMatchObject({ phase: 'released', wasLost: true });
    expect(lease.lost).toBe(true);
    expect(leases.size).toBe(0);
  });
});

describe('StallWatch', () => {
  it('tells a request sent before a stall (its message may have waited through it) from one sent after', () => {
    const clock = { t: 0 };
    const w = new StallWatch({ now: () => clock.t, everyMs: 0 });
    for (; clock.t < 1_000; clock.t += 100) w.tick();
    const before = clock.t - 50;
    // Stopped for 5 s: no tick.
    clock.t += 5_000;
    // A message read before the watch ticked again: the current gap is the stall.
    expect(w.overlapping(before, clock.t)).toEqual({ start: 900, end: clock.t });
    w.tick();
    const resumed = clock.t;
    const after = clock.t + 10;
    clock.t += 300;
    w.tick();
    expect(w.overlapping(before, clock.t)).toEqual({ start: 900, end: resumed });
    expect(w.overlapping(after, clock.t)).toBeNull();
    // A request stamped in the very turn the stall was noticed is after it.
    expect(w.overlapping(resumed, clock.t)).toBeNull();
    expect(w.sinceLastTick(clock.t + 40)).toBe(40);
    w.stop();
  });

  it('ignores gaps under its threshold', () => {
    const clock = { t: 0 };
    const w = new StallWatch({ now: () => clock.t, everyMs: 0, thresholdMs: 500 });
    clock.t = 450;
    w.tick();
    expect(w.overlapping(0, 460)).toBeNull();
  });
});

describe('admit', () => {
  const timing = leaseTiming(5_000);
  it('gives a delivery requested after a stall a full lease from when it was read', () => {
    expect(admit({ requestedAt: 10_000, receivedAt: 10_050, now: 10_050, stall: null, timing, connected: true })).toEqual({ verdict: 'run', startedAt: 10_050, heldAcrossStall: false });
  });

  it('takes the lease of a delivery held across a stall to have begun when the stall began (or when requested, if later)', () => {
    const stall = { start: 4_000, end: 9_000 };
    expect(admit({ requestedAt: 2_000, receivedAt: 9_001, now: 9_001, stall: { start: 6_000, end: 9_000 }, timing, connected: true })).toEqual({ verdict: 'run', startedAt: 6_000, heldAcrossStall: true });
    expect(admit({ requestedAt: 5_500, receivedAt: 9_001, now: 9_001, stall, timing, connected: true })).toEqual({ verdict: 'run', startedAt: 5_500, heldAcrossStall: true });
  });

  it('hands back one whose lease is lost while the server\'s lease surely runs, releases it after', () => {
    const stall = { start: 4_000, end: 8_200 };
    expect(admit({ requestedAt: 1_000, receivedAt: 8_200, now: 8_200, stall, timing, connected: true })).toEqual({ verdict: 'nak', startedAt: 4_000, unrenewedMs: 4_200 });
    expect(admit({ requestedAt: 1_000, receivedAt: 8_200, now: 8_200, stall, timing, connected: false })).toMatchObject({ verdict: 'release' });
    expect(admit({ requestedAt: 1_000, receivedAt: 9_000, now: 9_000, stall: { start: 4_000, end: 9_000 }, timing, connected: true })).toEqual({ verdict: 'release', startedAt: 4_000, unrenewedMs: 5_000 });
  });
});
