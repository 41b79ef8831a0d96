/**
 * Each edge of the lease state machine, the renewal timer and the stall watch's bounds, under an
 * injected clock (and jest's fake timers where a timer is the subject).
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { leaseTiming } from '../../../src/messaging/lease-timing.ts';
import { Lease, Leases, StallWatch, admit } from '../../../src/messaging/leases.ts';
import { FakeDelivery } from '../../helpers/leases.ts';


function setup(ackWaitMs = 5_000) {
  const clock = { t: 1_000_000 };
  let up = true;
  const timing = leaseTiming(ackWaitMs);
  const leases = new Leases<FakeDelivery>({ timing, connected: () => up, now: () => clock.t });
  return { clock, leases, timing, setUp: (v: boolean) => (up = v) };
}

afterEach(() => {
  jest.useRealTimers();
});

describe('leaseTiming', () => {
  it('refuses an ack wait that is not positive, naming it', () => {
    expect(() => leaseTiming(0)).toThrow('ack wait must be positive, got 0');
    expect(() => leaseTiming(Number.NaN)).toThrow('got NaN');
    expect(() => leaseTiming(-1)).toThrow(RangeError);
  });
});

describe('Lease state machine', () => {
  it('starts held and not suspect from when its delivery was read, unless told otherwise', () => {
    const d = new FakeDelivery(500);
    expect(new Lease(d, () => {}).state).toEqual({ phase: 'held', renewedAt: 500, suspect: false });
    expect(new Lease(d, () => {}, 400, true).state).toEqual({ phase: 'held', renewedAt: 400, suspect: true });
    const { leases, timing } = setup();
    expect(leases.timing).toBe(timing);
    expect(leases.hold(d, () => {}).state).toEqual({ phase: 'held', renewedAt: 500, suspect: false });
  });

  it('held: not lost; lost: lost and not held; released after held: neither; released after lost: stays lost', () => {
    const a = new Lease(new FakeDelivery(0), () => {});
    expect([a.held, a.lost]).toEqual([true, false]);
    a.release();
    expect(a.state).toEqual({ phase: 'released', renewedAt: 0, wasLost: false });
    expect([a.held, a.lost, a.suspect]).toEqual([false, false, true]);

    const b = new Lease(new FakeDelivery(0), () => {});
    b.markLost(10);
    expect([b.held, b.lost]).toEqual([false, true]);
    b.release();
    expect([b.held, b.lost]).toEqual([false, true]);
    // Released twice: it stays what it was.
    b.release();
    expect(b.state).toEqual({ phase: 'released', renewedAt: 0, wasLost: true });
  });

  it('is declared lost once: a second markLost changes nothing and calls nobody', () => {
    const calls: number[] = [];
    const lease = new Lease(new FakeDelivery(0), (l) => calls.push(l.state.phase === 'lost' ? l.state.lostAt : -1));
    lease.markLost(10);
    lease.markLost(20);
    expect(calls).toEqual([10]);
    expect(lease.state).toEqual({ phase: 'lost', renewedAt: 0, lostAt: 10 });
    lease.release();
    lease.markLost(30);
    expect(calls).toEqual([10]);
    expect(lease.state).toEqual({ phase: 'released', renewedAt: 0, wasLost: true });
  });

  it('a confirmation renews only a held lease, and never moves its renewal back', () => {
    const lease = new Lease(new FakeDelivery(100), () => {});
    lease.confirmed(50);
    expect(lease.renewedAt).toBe(100);
    lease.confirmed(150);
    expect(lease.renewedAt).toBe(150);
    lease.markLost(200);
    lease.confirmed(300);
    expect(lease.state).toEqual({ phase: 'lost', renewedAt: 150, lostAt: 200 });
    lease.release();
    lease.confirmed(400);
    expect(lease.state).toEqual({ phase: 'released', renewedAt: 150, wasLost: true });
  });

  it('markSuspect changes only a held lease', () => {
    const lease = new Lease(new FakeDelivery(0), () => {});
    lease.markSuspect();
    expect(lease.state).toEqual({ phase: 'held', renewedAt: 0, suspect: true });
    const before = lease.state;
    lease.markSuspect();
    expect(lease.state).toBe(before);
    const lost = new Lease(new FakeDelivery(0), () => {});
    lost.markLost(5);
    lost.markSuspect();
    expect(lost.state).toEqual({ phase: 'lost', renewedAt: 0, lostAt: 5 });
    const released = new Lease(new FakeDelivery(0), () => {});
    released.release();
    released.markSuspect();
    expect(released.state).toEqual({ phase: 'released', renewedAt: 0, wasLost: false });
  });

  it('adopting a redelivery never moves the renewal back', () => {
    const lease = new Lease(new FakeDelivery(1_000), () => {});
    expect(lease.adopt(new FakeDelivery(900, 1, 2), 900)).toBe(true);
    expect(lease.state).toEqual({ phase: 'held', renewedAt: 1_000, suspect: true });
    const released = new Lease(new FakeDelivery(1_000), () => {});
    released.release();
    expect(released.adopt(new FakeDelivery(2_000, 1, 2), 2_000)).toBe(false);
    expect(released.delivery.deliveries).toBe(1);
  });
});

describe('Leases', () => {
  it('a released lease is not valid, however fresh', () => {
    const { clock, leases } = setup();
    const lease = leases.hold(new FakeDelivery(clock.t), () => {});
    leases.release(lease);
    expect(leases.valid(lease)).toBe(false);
    expect(lease.state.phase).toBe('released');
  });

  it('is lost at exactly lostAfterMs unrenewed, not a millisecond before', () => {
    const { clock, leases, timing } = setup();
    const lease = leases.hold(new FakeDelivery(clock.t), () => {});
    clock.t += timing.lostAfterMs - 1;
    expect(leases.valid(lease)).toBe(true);
    clock.t += 1;
    expect(leases.valid(lease)).toBe(false);
  });

  it('may settle until exactly settleWithinMs after the last renewal', () => {
    const { clock, leases, timing } = setup();
    const lease = leases.hold(new FakeDelivery(clock.t), () => {});
    clock.t += timing.settleWithinMs - 1;
    expect(leases.maySettle(lease)).toBe(true);
    clock.t += 1;
    expect(leases.maySettle(lease)).toBe(false);
  });

  it('a tick sends nothing on a lease it finds lost, and declares it lost', () => {
    const { clock, leases, timing } = setup();
    const d = new FakeDelivery(clock.t);
    const lost: number[] = [];
    const lease = leases.hold(d, (l) => lost.push(l.delivery.seq));
    clock.t += timing.lostAfterMs;
    leases.tick();
    expect(d.renewals).toHaveLength(0);
    expect(lost).toEqual([1]);
    expect(lease.lost).toBe(true);
  });

  it('a tick marks a lease suspect past half the ack wait unrenewed (not at exactly half)', () => {
    const { clock, leases, timing } = setup();
    leases.tick();
    const lease = leases.hold(new FakeDelivery(clock.t), () => {});
    // Ticks on time (the lease is what is old, not the tick); no renewal is confirmed.
    clock.t += leases.intervalMs;
    leases.tick();
    clock.t += timing.suspectAfterMs - leases.intervalMs;
    leases.tick();
    expect(lease.suspect).toBe(false);
    clock.t += 1;
    leases.tick();
    expect(lease.suspect).toBe(true);
  });

  it('a late tick (more than 1.5 intervals after the last) marks even a fresh lease suspect', () => {
    const { clock, leases } = setup();
    leases.tick();
    clock.t += Math.floor(1.5 * leases.intervalMs);
    const onTime = leases.hold(new FakeDelivery(clock.t), () => {});
    leases.tick();
    expect(onTime.suspect).toBe(false);
    clock.t += Math.ceil(1.5 * leases.intervalMs) + 1;
    const fresh = leases.hold(new FakeDelivery(clock.t, 2), () => {});
    leases.tick();
    expect(fresh.suspect).toBe(true);
  });

  it('start renews every lease each interval; stop ends that', () => {
    jest.useFakeTimers();
    const { clock, leases } = setup();
    const d = new FakeDelivery(clock.t);
    leases.hold(d, () => {});
    leases.start();
    jest.advanceTimersByTime(leases.intervalMs);
    expect(d.renewals).toHaveLength(1);
    jest.advanceTimersByTime(leases.intervalMs);
    expect(d.renewals).toHaveLength(2);
    leases.stop();
    jest.advanceTimersByTime(5 * leases.intervalMs);
    expect(d.renewals).toHaveLength(2);
    // Stopping twice is harmless.
    leases.stop();
  });
});

describe('admit at the bounds', () => {
  const timing = leaseTiming(5_000);
  it('runs below lostAfterMs, hands back from exactly it, releases from exactly settleWithinMs', () => {
    const base = { requestedAt: 0, receivedAt: 0, stall: null, timing, connected: true };
    expect(admit({ ...base, now: timing.lostAfterMs - 1 }).verdict).toBe('run');
    expect(admit({ ...base, now: timing.lostAfterMs }).verdict).toBe('nak');
    expect(admit({ ...base, now: timing.settleWithinMs - 1 }).verdict).toBe('nak');
    expect(admit({ ...base, now: timing.settleWithinMs }).verdict).toBe('release');
  });
});

describe('StallWatch bounds', () => {
  it('a gap of exactly the threshold is no stall; one millisecond more is', () => {
    const clock = { t: 0 };
    const w = new StallWatch({ now: () => clock.t, everyMs: 0, thresholdMs: 500 });
    clock.t = 500;
    w.tick();
    expect(w.overlapping(0, 500)).toBeNull();
    // The current gap, at exactly the threshold, is no stall either.
    expect(w.overlapping(600, 1_000)).toBeNull();
    clock.t = 1_001;
    w.tick();
    expect(w.overlapping(0, 1_001)).toEqual({ start: 500, end: 1_001 });
  });

  it('the current gap counts only for a request sent before the read', () => {
    const clock = { t: 0 };
    const w = new StallWatch({ now: () => clock.t, everyMs: 0 });
    clock.t = 2_000;
    expect(w.overlapping(1_000)).toEqual({ start: 0, end: 2_000 });
    expect(w.overlapping(2_000)).toBeNull();
    expect(w.overlapping(2_500)).toBeNull();
  });

  it('a stall that began after the read, or ended before the request, does not overlap', () => {
    const clock = { t: 0 };
    const w = new StallWatch({ now: () => clock.t, everyMs: 0 });
    for (; clock.t < 1_000; clock.t += 100) w.tick();
    w.tick();
    clock.t = 3_000;
    w.tick();
    // The stall: [1000, 3000].
    expect(w.overlapping(100, 1_000)).toBeNull();
    expect(w.overlapping(100, 1_001)).toEqual({ start: 1_000, end: 3_000 });
    expect(w.overlapping(3_000, 3_100)).toBeNull();
    expect(w.overlapping(2_999, 3_100)).toEqual({ start: 1_000, end: 3_000 });
  });

  it('remembers the last 16 stalls', () => {
    const clock = { t: 0 };
    const w = new StallWatch({ now: () => clock.t, everyMs: 0 });
    for (let i = 0; i < 16; i++) {
      clock.t += 1_000;
      w.tick();
    }
    expect(w.overlapping(0, 10)).toEqual({ start: 0, end: 1_000 });
    clock.t += 1_000;
    w.tick();
    expect(w.overlapping(0, 10)).toBeNull();
    expect(w.overlapping(1_000, 1_010)).toEqual({ start: 1_000, end: 2_000 });
  });

  it('ticks by its own timer every 100 ms by default, none with everyMs 0; stop ends it', () => {
    jest.useFakeTimers();
    const clock = { t: 0 };
    const w = new StallWatch({ now: () => clock.t });
    clock.t = 50;
    jest.advanceTimersByTime(99);
    expect(w.sinceLastTick()).toBe(50);
    jest.advanceTimersByTime(1);
    expect(w.sinceLastTick()).toBe(0);
    w.stop();
    clock.t = 80;
    jest.advanceTimersByTime(500);
    expect(w.sinceLastTick()).toBe(30);
    const manual = new StallWatch({ now: () => clock.t, everyMs: 0 });
    clock.t = 1_080;
    jest.advanceTimersByTime(500);
    expect(manual.sinceLastTick()).toBe(1_000);
    manual.stop();
  });
});
