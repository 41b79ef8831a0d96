/** The history writer never makes the worker wait: a bounded number of unconfirmed events, the rest dropped and counted. */
import { describe, expect, it, jest } from '@jest/globals';
import { HistoryWriter, RETRIES, historyEvent, type HistoryEvent } from '../../../src/status/history.ts';
import { describeEvent, eventsOf, readHistory } from '../../../src/status/history-read.ts';
import { TimeoutError } from '@nats-io/nats-core';
import { JetStreamApiError } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { DeliveryRecord, type RecorderOptions } from '../../../src/status/recorder.ts';

describe('HistoryWriter', () => {
  it('sends a job\'s events together, one message per job, to its subject, and returns at once', async () => {
    const sent: { subject: string; events: { type: string; alt_id: string }[] }[] = [];
    const w = new HistoryWriter({ prefix: 'history', maxPending: 10, flushMs: 60_000, publish: (subject, data) => {
      sent.push({ subject, events: eventsOf(JSON.parse(new TextDecoder().decode(data))) });
      return new Promise(() => {});
    } });
    w.write(historyEvent('delivered', 'job-1', { worker_id: 'w1', deliveries: 1, alt_stream_seq: 7 }));
    w.write(historyEvent('started', 'a.b', {}));
    w.write(historyEvent('started', 'job-1', {}));
    expect(sent).toEqual([]);
    void w.flush(10);
    expect(sent.map((s) => s.subject)).toEqual(['history.job-1', expect.stringMatching(/^history\.a_b-[0-9a-f]{8}$/)]);
    expect(sent[0].events.map((e) => e.type)).toEqual(['delivered', 'started']);
    expect(sent[0].events[0]).toMatchObject({ type: 'delivered', alt_id: 'job-1', worker_id: 'w1', deliveries: 1, alt_stream_seq: 7 });
  });

  it('sends a job\'s events once it leaves the worker (stored, dead-lettered, handed back, parked), with the next group, not a flush later', async () => {
    const sent: { subject: string; types: string[] }[] = [];
    let arrived: () => void = () => {};
    const w = new HistoryWriter({ prefix: 'history', maxPending: 100, flushMs: 60_000, groupMs: 5, publish: (subject, data) => {
      sent.push({ subject, types: eventsOf(JSON.parse(new TextDecoder().decode(data))).map((e) => e.type) });
      arrived();
      return new Promise(() => {});
    } });
    const ends = ['last_stored', 'dead_lettered', 'handed_back', 'parked'] as const;
    for (const [i, end] of ends.entries()) {
      w.write(historyEvent('started', `j${i}`));
      w.write(historyEvent('task_finished', `j${i}`, { task_id: 't', status: 'success' }));
      w.write(historyEvent(end, `j${i}`));
      await new Promise<void>((r) => (arrived = r));
      expect(sent[i]).toEqual({ subject: `history.j${i}`, types: ['started', 'task_finished', end] });
    }
    // A job still running waits for the flush: the next group holds only the job that ended.
    w.write(historyEvent('started', 'running'));
    w.write(historyEvent('attempt_failed', 'running', { task_id: 't', attempt: 1 }));
    w.write(historyEvent('last_stored', 'ended'));
    await new Promise<void>((r) => (arrived = r));
    expect(sent.slice(ends.length).map((m) => m.subject)).toEqual(['history.ended']);
  });

  it('sends what waited once HISTORY_FLUSH_MS passed, without being asked', async () => {
    const subjects: string[] = [];
    const w = new HistoryWriter({ prefix: 'history', maxPending: 10, flushMs: 20, publish: async (subject) => {
      subjects.push(subject);
    } });
    w.write(historyEvent('started', 'j'));
    for (let i = 0; i < 100 && !subjects.length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(subjects).toEqual(['history.j']);
  });

  it('sends a running job\'s events HISTORY_FLUSH_MS after its own first, not those of a job that began since (they wait to go as one message)', () => {
    jest.useFakeTimers();
    try {
      const subjects: string[] = [];
      const w = new HistoryWriter({ prefix: 'history', maxPending: 10, flushMs: 100, groupMs: 1, publish: async (subject) => {
        subjects.push(subject);
      } });
      w.add('old', { worker_id: 'w' }, { type: 'started' });
      jest.advanceTimersByTime(60);
      w.add('young', { worker_id: 'w' }, { type: 'started' });
      jest.advanceTimersByTime(45);
      expect(subjects).toEqual(['history.old']);
      // The young job's turn comes 100 ms after its first event, with what it added meanwhile.
      w.add('young', { worker_id: 'w' }, { type: 'task_finished', task_id: 't', status: 'completed' });
      jest.advanceTimersByTime(50);
      expect(subjects).toEqual(['history.old']);
      jest.advanceTimersByTime(10);
      expect(subjects).toEqual(['history.old', 'history.young']);
    } finally {
      jest.useRealTimers();
    }
  });

  it('holds at most HISTORY_BUFFER events (waiting or unconfirmed), drops the rest and what the stream refused, and says so', async () => {
    const drops: string[] = [];
    const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
    let published = 0;
    const w = new HistoryWriter({ prefix: 'history', maxPending: 2, flushMs: 60_000, onDrop: (r) => drops.push(r), publish: () => {
      published++;
      return new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
    } });
    for (let i = 0; i < 5; i++) w.write(historyEvent('started', `j${i}`));
    expect(drops).toEqual(['full', 'full', 'full']);
    void w.flush(10);
    expect(published).toBe(2);
    w.write(historyEvent('started', 'still-full'));
    expect(drops).toEqual(['full', 'full', 'full', 'full']);
    pending[0].resolve();
    pending[1].reject(new Error('no stream'));
    await w.flush();
    expect(drops).toEqual(['full', 'full', 'full', 'full', 'failed']);
    w.write(historyEvent('started', 'again'));
    await w.flush(10);
    expect(published).toBe(3);
    expect(w.dropped).toBe(5);
  });

  it('stamps each event with its own instant (given, or now), in RFC 3339', () => {
    const a = new Date('2026-12-07T10:00:00.001Z');
    const b = new Date('2026-12-07T10:00:00.002Z');
    expect([a, b, a, a].map((d) => historyEvent('started', 'j', {}, d).at)).toEqual([a, b, a, a].map((d) => d.toISOString()));
    const before = Date.now();
    const now = Date.parse(historyEvent('started', 'j').at);
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  it('masks secrets in error texts and says what happened in a line', () => {
    const e = historyEvent('attempt_failed', 'j', { task_id: 't1', attempt: 2, code: 'AI_HTTP_500', error: 'upstream said Bearer abcdefghijklmnopqrstuvwxyz0123', worker_id: 'w' });
    expect(e.error).not.toContain('abcdefghijklmnopqrstuvwxyz0123');
    expect(describeEvent(e)).toMatch(/^task t1 attempt 2 failed \(AI_HTTP_500: upstream said .*\) on w$/);
    expect(describeEvent(historyEvent('cancel_requested', 'j', { by: 'nats:alice' }))).toBe('cancel requested by nats:alice');
    // A budget park is not a person's wait, and its resume follows no approval.
    expect(describeEvent(historyEvent('parked', 'j', { worker_id: 'w', code: 'BUDGET_WAIT' }))).toBe('parked: its tenant\'s budget is spent until the period turns on w');
    expect(describeEvent(historyEvent('parked', 'j', { worker_id: 'w', code: 'JOB_PARKED', detail: { task: 'ok' } }))).toBe('parked: waiting for a person at task ok on w');
    expect(describeEvent(historyEvent('resumed', 'j', { worker_id: 'w', detail: { completed: 1, reason: 'budget' } }))).toBe('resumed after its tenant\'s budget period turned on w (1 tasks done before)');
  });
});

describe('a job\'s history message', () => {
  const decode = (data: Uint8Array) => JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;

  it('holds what the delivery\'s events share once and each event\'s own fields; read back, every event is whole', async () => {
    const bodies: Record<string, unknown>[] = [];
    const w = new HistoryWriter({ prefix: 'history', maxPending: 10, flushMs: 60_000, publish: async (_s, data) => void bodies.push(decode(data)) });
    const shared = { worker_id: 'w1', alt_stream_seq: 7, deliveries: 2 };
    const t0 = Date.now();
    w.add('job-1', shared, { type: 'delivered' });
    w.add('job-1', shared, { type: 'attempt_failed', task_id: 't1', attempt: 1, code: 'AI_HTTP_500', error: 'Bearer abcdefghijklmnopqrstuvwxyz0123 refused' });
    w.add('job-1', shared, { type: 'last_stored', status: 'failure' });
    await w.flush();
    expect(bodies).toHaveLength(1);
    const body = bodies[0];
    // The shared fields once, not in each event.
    expect(body).toMatchObject({ alt_id: 'job-1', worker_id: 'w1', alt_stream_seq: 7, deliveries: 2 });
    for (const e of body.events as Record<string, unknown>[]) expect(Object.keys(e).filter((k) => k in shared || k === 'alt_id' || k === 'at')).toEqual([]);
    const events = eventsOf(body);
    expect(events.map((e) => [e.type, e.alt_id, e.worker_id, e.alt_stream_seq, e.deliveries, e.task_id, e.status])).toEqual([
      ['delivered', 'job-1', 'w1', 7, 2, undefined, undefined],
      ['attempt_failed', 'job-1', 'w1', 7, 2, 't1', undefined],
      ['last_stored', 'job-1', 'w1', 7, 2, undefined, 'failure'],
    ]);
    expect(events[1].error).not.toContain('abcdefghijklmnopqrstuvwxyz0123');
    for (const e of events) {
      expect(e.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Date.parse(e.at)).toBeGreaterThanOrEqual(t0);
      expect(Date.parse(e.at)).toBeLessThanOrEqual(Date.now());
    }
  });

  it('gives each event its own instant, to the millisecond', async () => {
    const bodies: Record<string, unknown>[] = [];
    const w = new HistoryWriter({ prefix: 'history', maxPending: 10, flushMs: 60_000, publish: async (_s, data) => void bodies.push(decode(data)) });
    const at = ['2026-12-07T10:00:00.001Z', '2026-12-07T10:00:00.350Z', '2026-12-07T09:59:59.999Z', '2026-12-07T10:00:02.000Z'];
    for (const [i, t] of at.entries()) w.write(historyEvent(i === 3 ? 'last_stored' : 'started', 'j', { worker_id: 'w' }, new Date(t)));
    await w.flush();
    expect(eventsOf(bodies[0]).map((e) => e.at)).toEqual(at);
  });

  it('events of two deliveries (or one naming no worker) in one message each carry their own', async () => {
    const bodies: Record<string, unknown>[] = [];
    const w = new HistoryWriter({ prefix: 'history', maxPending: 10, flushMs: 60_000, publish: async (_s, data) => void bodies.push(decode(data)) });
    const first = { worker_id: 'w1', alt_stream_seq: 3, deliveries: 1 };
    w.add('j', first, { type: 'delivered' });
    w.add('j', { worker_id: 'w1', alt_stream_seq: 3, deliveries: 2 }, { type: 'claimed' });
    w.add('j', { alt_stream_seq: 3, deliveries: 2 }, { type: 'dead_lettered', code: 'STRANDED' });
    await w.flush();
    expect(eventsOf(bodies[0]).map((e) => [e.type, e.worker_id, e.deliveries])).toEqual([['delivered', 'w1', 1], ['claimed', 'w1', 2], ['dead_lettered', undefined, 2]]);
  });

  it('reads the shapes stored before: an array of events, one event', () => {
    const one = historyEvent('replayed', 'j', { by: 'nats:alice', detail: { from: 't1', seq: 3 } });
    const batch = [historyEvent('delivered', 'j', { worker_id: 'w', deliveries: 1, alt_stream_seq: 3 }), historyEvent('started', 'j', { worker_id: 'w' })];
    expect(eventsOf(JSON.parse(JSON.stringify(one)))).toEqual([one]);
    expect(eventsOf(JSON.parse(JSON.stringify(batch)))).toEqual(batch);
  });
});

describe('HistoryWriter groups', () => {
  /** A writer whose confirmed publishes wait to be answered, with what was posted and published. */
  const setup = (maxPending = 100) => {
    const log: { how: 'post' | 'publish'; subject: string }[] = [];
    const acks: { resolve: () => void; reject: (e: Error) => void }[] = [];
    const drops: string[] = [];
    let published: () => void = () => {};
    const w = new HistoryWriter({
      prefix: 'history', maxPending, flushMs: 60_000, groupMs: 5, onDrop: (r) => drops.push(r),
      post: (subject) => void log.push({ how: 'post', subject }),
      publish: (subject) => {
        log.push({ how: 'publish', subject });
        published();
        return new Promise<void>((resolve, reject) => acks.push({ resolve, reject }));
      },
    });
    const nextPublish = () => new Promise<void>((r) => (published = r));
    return { w, log, acks, drops, nextPublish };
  };
  const ended = (w: HistoryWriter, id: string) => {
    w.add(id, { worker_id: 'w' }, { type: 'started' });
    w.add(id, { worker_id: 'w' }, { type: 'last_stored', status: 'success' });
  };

  it('sends the jobs that ended within the group\'s time together: all without a reply but the last, whose PubAck confirms them', async () => {
    const { w, log, acks, nextPublish } = setup();
    const sent = nextPublish();
    for (const id of ['a', 'b', 'c']) ended(w, id);
    expect(log).toEqual([]);
    await sent;
    expect(log).toEqual([{ how: 'post', subject: 'history.a' }, { how: 'post', subject: 'history.b' }, { how: 'publish', subject: 'history.c' }]);
    // Held (six events) until the PubAck: a flush waits for it.
    let flushed = false;
    const flushing = w.flush(5_000).then(() => (flushed = true));
    await new Promise((r) => setImmediate(r));
    expect(flushed).toBe(false);
    acks[0].resolve();
    await flushing;
    expect(w.dropped).toBe(0);
  });

  it('while jobs keep ending, the group goes with the job that ends its time after the first, in that job\'s turn; a timer only for the last group', () => {
    jest.useFakeTimers();
    try {
      const { w, log } = setup();
      ended(w, 'a');
      jest.advanceTimersByTime(4);
      ended(w, 'b');
      expect(log).toEqual([]);
      jest.advanceTimersByTime(1);
      ended(w, 'c');
      expect(log.map((m) => `${m.how} ${m.subject}`)).toEqual(['post history.a', 'post history.b', 'publish history.c']);
      ended(w, 'd');
      jest.advanceTimersByTime(9);
      expect(log).toHaveLength(3);
      jest.advanceTimersByTime(1);
      expect(log.map((m) => `${m.how} ${m.subject}`).slice(3)).toEqual(['publish history.d']);
    } finally {
      jest.useRealTimers();
    }
  });

  it('counts every event of the group dropped when its last message is refused or lost', async () => {
    const { w, acks, drops, nextPublish } = setup();
    let sent = nextPublish();
    for (const id of ['a', 'b', 'c']) ended(w, id);
    await sent;
    sent = nextPublish();
    ended(w, 'd');
    await sent;
    acks[0].reject(new Error('no stream stores history.c (503 no responders)'));
    acks[1].resolve();
    await w.flush();
    expect(drops).toEqual(Array(6).fill('failed'));
    expect(w.dropped).toBe(6);
  });

  it('holds the events of a group until its PubAck: past HISTORY_BUFFER new ones are dropped', async () => {
    const { w, acks, drops, nextPublish } = setup(4);
    const sent = nextPublish();
    ended(w, 'a');
    ended(w, 'b');
    await sent;
    ended(w, 'c');
    expect(drops).toEqual(['full', 'full']);
    acks[0].resolve();
    await w.flush();
    ended(w, 'd');
    await w.flush(10);
    expect(w.dropped).toBe(2);
  });

  it('sends a group again when its PubAck did not come (a timeout, the connection lost, 503), until it is confirmed; a refusal is final', async () => {
    const log: string[] = [];
    const drops: string[] = [];
    const answers: (() => Promise<void>)[] = [
      () => Promise.reject(new TimeoutError()),
      () => Promise.reject(new Error('connection lost while the request waited')),
      () => Promise.reject(Object.assign(new Error('publish to history.b: no PubAck in time'), { code: 'TIMEOUT' })),
      () => Promise.reject(Object.assign(new Error('publish to history.b: the connection was lost before its PubAck came'), { code: 'DISCONNECTED' })),
      async () => {},
    ];
    const w = new HistoryWriter({
      prefix: 'history', maxPending: 100, flushMs: 60_000, groupMs: 1, retryMs: 1, onDrop: (r) => drops.push(r),
      post: (subject) => void log.push(`post ${subject}`),
      publish: (subject) => {
        log.push(`publish ${subject}`);
        return answers.shift()!();
      },
    });
    for (const id of ['a', 'b']) {
      w.add(id, { worker_id: 'w' }, { type: 'started' });
      w.add(id, { worker_id: 'w' }, { type: 'last_stored', status: 'success' });
    }
    await w.flush(5_000);
    // The whole group each time: the messages posted before the one whose PubAck was lost too.
    expect(log).toEqual(Array(5).fill(['post history.a', 'publish history.b']).flat());
    expect({ drops, dropped: w.dropped }).toEqual({ drops: [], dropped: 0 });
    // A refusal (no stream: not a passing failure) is not sent again.
    const refused: string[] = [];
    let asked = 0;
    const r = new HistoryWriter({ prefix: 'history', maxPending: 100, flushMs: 60_000, retryMs: 1, onDrop: (x) => refused.push(x), publish: async () => {
      asked++;
      throw new JetStreamApiError({ code: 404, err_code: 10059, description: 'stream not found' });
    } });
    r.add('c', { worker_id: 'w' }, { type: 'last_stored', status: 'success' });
    await r.flush(1_000);
    await new Promise((res) => setTimeout(res, 50));
    expect({ refused, asked }).toEqual({ refused: ['failed'], asked: 1 });
  });

  it('gives up on a group after RETRIES more tries, its events then dropped; a flush sends a waiting group at once', async () => {
    let tries = 0;
    const drops: string[] = [];
    const w = new HistoryWriter({ prefix: 'history', maxPending: 100, flushMs: 60_000, retryMs: 60_000, onDrop: (r) => drops.push(r), publish: async () => {
      tries++;
      throw new TimeoutError();
    } });
    w.add('a', { worker_id: 'w' }, { type: 'started' });
    w.add('a', { worker_id: 'w' }, { type: 'last_stored', status: 'success' });
    // Each flush sends the group waiting to be sent again (a minute away) at once.
    for (let i = 0; i <= RETRIES; i++) await w.flush(1_000);
    expect(tries).toBe(RETRIES + 1);
    expect(drops).toEqual(['failed', 'failed']);
    await w.flush(10);
    expect(tries).toBe(RETRIES + 1);
  });

  it('sends the groups waiting for their next try at once when asked (the history connection back), not before', async () => {
    let tries = 0;
    const w = new HistoryWriter({ prefix: 'history', maxPending: 100, flushMs: 60_000, groupMs: 1, retryMs: 60_000, publish: async () => {
      tries++;
      if (tries === 1) throw new TimeoutError();
    } });
    w.add('a', { worker_id: 'w' }, { type: 'started' });
    w.add('a', { worker_id: 'w' }, { type: 'last_stored', status: 'success' });
    await eventuallyTrue(() => tries === 1);
    // Its next try is a minute away: nothing goes meanwhile.
    await new Promise((r) => setTimeout(r, 30));
    expect(tries).toBe(1);
    w.resendWaiting();
    expect(tries).toBe(2);
    await new Promise((r) => setImmediate(r));
    expect({ tries, dropped: w.dropped }).toEqual({ tries: 2, dropped: 0 });
    // Nothing waits any more: asking again sends nothing.
    w.resendWaiting();
    expect(tries).toBe(2);
  });

  it('waits at most 2 s between tries; while the connection is lost it makes none and counts none, and sends at once when asked', async () => {
    jest.useFakeTimers();
    try {
      let up = true;
      const at: number[] = [];
      const start = Date.now();
      const w = new HistoryWriter({ prefix: 'history', maxPending: 100, flushMs: 60_000, groupMs: 1, connected: () => up, publish: async () => {
        at.push(Date.now() - start);
        throw new TimeoutError();
      } });
      w.add('a', { worker_id: 'w' }, { type: 'last_stored', status: 'success' });
      await jest.advanceTimersByTimeAsync(10);
      expect(at).toHaveLength(1);
      // 0.5 s, 1 s, then every 2 s.
      await jest.advanceTimersByTimeAsync(500 + 1_000 + 2_000 + 2_000);
      expect(at.slice(1).map((t, i) => t - at[i])).toEqual([500, 1_000, 2_000, 2_000]);
      // The connection lost: the tries' times pass, none is made.
      up = false;
      await jest.advanceTimersByTimeAsync(60_000);
      expect(at).toHaveLength(5);
      expect(w.dropped).toBe(0);
      // Back: asked to (the connection's reconnect), the group goes at once; the tries left are still counted from five.
      up = true;
      w.resendWaiting();
      await jest.advanceTimersByTimeAsync(0);
      expect(at).toHaveLength(6);
      await jest.advanceTimersByTimeAsync(60_000);
      expect(at).toHaveLength(RETRIES + 1);
      expect(w.dropped).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('a group sent at once when asked is not sent again by its timer', async () => {
    jest.useFakeTimers();
    try {
      let tries = 0;
      const w = new HistoryWriter({ prefix: 'history', maxPending: 100, flushMs: 60_000, groupMs: 1, retryMs: 100, publish: async () => {
        tries++;
        if (tries === 1) throw new TimeoutError();
      } });
      w.add('a', { worker_id: 'w' }, { type: 'last_stored', status: 'success' });
      await jest.advanceTimersByTimeAsync(10);
      expect(tries).toBe(1);
      w.resendWaiting();
      await jest.advanceTimersByTimeAsync(1_000);
      expect(tries).toBe(2);
    } finally {
      jest.useRealTimers();
    }
  });

  it('a flush ends once every event is confirmed or dropped, and not before', async () => {
    // Refused: dropped at once, so the flush ends long before its limit.
    const r = new HistoryWriter({ prefix: 'history', maxPending: 100, flushMs: 60_000, publish: async () => {
      throw new JetStreamApiError({ code: 404, err_code: 10059, description: 'stream not found' });
    } });
    r.add('c', { worker_id: 'w' }, { type: 'last_stored', status: 'success' });
    let t0 = Date.now();
    await r.flush(20_000);
    expect(Date.now() - t0).toBeLessThan(10_000);
    // One job's message confirmed, another's never: the flush waits for its limit.
    const w = new HistoryWriter({ prefix: 'history', maxPending: 100, flushMs: 60_000, publish: (subject) => (subject === 'history.a' ? Promise.resolve() : new Promise(() => {})) });
    for (const id of ['a', 'b']) w.add(id, { worker_id: 'w' }, { type: 'last_stored', status: 'success' });
    t0 = Date.now();
    await w.flush(300);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it('a message that cannot be sent (closed connection, too large) is dropped alone; the group\'s others are still confirmed', async () => {
    const drops: string[] = [];
    const posted: string[] = [];
    const w = new HistoryWriter({
      prefix: 'history', maxPending: 100, flushMs: 60_000, onDrop: (r) => drops.push(r),
      post: (subject) => {
        if (subject === 'history.b') throw new Error('MAX_PAYLOAD_EXCEEDED');
        posted.push(subject);
      },
      publish: async () => {},
    });
    for (const id of ['a', 'b', 'c']) ended(w, id);
    await w.flush();
    expect(posted).toEqual(['history.a']);
    expect(drops).toEqual(['failed', 'failed']);
  });
});

describe('DeliveryRecord history', () => {
  it('a message dead-lettered by the guard or the janitor: dead-lettered, then its failure .last stored when it was', async () => {
    const sent: HistoryEvent[][] = [];
    const history = new HistoryWriter({ prefix: 'history', maxPending: 10, flushMs: 60_000, publish: async (_s, data) => void sent.push(eventsOf(JSON.parse(new TextDecoder().decode(data)))) });
    const d = { stream: 'ALT', seq: 9, deliveries: 5, subject: 'alt.submit', data: new Uint8Array() };
    const options = { history, workerId: 'w1' } as unknown as RecorderOptions;
    new DeliveryRecord(options, d).deadLettered('job-9', 'MAX_DELIVER_EXCEEDED', 'no worker settled it', true);
    new DeliveryRecord(options, d).deadLettered('job-8', 'STRANDED', 'left below the ack floor', false);
    await history.flush();
    expect(sent.flat().map((e) => [e.type, e.status, e.code, e.worker_id])).toEqual([
      ['dead_lettered', undefined, 'MAX_DELIVER_EXCEEDED', undefined],
      ['last_stored', 'failure', 'MAX_DELIVER_EXCEEDED', undefined],
      ['dead_lettered', undefined, 'STRANDED', undefined],
    ]);
  });

  it('prints a held delivery with its hold and a redelivery\'s tasks from checkpoints', () => {
    expect(describeEvent(historyEvent('delivered', 'j', { worker_id: 'w', deliveries: 1, alt_stream_seq: 4, detail: { held: 'paused' } }))).toBe('delivered (delivery 1, message 4) to w, held: paused');
    expect(describeEvent(historyEvent('started', 'j', { worker_id: 'w', detail: { tasks: 4, from_checkpoints: ['t1', 't2'] } }))).toBe('started on w (4 tasks; 2 from checkpoints: t1, t2)');
    expect(describeEvent(historyEvent('started', 'j', { worker_id: 'w', detail: { tasks: 1 } }))).toBe('started on w (1 task)');
    expect(describeEvent(historyEvent('done_before', 'j', { worker_id: 'w', code: 'DONE_BEFORE' }))).toBe('acked without running on w: its .last was stored already, or a resume of its park holds it (an earlier ack was lost)');
  });
});

describe('readHistory', () => {
  it('orders by time; at the same millisecond an operator\'s action (stamped before what it caused) comes before the workers\' events', async () => {
    const t = new Date('2026-12-07T17:00:00.000Z');
    const worker = [historyEvent('delivered', 'j', { worker_id: 'w', deliveries: 1, alt_stream_seq: 3 }, t), historyEvent('started', 'j', { worker_id: 'w' }, new Date(t.getTime() + 1))];
    const operator = historyEvent('replayed', 'j', { by: 'nats:alice', detail: { from: 't1', seq: 3 } }, t);
    // Stored in that order: the worker's batch first, the operator's action after it.
    const stored = [worker, operator].map((body, i) => ({ seq: i + 1, subject: 'history.j', data: new TextEncoder().encode(JSON.stringify(body)) }));
    const jsm = { streams: {
      info: async () => ({ state: { messages: 2, first_seq: 1, last_seq: 2 } }),
      getMessage: async (_s: string, q: { seq: number }) => stored.find((m) => m.seq >= q.seq) ?? null,
    } } as unknown as JetStreamManager;
    const events = await readHistory({ jsm, stream: 'ALT_HISTORY', prefix: 'history' }, 'j');
    expect(events.map((e) => e.type)).toEqual(['replayed', 'delivered', 'started']);
  });

  it('skips a message stored twice (sent again after its PubAck was lost); the same events in another message count', async () => {
    const t = new Date('2026-12-07T17:00:00.000Z');
    const batch = [historyEvent('delivered', 'j', { worker_id: 'w', deliveries: 1, alt_stream_seq: 3 }, t), historyEvent('last_stored', 'j', { worker_id: 'w', status: 'success' }, t)];
    const later = [historyEvent('delivered', 'j', { worker_id: 'w', deliveries: 2, alt_stream_seq: 3 }, t)];
    const stored = [batch, batch, later].map((body, i) => ({ seq: i + 1, subject: 'history.j', data: new TextEncoder().encode(JSON.stringify(body)) }));
    const jsm = { streams: {
      info: async () => ({ state: { messages: 3, first_seq: 1, last_seq: 3 } }),
      getMessage: async (_s: string, q: { seq: number }) => stored.find((m) => m.seq >= q.seq) ?? null,
    } } as unknown as JetStreamManager;
    const events = await readHistory({ jsm, stream: 'ALT_HISTORY', prefix: 'history' }, 'j');
    expect(events.map((e) => [e.type, e.deliveries])).toEqual([['delivered', 1], ['last_stored', undefined], ['delivered', 2]]);
  });
});

async function eventuallyTrue(ok: () => boolean, limitMs = 2_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error('not within the time');
    await new Promise((r) => setTimeout(r, 2));
  }
}
