/** The counts of `npm run chaos` on small synthetic inputs: runs from log lines, overlaps, calls after the `.last`, re-paid answers. */
import { describe, expect, it } from '@jest/globals';
import { callsAfterLast, deliveriesPerMessage, overlappingRuns, repaidCalls, runsFromLines, unexplainedRedeliveries, type Call, type Run } from '../../../src/devtools/chaos-count.ts';

const T = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T + ms).toISOString();
const line = (message: string, ms: number, seq: number, deliveries: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ level: 'info', message, alt_stream_seq: seq, deliveries, ...extra, timestamp: at(ms) });
const run = (worker: string, seq: number, start: number, end: number, deliveries = 1): Run => ({ worker, seq, deliveries, start: T + start, end: T + end, outcome: 'ack', altId: null });

const call = (worker: string, job: string, prompt: string, start: number, end: number | null, status: number | null = 200): Call => ({ worker, job, prompt, start: T + start, end: end === null ? null : T + end, status });

describe('runsFromLines', () => {
  it('pairs each run started line with the run ended line of its sequence and delivery, skipping other lines', () => {
    const runs = runsFromLines('w0', [
      'not json',
      line('run started', 0, 7, 1),
      line('job finished', 5, 7, 1),
      line('run started', 10, 8, 2),
      line('run ended', 20, 7, 1, { alt_id: 'j7', outcome: 'ack' }),
      line('run ended', 30, 8, 2, { alt_id: 'j8', outcome: 'abandon' }),
    ], T + 1_000);
    expect(runs).toEqual([
      { worker: 'w0', seq: 7, deliveries: 1, start: T, end: T + 20, outcome: 'ack', altId: 'j7' },
      { worker: 'w0', seq: 8, deliveries: 2, start: T + 10, end: T + 30, outcome: 'abandon', altId: 'j8' },
    ]);
  });

  it('keeps a run the worker never ended open until the end of its log (its death)', () => {
    const runs = runsFromLines('w1', [line('run started', 100, 9, 3)], T + 400);
    expect(runs).toEqual([{ worker: 'w1', seq: 9, deliveries: 3, start: T + 100, end: T + 400, outcome: null, altId: null }]);
  });
});

describe('overlappingRuns', () => {
  it('finds two runs of one message on two workers at the same time, not runs of different messages or one after the other', () => {
    const { overlaps } = overlappingRuns([run('a', 1, 0, 100), run('b', 1, 50, 150, 2), run('a', 2, 0, 100), run('b', 3, 0, 100), run('b', 2, 100, 200, 2)]);
    expect(overlaps.map((x) => [x.seq, x.a.worker, x.b.worker, x.ms])).toEqual([[1, 'a', 'b', 50]]);
  });

  it('compares every pair: a long run overlapping two later short ones counts twice', () => {
    const { overlaps } = overlappingRuns([run('a', 1, 0, 1_000), run('b', 1, 100, 200, 2), run('c', 1, 500, 600, 3)]);
    expect(overlaps.map((x) => [x.a.worker, x.b.worker])).toEqual([['a', 'b'], ['a', 'c']]);
  });

  it('ends a run held across a pause at the pause when it ended abandon with no AI request after it, and returns its tail', () => {
    const frozen = new Map([['a', [{ from: T + 100, to: T + 5_000 }]]]);
    const held = { ...run('a', 1, 0, 5_060), outcome: 'abandon', altId: 'j' };
    const other = run('b', 1, 2_000, 5_500, 2);
    expect(overlappingRuns([held, other], frozen)).toEqual({ overlaps: [], tails: [{ run: held, ms: 60 }] });
    // A request of another job, from another worker, or after the run ended (a later run's), is not this run's.
    const asked = call('a', 'j', 'p3', 5_002, 5_050, null);
    expect(overlappingRuns([held, other], frozen, [{ ...asked, job: 'k' }, { ...asked, worker: 'b' }, { ...asked, start: T + 5_061 }]).overlaps).toEqual([]);
    // Without the pause, the same lines overlap.
    expect(overlappingRuns([held, other]).overlaps.map((x) => x.ms)).toEqual([3_060]);
  });

  it('counts a run held across a pause that went on after it (it acked, asked the AI, or stored a .last) as running all through the pause', () => {
    const frozen = new Map([['a', [{ from: T + 100, to: T + 5_000 }]]]);
    const held = { ...run('a', 1, 0, 5_060), outcome: 'ack', altId: 'j' };
    const other = run('b', 1, 2_000, 3_000, 2);
    expect(overlappingRuns([held, other], frozen)).toEqual({ overlaps: [{ seq: 1, a: held, b: other, ms: 1_000 }], tails: [] });
    const asked = call('a', 'j', 'p3', 5_002, 5_050, null);
    expect(overlappingRuns([{ ...held, outcome: 'abandon' }, other], frozen, [asked]).overlaps.map((x) => x.ms)).toEqual([1_000]);
    // It stored a .last after the pause, then sent nothing on the message: it went on too. A .last of another delivery, or from before the pause, is not its.
    const last = { job: 'j', deliveries: 1, at: T + 5_030 };
    expect(overlappingRuns([{ ...held, outcome: 'abandon' }, other], frozen, [], [last]).overlaps.map((x) => x.ms)).toEqual([1_000]);
    expect(overlappingRuns([{ ...held, outcome: 'abandon' }, other], frozen, [], [{ ...last, deliveries: 2 }, { ...last, at: T + 50 }]).overlaps).toEqual([]);
  });
});

describe('callsAfterLast', () => {
  it('lists requests that reached the AI after the job\'s .last was stored, not those before or of other jobs', () => {
    const calls = [call('a', 'j1', 'p1', 0, 100), call('b', 'j1', 'p3', 1_002, 1_010, null), call('a', 'j2', 'p1', 5_000, 5_100), call('a', 'j1', 'p2', 1_000, 1_100)];
    const out = callsAfterLast(calls, new Map([['j1', T + 1_000], ['j2', T + 9_000]]));
    expect(out.map((c) => [c.worker, c.job, c.prompt, c.afterMs])).toEqual([['b', 'j1', 'p3', 2]]);
  });
});

describe('repaidCalls', () => {
  it('counts an answer paid again after its worker was killed while it was in flight as in flight', () => {
    const r = repaidCalls([call('a', 'j', 'p1', 0, 200), call('b', 'j', 'p1', 6_000, 6_200)], [{ at: T + 100, worker: 'a', what: 'SIGKILL' }], 2_000);
    expect(r).toMatchObject({ inFlight: 1, withinBudget: 0, beyond: [], paid: 2 });
  });

  it('counts a request the harness noted after it killed the worker that wrote it as in flight at the kill (a dead worker stays dead)', () => {
    const calls = [call('a', 'j', 'p1', 1_040, 1_200), call('b', 'j', 'p1', 6_240, 6_400)];
    expect(repaidCalls(calls, [{ at: T + 1_000, until: Infinity, worker: 'a', what: 'SIGKILL' }], 2_000)).toMatchObject({ inFlight: 1, beyond: [] });
  });

  it('counts an answer that met a pause of its worker (noted by the harness just after the SIGSTOP) as in flight at it', () => {
    const calls = [call('a', 'j', 'p1', 1_090, 1_260), call('a', 'j', 'p1', 6_240, 6_400)];
    const pause = { at: T + 1_000, until: T + 6_000, worker: 'a', what: 'SIGSTOP' };
    expect(repaidCalls(calls, [pause], 2_000)).toMatchObject({ inFlight: 1, beyond: [] });
    // An instant at the pause's start alone would explain nothing.
    expect(repaidCalls(calls, [{ ...pause, until: undefined }], 2_000).beyond).toHaveLength(1);
  });

  it('counts completed work paid again after a failure as within the budget up to it, beyond it past it', () => {
    const calls = [call('a', 'j', 'p1', 0, 300), call('a', 'j', 'p2', 300, 600), call('b', 'j', 'p1', 7_000, 7_300), call('b', 'j', 'p2', 7_300, 7_600)];
    const kill = [{ at: T + 700, worker: 'a', what: 'SIGKILL' }];
    expect(repaidCalls(calls, kill, 2_000)).toMatchObject({ inFlight: 0, withinBudget: 2 });
    expect(repaidCalls(calls, kill, 500).beyond.map((c) => c.prompt)).toEqual(['p1', 'p2']);
  });

  it('counts an answer paid again with no failure of its first worker to explain it as beyond the bound', () => {
    const calls = [call('a', 'j', 'p1', 0, 300), call('b', 'j', 'p1', 7_000, 7_300)];
    // A failure of another worker, and a server kill before the first call, explain nothing.
    const r = repaidCalls(calls, [{ at: T + 100, worker: 'b', what: 'SIGKILL' }, { at: T - 50, worker: null, what: 'server' }], 2_000);
    expect(r.beyond.map((c) => [c.worker, c.first.worker])).toEqual([['b', 'a']]);
    // A server kill hits every worker.
    expect(repaidCalls(calls, [{ at: T + 1_000, worker: null, what: 'server' }], 2_000)).toMatchObject({ withinBudget: 1, beyond: [] });
  });

  it('ignores calls that were never answered', () => {
    expect(repaidCalls([call('a', 'j', 'p1', 0, 10, null), call('a', 'j', 'p1', 20, 300)], [], 2_000)).toMatchObject({ paid: 1, inFlight: 0, withinBudget: 0, beyond: [] });
  });
});

describe('deliveriesPerMessage', () => {
  it('keeps the highest delivery count each message ran with', () => {
    expect([...deliveriesPerMessage([run('a', 1, 0, 1), run('b', 1, 2, 3, 3), run('a', 2, 0, 1, 2)])]).toEqual([[1, 3], [2, 2]]);
  });
});

describe('unexplainedRedeliveries', () => {
  const kill = (ms: number, worker: string | null) => ({ at: T + ms, worker, what: 'SIGKILL' });
  it('explains a redelivery by a failure of the worker that ran the delivery before it, between the two runs', () => {
    const runs = [run('a', 1, 0, 100), run('b', 1, 5_100, 5_200, 2)];
    expect(unexplainedRedeliveries(runs, [kill(50, 'a')], 15_000)).toEqual([]);
    expect(unexplainedRedeliveries(runs, [kill(60, null)], 15_000)).toEqual([]);
    // A failure of another worker, or one before the earlier run, explains nothing.
    expect(unexplainedRedeliveries(runs, [kill(50, 'b'), kill(-10, 'a')], 15_000).map((x) => [x.run.deliveries, x.previous?.worker])).toEqual([[2, 'a']]);
  });

  it('explains a redelivery by a pause of the earlier run\'s worker that began before that run and lasted into it', () => {
    const runs = [run('a', 1, 1_090, 1_300), run('b', 1, 9_000, 9_200, 2)];
    expect(unexplainedRedeliveries(runs, [{ at: T + 1_000, until: T + 6_000, worker: 'a', what: 'SIGSTOP' }], 2_000)).toEqual([]);
    expect(unexplainedRedeliveries(runs, [{ at: T + 1_000, worker: 'a', what: 'SIGSTOP' }], 2_000)).toHaveLength(1);
  });

  it('explains a redelivery whose earlier delivery never ran by any failure in the window before it', () => {
    const runs = [run('b', 1, 9_000, 9_200, 3), run('a', 1, 0, 100)];
    expect(unexplainedRedeliveries(runs, [kill(50, 'a'), kill(8_000, 'c')], 2_000)).toEqual([]);
    expect(unexplainedRedeliveries(runs, [kill(50, 'a'), kill(6_000, 'c')], 2_000).map((x) => [x.run.deliveries, x.previous])).toEqual([[3, null]]);
  });
});
