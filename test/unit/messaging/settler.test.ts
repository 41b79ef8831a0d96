/**
 * The Settler alone, against a fake delivery, publisher and record, with leases on an injected
 * clock: each outcome kind, and each I/O failure while settling, end in the verbs the fate table
 * says, and nothing is sent once the lease is lost.
 */
import { describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import { AltlasError } from '../../../src/errors.ts';
import type { Last } from '../../../src/last/index.ts';
import { leaseTiming } from '../../../src/messaging/lease-timing.ts';
import { Leases } from '../../../src/messaging/leases.ts';
import { failureLast, type Outcome, type SettleRules } from '../../../src/messaging/settle.ts';
import { Settler, type SettleDelivery, type SettleRecord, type ReportedVerb as Verb } from '../../../src/messaging/settler.ts';
import { contextLogger, createLogger } from '../../../src/telemetry/logger.ts';
import { makeJob } from '../../helpers/engine.ts';

const RULES: SettleRules = { maxDeliver: 3, nakDelayMs: 100, nakMaxDelayMs: 1_000 };

class FakeDelivery implements SettleDelivery {
  readonly data = new TextEncoder().encode('{"id":"job-1"}');
  readonly subject = 'alt.submit';
  readonly stream = 'ALT';
  readonly seq = 5;
  readonly deliveries: number;
  readonly receivedAt: number;
  readonly headers = undefined;
  readonly sent: string[] = [];
  ackAckAnswer = true;
  constructor(receivedAt: number, deliveries = 1) {
    this.receivedAt = receivedAt;
    this.deliveries = deliveries;
  }
  renew(): Promise<boolean> {
    return Promise.resolve(true);
  }
  ack(): void {
    this.sent.push('ack');
  }
  async ackAck(): Promise<boolean> {
    this.sent.push('ackAck');
    return this.ackAckAnswer;
  }
  nak(delayMs = 0): void {
    this.sent.push(`nak ${delayMs}`);
  }
  term(reason?: string): void {
    this.sent.push(reason ? `term ${reason}` : 'term');
  }
}

type PublishMode = 'ok' | 'duplicate' | 'fail' | 'too_large' | 'hang';

function setup(o: { deliveries?: number; publish?: PublishMode; dlq?: 'ok' | 'fail'; failureLast?: 'ok' | 'fail'; current?: boolean | 'throw'; holdsRecords?: boolean; stopping?: boolean; termWithReason?: boolean; flush?: 'hang' | 'slow' } = {}) {
  const clock = { t: 1_000_000 };
  const leases = new Leases<FakeDelivery>({ timing: leaseTiming(5_000), connected: () => true, now: () => clock.t });
  const d = new FakeDelivery(clock.t, o.deliveries ?? 1);
  const abort = new AbortController();
  const lease = leases.hold(d, () => abort.abort(new AltlasError('LEASE_LOST', 'lost')));
  const whenLost = new Promise<AltlasError>((resolve) => abort.signal.addEventListener('abort', () => resolve(abort.signal.reason as AltlasError)));
  const published: { kind: 'last' | 'dlq'; status?: string; code?: string }[] = [];
  const recorded: string[] = [];
  const parked: [number, number][] = [];
  const after: Promise<void>[] = [];
  const reports: [Verb, string | undefined][] = [];
  const lines: Record<string, unknown>[] = [];
  const stream = new PassThrough();
  stream.on('data', (c: Buffer) => c.toString().split('\n').filter(Boolean).forEach((l) => lines.push(JSON.parse(l) as Record<string, unknown>)));
  const log = contextLogger(createLogger({ level: 'debug', stream, pretty: false }), { alt_stream_seq: d.seq });
  const record: SettleRecord = {
    // The history's `.last stored` is the recorder's (tested through the worker).
    stored: () => {},
    flushCheckpoints: async () => {
      recorded.push('flush');
      if (o.flush === 'hang') await new Promise(() => {});
      // A store that answers only as the lease runs out.
      if (o.flush === 'slow') clock.t += 4_600;
    },
    holdsRecords: async () => o.holdsRecords ?? false,
    current: async () => {
      recorded.push('current');
      if (o.current === 'throw') throw new Error('no responders available for request');
      return o.current ?? true;
    },
    settled: async (s) => void recorded.push(`settled ${s.state}`),
    release: async () => void recorded.push('release'),
    close: async () => void recorded.push('close'),
  };
  const settler = new Settler<FakeDelivery>({
    rules: { ...RULES }, termWithReason: o.termWithReason,
    leases, stopping: () => o.stopping ?? false,
    park: (pd, delayMs, renewedAt) => void parked.push([delayMs, renewedAt - pd.receivedAt]),
    after: (p) => void after.push(p),
    now: () => clock.t,
    publisher: {
      async last(last: Last) {
        const failure = last.status === 'failure';
        if (failure && o.failureLast === 'fail') throw new Error('nats: timeout');
        if (!failure) {
          if (o.publish === 'fail') throw new Error('nats: timeout');
          if (o.publish === 'too_large') throw new AltlasError('LAST_TOO_LARGE', 'the .last is 9 MB');
          if (o.publish === 'hang') return new Promise(() => {});
        }
        published.push({ kind: 'last', status: last.status, code: last.metadata.error_code as string | undefined });
        return { duplicate: o.publish === 'duplicate' };
      },
      async deadLetter(_data, _h, _d, error) {
        if (o.dlq === 'fail') throw new Error('nats: timeout');
        published.push({ kind: 'dlq', code: error.code });
      },
    },
  });
  const run = (aiCalls = 1) => ({ lease, record, log, aiCalls, whenLost, decoded: true, report: (verb: Verb, extra?: { code?: string }) => void reports.push([verb, extra?.code]) });
  const settle = async (outcome: Outcome, aiCalls?: number) => {
    await settler.settle(outcome, run(aiCalls));
    await Promise.all(after);
  };
  return { clock, leases, lease, d, settler, settle, run, published, recorded, parked, reports, lines, abort };
}

const job = makeJob([{ id: 't1' }]);
function ranLast(): Last {
  const base = failureLast({ data: new Uint8Array(), subject: 'alt.submit', stream: 'ALT', seq: 5, deliveries: 1 }, job.id, new AltlasError('TASK_FAILED', 'x'), 0);
  return { ...base, status: 'success', success_rate: 1, metadata: { deliveries: 1 } } as Last;
}
const ran = (): Outcome => ({ kind: 'ran', job, last: ranLast() });
const transient = new AltlasError('AI_UNAVAILABLE', 'the AI side is down');

describe('Settler: ran', () => {
  it('publishes the .last, then acks (a plain ack when no records are to be removed)', async () => {
    const s = setup();
    await s.settle(ran());
    expect(s.published).toEqual([{ kind: 'last', status: 'success', code: undefined }]);
    expect(s.d.sent).toEqual(['ack']);
    expect(s.reports).toEqual([['ack', undefined]]);
    expect(s.recorded).toEqual(['settled completed', 'close']);
  });

  it('acks with a confirmation and removes the records after it when the message holds records', async () => {
    const s = setup({ holdsRecords: true, deliveries: 2 });
    await s.settle(ran());
    expect(s.d.sent).toEqual(['ackAck']);
    expect(s.recorded).toEqual(['current', 'settled completed', 'release', 'close']);
  });

  it('keeps the records when the ack is not confirmed', async () => {
    const s = setup({ holdsRecords: true });
    s.d.ackAckAnswer = false;
    await s.settle(ran());
    expect(s.recorded).toEqual(['settled completed', 'close']);
    expect(s.lines.map((l) => l.code)).toContain('ACK_UNCONFIRMED');
  });

  it('reports a duplicate .last and still acks', async () => {
    const s = setup({ publish: 'duplicate' });
    await s.settle(ran());
    expect(s.lines.filter((l) => l.code === 'DUPLICATE_LAST')).toHaveLength(1);
    expect(s.d.sent).toEqual(['ack']);
  });

  it('publishes nothing and sends nothing when a newer delivery holds the claim', async () => {
    const s = setup({ deliveries: 2, current: false });
    await s.settle(ran(), 0);
    expect(s.published).toEqual([]);
    expect(s.d.sent).toEqual([]);
    expect(s.reports).toEqual([['abandon', 'LEASE_LOST']]);
  });

  it('fails closed: a claim that cannot be read publishes nothing and hands back with the table\'s delay', async () => {
    const s = setup({ deliveries: 2, current: 'throw' });
    await s.settle(ran());
    expect(s.published).toEqual([]);
    expect(s.d.sent).toEqual(['nak 200']);
    expect(s.reports).toEqual([['nak', 'CHECKPOINTS_UNAVAILABLE']]);
  });

  it('on the last delivery, an unreadable claim rejects as the table says: failure .last, DLQ, term', async () => {
    const s = setup({ deliveries: 3, current: 'throw' });
    await s.settle(ran());
    expect(s.published).toEqual([{ kind: 'last', status: 'failure', code: 'CHECKPOINTS_UNAVAILABLE' }, { kind: 'dlq', code: 'CHECKPOINTS_UNAVAILABLE' }]);
    expect(s.d.sent).toEqual(['term']);
  });

  it('publishes nothing once the lease is lost (the clock jumped past it)', async () => {
    const s = setup();
    s.clock.t += 4_000;
    await s.settle(ran());
    expect(s.published).toEqual([]);
    expect(s.d.sent).toEqual([]);
    expect(s.reports).toEqual([['abandon', 'LEASE_LOST']]);
  });

  it('sends no ack when the lease is lost while the .last is on its way', async () => {
    const s = setup({ publish: 'hang' });
    const done = s.settler.settle(ran(), s.run());
    s.clock.t += 4_000;
    expect(s.leases.valid(s.lease)).toBe(false);
    await done;
    expect(s.d.sent).toEqual([]);
    expect(s.reports).toEqual([['abandon', 'LEASE_LOST']]);
  });

  it('a failed publish goes through the fate table: a nak with deliveries left, failure .last + DLQ + term on the last', async () => {
    const s = setup({ publish: 'fail' });
    await s.settle(ran());
    expect(s.d.sent).toEqual(['nak 100']);
    expect(s.reports).toEqual([['nak', 'LAST_PUBLISH_FAILED']]);
    const last = setup({ publish: 'fail', deliveries: 3 });
    await last.settle(ran());
    expect(last.published).toEqual([{ kind: 'last', status: 'failure', code: 'LAST_PUBLISH_FAILED' }, { kind: 'dlq', code: 'LAST_PUBLISH_FAILED' }]);
    expect(last.d.sent).toEqual(['term']);
  });

  it('a .last too large for the server is rejected at once: a small failure .last, DLQ, term', async () => {
    const s = setup({ publish: 'too_large' });
    await s.settle(ran());
    expect(s.published).toEqual([{ kind: 'last', status: 'failure', code: 'LAST_TOO_LARGE' }, { kind: 'dlq', code: 'LAST_TOO_LARGE' }]);
    expect(s.d.sent).toEqual(['term']);
  });
});

describe('Settler: handback, done_before, abandoned', () => {
  it('hands back with the delay given, after writing the pending checkpoints', async () => {
    const s = setup();
    await s.settle({ kind: 'handback', error: transient, delayMs: 400, job });
    expect(s.recorded).toEqual(['flush', 'settled retrying', 'close']);
    expect(s.d.sent).toEqual(['nak 400']);
  });

  it('parks a hand-back while the worker shuts down, with the lease as renewed', async () => {
    const s = setup({ stopping: true });
    await s.settle({ kind: 'handback', error: new AltlasError('JOB_ABORTED', 'shutdown'), delayMs: 0, job });
    expect(s.d.sent).toEqual([]);
    expect(s.parked).toEqual([[0, 0]]);
  });

  it('sends no hand-back once the server\'s lease may have run out', async () => {
    const s = setup();
    s.clock.t += 4_600;
    await s.settle({ kind: 'handback', error: transient, delayMs: 400, job });
    expect(s.d.sent).toEqual([]);
    expect(s.reports).toEqual([['abandon', 'LEASE_LOST']]);
  });

  it('ends a hand-back whose lease ran out already at once, its checkpoints written after it (a store that does not answer holds nothing)', async () => {
    const s = setup({ flush: 'hang' });
    s.clock.t += 4_600;
    let ended = false;
    void s.settler.settle({ kind: 'handback', error: transient, delayMs: 400, job }, s.run()).then(() => {
      ended = true;
    });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(ended).toBe(true);
    expect(s.d.sent).toEqual([]);
    expect(s.reports).toEqual([['abandon', 'LEASE_LOST']]);
    // The checkpoints of the completed tasks are still written, for the next delivery.
    expect(s.recorded).toEqual(['flush']);
  });

  it('sends no hand-back when the lease ran out while the checkpoints were written', async () => {
    const s = setup({ flush: 'slow' });
    await s.settle({ kind: 'handback', error: transient, delayMs: 400, job });
    expect(s.d.sent).toEqual([]);
    expect(s.reports).toEqual([['abandon', 'LEASE_LOST']]);
    expect(s.lines.map((l) => l.message)).toContain('the lease ran out before the hand-back could be sent: nothing is sent on the message; JetStream hands it to a new delivery');
  });

  it('acks a message whose parked job an earlier delivery resumed, keeping its records (the resumed run\'s)', async () => {
    const s = setup({ deliveries: 2 });
    await s.settle({ kind: 'done_before', job, heldBy: 9 });
    expect(s.d.sent).toEqual(['ackAck']);
    expect(s.recorded).toEqual(['close']);
    expect(s.lines.find((l) => l.resumed_by === 9)?.message).toMatch(/^an earlier delivery of this message parked the job and its resume holds it now/);
  });

  it('acks a message whose .last is stored already and removes its records once confirmed', async () => {
    const s = setup({ deliveries: 2 });
    await s.settle({ kind: 'done_before', job });
    expect(s.d.sent).toEqual(['ackAck']);
    expect(s.recorded).toEqual(['release', 'close']);
  });

  it('hands back a run that lost its lease before any AI call while the server\'s lease runs; sends nothing after a call, or for a newer claim', async () => {
    const lost = new AltlasError('LEASE_LOST', 'lost');
    const before = setup();
    before.clock.t += 4_100;
    expect(before.leases.valid(before.lease)).toBe(false);
    await before.settle({ kind: 'abandoned', error: lost, job }, 0);
    expect(before.d.sent).toEqual(['nak 0']);
    expect(before.reports).toEqual([['nak', 'LEASE_LOST']]);
    const late = setup();
    late.clock.t += 4_600;
    await late.settle({ kind: 'abandoned', error: lost, job }, 0);
    expect(late.d.sent).toEqual([]);
    const called = setup();
    await called.settle({ kind: 'abandoned', error: lost, job }, 2);
    expect(called.d.sent).toEqual([]);
    expect(called.recorded).toEqual(['flush', 'close']);
    const newer = setup();
    await newer.settle({ kind: 'abandoned', error: lost, job, newer: true }, 0);
    expect(newer.d.sent).toEqual([]);
    expect(newer.recorded).toEqual(['close']);
  });
});

describe('Settler: rejected', () => {
  const rejected = (): Outcome => {
    const error = new AltlasError('ALT_SCHEMA', 'bad input');
    return { kind: 'rejected', error, altId: 'job-1', job: null, last: failureLast({ data: new Uint8Array(), subject: 'alt.submit', stream: 'ALT', seq: 5, deliveries: 1 }, 'job-1', error, 0) };
  };

  it('stores the failure .last, the DLQ copy, then terms (with the reason when the server takes one)', async () => {
    const s = setup({ termWithReason: true });
    await s.settle(rejected());
    expect(s.published).toEqual([{ kind: 'last', status: 'failure', code: 'ALT_SCHEMA' }, { kind: 'dlq', code: 'ALT_SCHEMA' }]);
    expect(s.d.sent).toEqual(['term ALT_SCHEMA: bad input']);
    expect(s.recorded).toEqual(['settled failed', 'release', 'close']);
  });

  it('hands back when the DLQ copy cannot be written', async () => {
    const s = setup({ dlq: 'fail' });
    await s.settle(rejected());
    expect(s.d.sent).toEqual(['nak 100']);
    expect(s.reports).toEqual([['nak', 'ALT_SCHEMA']]);
  });

  it('hands back when the failure .last cannot be stored, but writes the DLQ copy anyway on the last delivery', async () => {
    const s = setup({ failureLast: 'fail' });
    await s.settle(rejected());
    expect(s.published).toEqual([]);
    expect(s.d.sent).toEqual(['nak 100']);
    const last = setup({ failureLast: 'fail', deliveries: 3 });
    await last.settle(rejected());
    expect(last.published).toEqual([{ kind: 'dlq', code: 'ALT_SCHEMA' }]);
    expect(last.d.sent).toEqual(['term']);
  });

  it('writes and sends nothing once the lease is lost', async () => {
    const s = setup();
    s.clock.t += 4_000;
    await s.settle(rejected());
    expect(s.published).toEqual([]);
    expect(s.d.sent).toEqual([]);
  });
});

describe('Settler: parked', () => {
  it('acks a job waiting for its tenant\'s budget even on its last delivery (no delivery spent on the wait), and records it waiting with BUDGET_WAIT', async () => {
    const s = setup({ deliveries: RULES.maxDeliver });
    const resumeAt = Date.UTC(2026, 11, 8);
    await s.settle({ kind: 'parked', job, task: 't1', question: 'tenant acme is over a period\'s budget: the job waits, parked, until 2026-12-08T00:00:00.000Z', code: 'BUDGET_WAIT', resumeAt });
    expect(s.d.sent).toEqual(['ackAck']);
    expect(s.published).toEqual([]);
    expect(s.reports).toEqual([['ack', 'BUDGET_WAIT']]);
    expect(s.recorded).toEqual(['settled waiting', 'close']);
    expect(s.lines.find((l) => l.message === 'job parked: waiting for its tenant\'s budget period to turn')).toMatchObject({ code: 'BUDGET_WAIT', resume_at: '2026-12-08T00:00:00.000Z', task_id: 't1' });
  });

  it('acks a job at an approval task as JOB_PARKED', async () => {
    const s = setup();
    await s.settle({ kind: 'parked', job, task: 't1', question: 'ok?' });
    expect(s.d.sent).toEqual(['ackAck']);
    expect(s.reports).toEqual([['ack', 'JOB_PARKED']]);
    expect(s.lines.find((l) => l.message === 'job parked: waiting for a person')).toMatchObject({ code: 'JOB_PARKED', task_id: 't1' });
  });
});
