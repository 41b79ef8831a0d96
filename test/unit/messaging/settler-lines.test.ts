/**
 * The Settler's side effects beyond the verbs: the log lines each outcome writes (with their
 * codes), the states recorded, the hooks called (duplicate, cancelled, a resumed park), the term
 * reason, and what it does when its after-settlement work fails. Against fakes on an injected
 * clock, as settler.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import type { MsgHdrs } from '@nats-io/nats-core';
import { AltlasError } from '../../../src/errors.ts';
import type { Last } from '../../../src/last/index.ts';
import { leaseTiming } from '../../../src/messaging/lease-timing.ts';
import { Leases } from '../../../src/messaging/leases.ts';
import { failureLast, type Outcome, type SettleRules } from '../../../src/messaging/settle.ts';
import { Settler, type SettleDelivery, type SettleRecord, type ReportedVerb as Verb } from '../../../src/messaging/settler.ts';
import type { Settlement } from '../../../src/status/recorder.ts';
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
  headers: MsgHdrs | undefined = undefined;
  readonly sent: string[] = [];
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
  ackAckAnswer = true;
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

function setup(o: { deliveries?: number; holdsRecords?: boolean; termWithReason?: boolean; stopping?: boolean; closeFails?: boolean; suspect?: boolean; publish?: 'ok' | 'fail'; failureLast?: 'fail'; dlq?: 'fail'; readTakesMs?: number; dlqTakesMs?: number; noRecord?: boolean; current?: 'throw' | 'hang'; ackAck?: boolean; duplicate?: boolean; lostAfterStart?: boolean; publishHangs?: boolean; publishTakesMs?: number } = {}) {
  const clock = { t: 1_000_000 };
  const leases = new Leases<FakeDelivery>({ timing: leaseTiming(5_000), connected: () => true, now: () => clock.t });
  const d = new FakeDelivery(clock.t, o.deliveries ?? 1);
  const lease = leases.hold(d, () => {}, undefined, o.suspect ?? false);
  const settlements: Settlement[] = [];
  const recorded: string[] = [];
  const after: Promise<void>[] = [];
  const reports: [Verb, Record<string, unknown> | undefined][] = [];
  const hooks: string[] = [];
  const published: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const stream = new PassThrough();
  stream.on('data', (c: Buffer) => c.toString().split('\n').filter(Boolean).forEach((l) => lines.push(JSON.parse(l) as Record<string, unknown>)));
  const log = contextLogger(createLogger({ level: 'debug', stream, pretty: false }), { alt_stream_seq: d.seq });
  const record: SettleRecord = {
    // The history's `.last stored` is the recorder's (tested through the worker).
    stored: () => {},
    flushCheckpoints: async () => void recorded.push('flush'),
    holdsRecords: async () => o.holdsRecords ?? false,
    current: async () => {
      recorded.push('current');
      clock.t += o.readTakesMs ?? 0;
      if (o.current === 'throw') throw new Error('no responders');
      if (o.current === 'hang') return new Promise<boolean>(() => {});
      return true;
    },
    settled: async (s) => {
      settlements.push(s);
      recorded.push(`settled ${s.state}`);
    },
    release: async () => void recorded.push('release'),
    close: async () => {
      recorded.push('close');
      if (o.closeFails) throw new Error('status bucket gone');
    },
  };
  const settler = new Settler<FakeDelivery>({
    rules: { ...RULES }, termWithReason: o.termWithReason,
    leases, stopping: () => o.stopping ?? false,
    park: () => {},
    after: (p) => void after.push(p),
    now: () => clock.t,
    onDuplicate: () => void hooks.push('duplicate'),
    onCancelled: (altId) => void hooks.push(`cancelled ${altId}`),
    parks: { finished: async (altId, seq) => void hooks.push(`park finished ${altId} ${seq}`) },
    publisher: {
      async last(last: Last) {
        if (o.publish === 'fail' && last.status !== 'failure') throw new Error('nats: timeout');
        if (o.publishHangs) return new Promise<never>(() => {});
        clock.t += o.publishTakesMs ?? 0;
        if (o.failureLast === 'fail' && last.status === 'failure') throw new Error('nats: timeout');
        published.push(`last ${last.status}`);
        return { duplicate: o.duplicate === true };
      },
      async deadLetter() {
        clock.t += o.dlqTakesMs ?? 0;
        if (o.dlq === 'fail') throw new Error('nats: no space');
        published.push('dlq');
      },
    },
  });
  // The lease's loss as the run learns it: at once after the settlement started, or never.
  const whenLost = () => (o.lostAfterStart ? new Promise<AltlasError>((resolve) => setImmediate(() => resolve(new AltlasError('LEASE_LOST', 'lost')))) : new Promise<AltlasError>(() => {}));
  const run = (aiCalls = 1, decoded = true) => ({ lease, record: o.noRecord ? undefined : record, log, aiCalls, whenLost: whenLost(), decoded, report: (verb: Verb, extra?: Record<string, unknown>) => void reports.push([verb, extra]) });
  const settle = async (outcome: Outcome, aiCalls?: number, decoded?: boolean) => {
    await settler.settle(outcome, run(aiCalls, decoded));
    await Promise.all(after);
    await new Promise((r) => setImmediate(r));
  };
  const messages = () => lines.map((l) => `${String(l.level)} ${String(l.message)}${l.code ? ` [${String(l.code)}]` : ''}`);
  return { clock, d, lease, settle, reports, recorded, settlements, hooks, lines, messages, published };
}

const job = makeJob([{ id: 't1' }]);
function lastOf(status: 'success' | 'failure' | 'partialsuccess', metadata: Record<string, unknown> = {}): Last {
  const base = failureLast({ data: new Uint8Array(), subject: 'alt.submit', stream: 'ALT', seq: 5, deliveries: 1 }, job.id, new AltlasError('TASK_FAILED', 'x'), 0);
  return { ...base, status, success_rate: status === 'success' ? 1 : 0, metadata: { deliveries: 1, ...metadata } } as Last;
}
const ran = (last = lastOf('success')): Outcome => ({ kind: 'ran', job, last });

describe('Settler: ran, its lines and records', () => {
  it('logs "job finished" with the status, and records the state the .last says', async () => {
    const s = setup();
    await s.settle(ran());
    expect(s.messages()).toEqual(['info job finished']);
    expect(s.lines[0]).toMatchObject({ status: 'success', success_rate: 1, tasks: 0 });
    expect(s.lines[0]).not.toHaveProperty('code');
    expect(s.settlements).toEqual([expect.objectContaining({ state: 'completed', lastStatus: 'success' })]);
    expect(s.settlements[0]).not.toHaveProperty('code');
    expect(s.reports).toEqual([['ack', { status: 'success' }]]);
    const failed = setup();
    await failed.settle(ran(lastOf('failure')));
    expect(failed.settlements[0]).toMatchObject({ state: 'failed', lastStatus: 'failure' });
  });

  it('a cancelled job: its code on the line and the report, the cancel hook called, recorded cancelled by an operator', async () => {
    const s = setup();
    await s.settle(ran(lastOf('partialsuccess', { error_code: 'JOB_CANCELLED', error: 'stop it' })));
    expect(s.hooks).toEqual(['cancelled job-1']);
    expect(s.messages()).toEqual(['info job finished [JOB_CANCELLED]']);
    expect(s.reports).toEqual([['ack', { status: 'partialsuccess', code: 'JOB_CANCELLED' }]]);
    expect(s.settlements[0]).toMatchObject({ state: 'cancelled', code: 'JOB_CANCELLED', message: 'cancelled by an operator' });
  });

  it('a job over its budget says why; another error code of the .last is not the job\'s code', async () => {
    const s = setup();
    await s.settle(ran(lastOf('partialsuccess', { error_code: 'BUDGET_EXCEEDED', error: 'spent 2 of 1' })));
    expect(s.hooks).toEqual([]);
    expect(s.settlements[0]).toMatchObject({ state: 'completed', code: 'BUDGET_EXCEEDED', message: 'spent 2 of 1' });
    const noWhy = setup();
    await noWhy.settle(ran(lastOf('partialsuccess', { error_code: 'BUDGET_EXCEEDED' })));
    expect(noWhy.settlements[0]).toMatchObject({ code: 'BUDGET_EXCEEDED', message: 'BUDGET_EXCEEDED' });
    const other = setup();
    await other.settle(ran(lastOf('failure', { error_code: 'TASK_FAILED' })));
    expect(other.settlements[0]).not.toHaveProperty('code');
    expect(other.reports).toEqual([['ack', { status: 'failure' }]]);
  });

  it('a resumed parked job that ended has its park removed; another job does not', async () => {
    const s = setup();
    s.d.headers = { get: (k: string) => (k === 'Altlas-Resume' ? 'ALT:3' : '') } as MsgHdrs;
    await s.settle(ran());
    expect(s.hooks).toEqual(['park finished job-1 5']);
    const plain = setup();
    plain.d.headers = { get: () => '' } as unknown as MsgHdrs;
    await plain.settle(ran());
    expect(plain.hooks).toEqual([]);
  });

  it('a redelivery (or a suspect lease) checks the claim before publishing; a first delivery holding its lease does not', async () => {
    const first = setup();
    await first.settle(ran());
    expect(first.recorded).not.toContain('current');
    const suspect = setup({ suspect: true });
    await suspect.settle(ran());
    expect(suspect.recorded[0]).toBe('current');
    const again = setup({ deliveries: 2 });
    await again.settle(ran());
    expect(again.recorded[0]).toBe('current');
  });

  it('the lease lost during the claim read: nothing is published, nothing sent', async () => {
    const s = setup({ deliveries: 2, readTakesMs: 4_000 });
    await s.settle(ran());
    expect(s.published).toEqual([]);
    expect(s.d.sent).toEqual([]);
    expect(s.reports).toEqual([['abandon', { code: 'LEASE_LOST' }]]);
  });
});

describe('Settler: lines of the other outcomes', () => {
  it('a hand-back is a warning, a shutdown\'s an info line, each with its code and delay', async () => {
    const s = setup();
    await s.settle({ kind: 'handback', error: new AltlasError('AI_UNAVAILABLE', 'down'), delayMs: 400, job });
    expect(s.messages()).toEqual(['warn job handed back to JetStream [AI_UNAVAILABLE]']);
    expect(s.lines[0]).toMatchObject({ delay_ms: 400, error: 'down' });
    expect(s.settlements).toEqual([{ state: 'retrying', code: 'AI_UNAVAILABLE', message: 'down', altId: 'job-1' }]);
    const stop = setup();
    await stop.settle({ kind: 'handback', error: new AltlasError('JOB_ABORTED', 'shutdown'), delayMs: 0, job });
    expect(stop.messages()).toEqual(['info job handed back to JetStream [JOB_ABORTED]']);
  });

  it('a message done before: a warning, reported as an ack with DONE_BEFORE', async () => {
    const s = setup();
    await s.settle({ kind: 'done_before', job });
    expect(s.messages()).toEqual(['warn the .last of this message is stored already (the earlier ack was lost): acked without running again']);
    expect(s.reports).toEqual([['ack', { code: 'DONE_BEFORE' }]]);
  });

  it('a parked job: acked, a line naming its task, recorded waiting with the question', async () => {
    const s = setup();
    await s.settle({ kind: 'parked', job, task: 'approve', question: 'ship it?' });
    expect(s.d.sent).toEqual(['ackAck']);
    expect(s.messages()).toEqual(['info job parked: waiting for a person [JOB_PARKED]']);
    expect(s.lines[0]).toMatchObject({ task_id: 'approve' });
    expect(s.reports).toEqual([['ack', { code: 'JOB_PARKED' }]]);
    expect(s.settlements).toEqual([{ state: 'waiting', code: 'JOB_PARKED', message: 'task approve waits for a person: ship it?', altId: 'job-1' }]);
    expect(s.recorded).toEqual(['settled waiting', 'close']);
    const late = setup();
    late.clock.t += 4_600;
    await late.settle({ kind: 'parked', job, task: 'approve', question: 'q' });
    expect(late.d.sent).toEqual([]);
    expect(late.reports).toEqual([['abandon', { code: 'LEASE_LOST' }]]);
  });

  it('an abandoned run: a hand-back line before any AI call, else the abandon line', async () => {
    const lost = new AltlasError('LEASE_LOST', 'lost');
    const before = setup();
    before.clock.t += 4_100;
    await before.settle({ kind: 'abandoned', error: lost, job }, 0);
    expect(before.messages()).toEqual(['warn lease lost before any AI call: the job is handed back to JetStream [LEASE_LOST]']);
    const after = setup();
    await after.settle({ kind: 'abandoned', error: lost, job }, 1);
    expect(after.messages()).toEqual(['warn run abandoned: the message belongs to a newer delivery; nothing was published [LEASE_LOST]']);
    expect(after.reports).toEqual([['abandon', { code: 'LEASE_LOST' }]]);
    const stopping = setup({ stopping: true });
    stopping.clock.t += 4_100;
    await stopping.settle({ kind: 'abandoned', error: lost, job }, 0);
    expect(stopping.d.sent).toEqual([]);
  });

  it('a verb the lease no longer allows: the line says what was not sent and for how long the lease went unrenewed', async () => {
    const s = setup();
    s.clock.t += 4_700;
    await s.settle({ kind: 'done_before', job });
    expect(s.messages()).toEqual(['warn the lease ran out before the ack could be sent: nothing is sent on the message; JetStream hands it to a new delivery [LEASE_LOST]']);
    expect(s.lines[0]).toMatchObject({ unrenewed_ms: 4_700 });
    expect(s.recorded).toEqual(['close']);
  });

  it('after-settlement work that fails is logged, not thrown', async () => {
    const s = setup({ closeFails: true });
    await s.settle(ran());
    expect(s.messages()).toContain('warn after-settlement work failed');
    expect(s.lines.find((l) => l.message === 'after-settlement work failed')).toMatchObject({ error: 'status bucket gone' });
  });
});

describe('Settler: rejected, its lines', () => {
  const rejected = (message = 'bad input', problems = 0): Outcome => {
    const error = new AltlasError('ALT_SCHEMA', message, { problems: Array.from({ length: problems }, (_, i) => ({ pointer: `/p${i}`, message: `m${i}` })) });
    return { kind: 'rejected', error, altId: 'job-9', job: null, last: failureLast({ data: new Uint8Array(), subject: 'alt.submit', stream: 'ALT', seq: 5, deliveries: 1 }, 'job-9', error, 0) };
  };

  it('logs the rejection with its first 20 problems and their count, under the job id when it did not decode', async () => {
    const s = setup();
    await s.settle(rejected('bad input', 25), 0, false);
    const line = s.lines.find((l) => l.message === 'job rejected');
    expect(line).toMatchObject({ level: 'error', code: 'ALT_SCHEMA', error: 'bad input', problems_total: 25, alt_id: 'job-9' });
    expect(line?.problems).toHaveLength(20);
    expect(s.reports).toEqual([['reject', { code: 'ALT_SCHEMA' }]]);
    expect(s.settlements).toEqual([{ state: 'failed', lastStatus: 'failure', code: 'ALT_SCHEMA', message: 'bad input', altId: 'job-9' }]);
    const decoded = setup();
    await decoded.settle(rejected(), 0, true);
    expect(decoded.lines.find((l) => l.message === 'job rejected')).not.toHaveProperty('alt_id');
  });

  it('a term reason is one header line of at most 200 characters, redacted', async () => {
    const s = setup({ termWithReason: true });
    await s.settle(rejected(`line one\nkey sk-abcdefghijklmnopqrstuvwxyz0123456789 ${'x'.repeat(300)}`));
    const term = s.d.sent[0];
    expect(term.startsWith('term ALT_SCHEMA: line one key ')).toBe(true);
    expect(term).not.toContain('sk-abcdefghijklmnopqrstuvwxyz0123456789');
    expect(term.length).toBe('term ALT_SCHEMA: '.length + 200);
  });

  it('without a failure .last: only the DLQ copy, recorded with no .last status', async () => {
    const s = setup();
    const error = new AltlasError('ALT_SCHEMA', 'no id');
    await s.settle({ kind: 'rejected', error, altId: null, job: null, last: null });
    expect(s.published).toEqual(['dlq']);
    expect(s.d.sent).toEqual(['term']);
    expect(s.settlements).toEqual([{ state: 'failed', lastStatus: null, code: 'ALT_SCHEMA', message: 'no id', altId: null }]);
  });

  it('a .last that cannot be stored is handed back under its code', async () => {
    const s = setup({ publish: 'fail' });
    await s.settle(ran());
    expect(s.messages()).toEqual(['warn job handed back to JetStream [LAST_PUBLISH_FAILED]']);
  });

  it('a DLQ copy that cannot be written: an error line, then the hand-back', async () => {
    const s = setup({ dlq: 'fail' });
    await s.settle(rejected());
    expect(s.messages()).toEqual(['error could not write the DLQ copy; the message will be redelivered [ALT_SCHEMA]']);
    expect(s.lines[0]).toMatchObject({ error: 'nats: no space' });
    expect(s.d.sent).toEqual(['nak 100']);
  });

  it('a failure .last that cannot be stored: handed back while deliveries are left, else an error line and the DLQ copy', async () => {
    const s = setup({ failureLast: 'fail' });
    await s.settle(rejected());
    expect(s.messages()).toEqual(['error the failure .last could not be stored; the message will be redelivered [ALT_SCHEMA]']);
    const last = setup({ failureLast: 'fail', deliveries: 3 });
    await last.settle(rejected());
    expect(last.messages()[0]).toBe('error the failure .last could not be stored; the DLQ copy is written anyway [ALT_SCHEMA]');
    expect(last.published).toEqual(['dlq']);
  });

  it('a rejection the lease no longer allows: nothing written, a line naming the code it would have had', async () => {
    const s = setup();
    s.clock.t += 4_000;
    await s.settle(rejected());
    expect(s.published).toEqual([]);
    expect(s.messages()).toEqual(['warn the lease ran out before the job could be rejected: nothing is sent on the message; JetStream hands it to a new delivery [LEASE_LOST]']);
    expect(s.lines[0]).toMatchObject({ rejected_code: 'ALT_SCHEMA' });
    expect(s.reports).toEqual([['abandon', { code: 'LEASE_LOST' }]]);
    expect(s.recorded).toEqual(['close']);
  });

  it('a DLQ copy written as the lease ran out: no term, the lease line', async () => {
    const s = setup({ dlqTakesMs: 4_600 });
    await s.settle(rejected());
    expect(s.published).toEqual(['last failure', 'dlq']);
    expect(s.d.sent).toEqual([]);
    expect(s.reports).toEqual([['abandon', { code: 'LEASE_LOST' }]]);
  });

  it('a hand-back after a failed write the lease no longer allows: nothing sent', async () => {
    const s = setup({ dlq: 'fail', dlqTakesMs: 4_600 });
    await s.settle(rejected());
    expect(s.d.sent).toEqual([]);
    expect(s.reports).toEqual([['abandon', { code: 'LEASE_LOST' }]]);
  });
});

describe('Settler: the errors it words', () => {
  it('fail closed: the line says the claim could not be confirmed, and why', async () => {
    const s = setup({ deliveries: 2, current: 'throw' });
    await s.settle(ran());
    const line = s.lines.find((l) => l.message === 'the claim could not be confirmed; nothing is published and the message is handed back');
    expect(line).toMatchObject({ code: 'CHECKPOINTS_UNAVAILABLE', error: 'could not confirm the claim of message 5 before publishing: no responders' });
    expect(s.settlements[0]).toMatchObject({ state: 'retrying', code: 'CHECKPOINTS_UNAVAILABLE', altId: 'job-1' });
  });

  it('a .last that cannot be stored: the hand-back says why', async () => {
    const s = setup({ publish: 'fail' });
    await s.settle(ran());
    expect(s.lines[0]).toMatchObject({ code: 'LAST_PUBLISH_FAILED', error: 'could not store the .last: nats: timeout' });
  });

  it('a newer claim: the abandon line says a newer delivery claimed the message', async () => {
    const s = setup({ deliveries: 2, readTakesMs: 4_000 });
    await s.settle(ran());
    expect(s.lines[0]).toMatchObject({ code: 'LEASE_LOST', error: 'a newer delivery claimed the message before the .last was published' });
  });

  it('a duplicate .last and an unconfirmed ack are said in their own words', async () => {
    const dup = setup({ duplicate: true });
    await dup.settle(ran());
    expect(dup.messages()).toContain('warn the LAST stream already held this .last (a second run of one message) [DUPLICATE_LAST]');
    expect(dup.hooks).toEqual(['duplicate']);
    const unconfirmed = setup({ holdsRecords: true });
    unconfirmed.d.ackAckAnswer = false;
    await unconfirmed.settle(ran());
    expect(unconfirmed.messages()).toContain('warn the ack was not confirmed; checkpoints are kept until they expire [ACK_UNCONFIRMED]');
    const confirmed = setup({ holdsRecords: true });
    await confirmed.settle(ran());
    expect(confirmed.messages()).not.toContain('warn the ack was not confirmed; checkpoints are kept until they expire [ACK_UNCONFIRMED]');
    expect(confirmed.recorded).toContain('release');
  });
});

describe('Settler: a run without records', () => {
  it('settles every outcome the same, with nothing recorded', async () => {
    const lost = new AltlasError('LEASE_LOST', 'lost');
    const outcomes: [Outcome, string[]][] = [
      [ran(), ['ack']],
      [{ kind: 'handback', error: new AltlasError('AI_UNAVAILABLE', 'down'), delayMs: 400, job }, ['nak 400']],
      [{ kind: 'done_before', job }, ['ackAck']],
      [{ kind: 'parked', job, task: 'a', question: 'q' }, ['ackAck']],
      [{ kind: 'abandoned', error: lost, job }, []],
      [{ kind: 'rejected', error: new AltlasError('ALT_SCHEMA', 'bad'), altId: 'job-1', job: null, last: null }, ['term']],
    ];
    for (const [outcome, verbs] of outcomes) {
      const s = setup({ noRecord: true });
      await s.settle(outcome);
      expect({ kind: outcome.kind, sent: s.d.sent, recorded: s.recorded, failed: s.messages().filter((m) => m.includes('after-settlement work failed')) }).toEqual({ kind: outcome.kind, sent: verbs, recorded: [], failed: [] });
    }
    const late = setup({ noRecord: true });
    late.clock.t += 4_700;
    await late.settle({ kind: 'done_before', job });
    expect(late.messages().filter((m) => m.includes('after-settlement work failed'))).toEqual([]);
    const redelivered = setup({ noRecord: true, deliveries: 2, publish: 'fail' });
    await redelivered.settle(ran());
    expect(redelivered.d.sent).toEqual(['nak 200']);
  });
});

describe('Settler: the lease lost while it waits', () => {
  it('lost while the claim is being read: nothing is published, nothing sent, even before any AI call', async () => {
    const s = setup({ deliveries: 2, current: 'hang', lostAfterStart: true });
    await s.settle(ran(), 0);
    expect(s.published).toEqual([]);
    expect(s.d.sent).toEqual([]);
    expect(s.reports).toEqual([['abandon', { code: 'LEASE_LOST' }]]);
  });

  it('lost while the .last is on its way: no verb afterwards, even for a run that made no AI call', async () => {
    const s = setup({ publishHangs: true, lostAfterStart: true });
    await s.settle(ran(), 0);
    expect(s.d.sent).toEqual([]);
    expect(s.reports).toEqual([['abandon', { code: 'LEASE_LOST' }]]);
  });
});

describe('Settler: after the .last is stored', () => {
  it('a lease that ran out while the .last was stored gets no ack (its redelivery finds the .last)', async () => {
    const s = setup({ publishTakesMs: 4_600 });
    await s.settle(ran());
    expect(s.published).toEqual(['last success']);
    expect(s.d.sent).toEqual([]);
    expect(s.reports).toEqual([['abandon', { code: 'LEASE_LOST' }]]);
  });

  it('a message done before keeps its records when the ack is not confirmed', async () => {
    const s = setup({ deliveries: 2 });
    s.d.ackAckAnswer = false;
    await s.settle({ kind: 'done_before', job });
    expect(s.d.sent).toEqual(['ackAck']);
    expect(s.recorded).toEqual(['close']);
  });
});

