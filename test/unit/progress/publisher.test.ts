import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { MsgHdrs } from '@nats-io/nats-core';
import { decodeProgress, type ProgressMessage } from '../../../src/progress/message.ts';
import { ProgressPublisher, type ProgressSink, type ProgressTrouble } from '../../../src/progress/publisher.ts';
import { IDENTITY_CODEC, payloadCodec } from '../../../src/security/codec.ts';

/** A sink that records every publish and lets the test acknowledge (or fail) each one. */
function sink() {
  const sent: { subject: string; msgID: string; m: ProgressMessage; raw: Uint8Array; headers: MsgHdrs; ack: () => void; fail: (e?: Error) => void }[] = [];
  const out: ProgressSink = {
    publish(subject, data, o) {
      return new Promise((resolve, reject) => {
        sent.push({
          subject, msgID: o.msgID, headers: o.headers, m: decodeProgress(data, codec)!, raw: data,
          ack: () => resolve({ stream: 'ALT_PROGRESS', seq: sent.length, duplicate: false }),
          fail: (e = new Error('no PubAck in time')) => reject(e),
        });
      });
    },
  };
  return { sent, out };
}
let codec = IDENTITY_CODEC;
const head = { job: 'job-1', alt_seq: 7, deliveries: 1, task: 't1', task_attempt: 1, http_attempt: 1 };
const flushAll = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};
/** Ends the event loop's turn: an attempt's first text leaves then. */
const turn = () => jest.advanceTimersByTime(0);

beforeEach(() => {
  jest.useFakeTimers();
  codec = IDENTITY_CODEC;
});
afterEach(() => {
  jest.useRealTimers();
});

describe('ProgressPublisher coalescing', () => {
  it('sends the first chunk at once, then gathers text for flushMs, and ends with the rest and the byte count', async () => {
    const { sent, out } = sink();
    const a = new ProgressPublisher({ out, prefix: 'progress', flushMs: 50, flushBytes: 1_000 }).open(head);
    a.chunk('Hel');
    expect(sent).toHaveLength(0);
    turn();
    expect(sent.map((s) => s.m.text)).toEqual(['Hel']);
    sent[0].ack();
    await flushAll();
    a.chunk('lo');
    a.chunk(', ');
    jest.advanceTimersByTime(49);
    expect(sent).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(sent.map((s) => s.m.text)).toEqual(['Hel', 'lo, ']);
    sent[1].ack();
    await flushAll();
    a.chunk('wörld');
    a.end('ok');
    expect(sent.map((s) => [s.m.type, s.m.index, s.m.text])).toEqual([['chunk', 0, 'Hel'], ['chunk', 1, 'lo, '], ['end', 2, 'wörld']]);
    expect(sent[2].m).toMatchObject({ outcome: 'ok', failure: null, code: null, bytes: Buffer.byteLength('Hello, wörld') });
    expect(sent[0].subject).toBe('progress.job-1.t1');
    expect(sent.map((s) => s.msgID)).toEqual([0, 1, 2].map((i) => `progress:${a.id}:${i}`));
    expect(sent[0].m).toMatchObject({ v: 1, job: 'job-1', alt_seq: 7, deliveries: 1, task: 't1', task_attempt: 1, http_attempt: 1, attempt: a.id });
  });

  it('sends an attempt that ends in the turn its first text came in as one message: its end with the text', async () => {
    const { sent, out } = sink();
    const publisher = new ProgressPublisher({ out, prefix: 'p', flushMs: 50, flushBytes: 1_000 });
    const a = publisher.open(head);
    a.chunk('The whole ');
    a.chunk('answer.');
    a.end('ok');
    const b = publisher.open({ ...head, task: 't2' });
    b.chunk('Half');
    expect(sent.map((s) => [s.m.type, s.m.index, s.m.text])).toEqual([['end', 0, 'The whole answer.']]);
    expect(sent[0].m).toMatchObject({ outcome: 'ok', bytes: 17 });
    // An attempt not ended in that turn sends its first text when the turn ends, before any tick.
    turn();
    expect(sent.map((s) => [s.m.type, s.m.index, s.m.text])).toEqual([['end', 0, 'The whole answer.'], ['chunk', 0, 'Half']]);
    sent[1].ack();
    await flushAll();
    b.end('ok');
    expect(sent.map((s) => [s.m.type, s.m.index, s.m.text])).toEqual([['end', 0, 'The whole answer.'], ['chunk', 0, 'Half'], ['end', 1, '']]);
    sent[0].ack();
    sent[2].ack();
    await expect(Promise.all([a.settled(100), b.settled(100)])).resolves.toEqual([true, true]);
    expect(publisher.counts).toMatchObject({ attempts: 2, messages: 3 });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('sends at once when flushBytes are waiting, never more than flushBytes a message, cut between characters', async () => {
    const { sent, out } = sink();
    const a = new ProgressPublisher({ out, prefix: 'p', flushMs: 1_000, flushBytes: 256 }).open(head);
    a.chunk('x');
    turn();
    sent[0].ack();
    await flushAll();
    const text = 'é'.repeat(300); // 600 bytes
    a.chunk(text);
    expect(sent.map((s) => Buffer.byteLength(s.m.text))).toEqual([1, 256]);
    sent[1].ack();
    await flushAll();
    // 344 bytes left: a full message goes at once, the 88 left wait for the timer.
    expect(sent.map((s) => Buffer.byteLength(s.m.text))).toEqual([1, 256, 256]);
    sent[2].ack();
    await flushAll();
    expect(sent).toHaveLength(3);
    jest.advanceTimersByTime(1_000);
    expect(sent.map((s) => Buffer.byteLength(s.m.text))).toEqual([1, 256, 256, 88]);
    expect(sent.slice(1).map((s) => s.m.text).join('')).toBe(text);
  });

  it('keeps to its bound: at most 2 + T / flushMs + B / flushBytes messages for an answer of T ms and B bytes', async () => {
    const { sent, out } = sink();
    const a = new ProgressPublisher({ out, prefix: 'p', flushMs: 50, flushBytes: 1_024 }).open(head);
    let bytes = 0;
    // A token every 5 ms for 2 s, each acknowledged as soon as it is sent.
    for (let t = 0; t < 2_000; t += 5) {
      a.chunk('tok ');
      bytes += 4;
      for (const s of sent) s.ack();
      await flushAll();
      jest.advanceTimersByTime(5);
    }
    a.end('ok');
    expect(sent.length).toBeLessThanOrEqual(2 + 2_000 / 50 + bytes / 1_024);
    expect(sent.length).toBeGreaterThan(30);
  });
});

describe('ProgressPublisher ticks', () => {
  it('flushes the waiting text of every attempt on one shared tick, so their messages leave together', async () => {
    const { sent, out } = sink();
    const publisher = new ProgressPublisher({ out, prefix: 'p', flushMs: 50 });
    const [a, b] = [publisher.open(head), publisher.open({ ...head, task: 't2' })];
    a.chunk('a0');
    b.chunk('b0');
    turn();
    expect(sent).toHaveLength(2);
    for (const s of sent) s.ack();
    await flushAll();
    jest.advanceTimersByTime(10);
    a.chunk('a1');
    jest.advanceTimersByTime(20);
    b.chunk('b1');
    jest.advanceTimersByTime(29);
    expect(sent).toHaveLength(2);
    jest.advanceTimersByTime(1);
    // The tick started with a1 (at 10 ms) came at 60 ms: 50 ms after a1 and 30 ms after b1, both on it.
    expect(sent.slice(2).map((s) => s.m.text)).toEqual(['a1', 'b1']);
    for (const s of sent) s.ack();
    await flushAll();
    jest.advanceTimersByTime(500);
    expect(sent).toHaveLength(4);
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('ProgressPublisher delivery', () => {
  it('sends one message at a time per attempt: the next only once the stream acknowledged the one before', async () => {
    const { sent, out } = sink();
    const a = new ProgressPublisher({ out, prefix: 'p', flushMs: 10, flushBytes: 1_000 }).open(head);
    a.chunk('a');
    turn();
    a.chunk('b');
    jest.advanceTimersByTime(10);
    a.chunk('c');
    jest.advanceTimersByTime(10);
    a.end('ok');
    expect(sent.map((s) => s.m.text)).toEqual(['a']);
    sent[0].ack();
    await flushAll();
    // What came while the first was in flight goes as one message, with the end.
    expect(sent.map((s) => [s.m.type, s.m.text])).toEqual([['chunk', 'a'], ['end', 'bc']]);
    const settled = a.settled(1_000);
    sent[1].ack();
    await expect(settled).resolves.toBe(true);
  });

  it('sends a message that was not acknowledged again, with the same id, and the next only after it', async () => {
    const { sent, out } = sink();
    const troubles: ProgressTrouble[] = [];
    const publisher = new ProgressPublisher({ out, prefix: 'p', flushMs: 10, flushBytes: 1_000, onTrouble: (t) => troubles.push(t) });
    const a = publisher.open(head);
    a.chunk('first');
    turn();
    sent[0].fail();
    await flushAll();
    a.chunk('second');
    jest.advanceTimersByTime(10);
    expect(sent).toHaveLength(1);
    jest.advanceTimersByTime(200);
    expect(sent.map((s) => [s.msgID, s.m.text])).toEqual([[`progress:${a.id}:0`, 'first'], [`progress:${a.id}:0`, 'first']]);
    sent[1].ack();
    await flushAll();
    expect(sent.map((s) => [s.m.index, s.m.text])).toEqual([[0, 'first'], [0, 'first'], [1, 'second']]);
    expect(troubles).toEqual([expect.objectContaining({ kind: 'resend', index: 0 })]);
    expect(publisher.counts).toMatchObject({ attempts: 1, messages: 3, resent: 1 });
  });

  it('gives up what is not stored within the drain time, and says so', async () => {
    const { sent, out } = sink();
    const troubles: ProgressTrouble[] = [];
    const a = new ProgressPublisher({ out, prefix: 'p', onTrouble: (t) => troubles.push(t) }).open(head);
    a.chunk('stuck');
    a.end('ok');
    const settled = a.settled(500);
    jest.advanceTimersByTime(500);
    await expect(settled).resolves.toBe(false);
    sent[0].ack();
    await flushAll();
    expect(sent).toHaveLength(1);
    expect(troubles).toEqual([expect.objectContaining({ kind: 'given_up', attempt: a.id, reason: 'not stored within 500 ms' })]);
  });

  it('applies the answer cap to the stream: nothing past maxBytes is sent and the attempt ends too_large', async () => {
    const { sent, out } = sink();
    const a = new ProgressPublisher({ out, prefix: 'p', flushMs: 10, maxBytes: 10 }).open(head);
    a.chunk('12345');
    turn();
    sent[0].ack();
    await flushAll();
    a.chunk('67890');
    a.chunk('X');
    a.chunk('more');
    a.end('ok');
    expect(sent.map((s) => s.m.text).join('')).toBe('1234567890');
    expect(sent.at(-1)!.m).toMatchObject({ type: 'end', outcome: 'too_large', failure: 'too_large', bytes: 10 });
  });

  it('seals every body under PAYLOAD_KEYS and names the key', async () => {
    codec = payloadCodec(`k1:${Buffer.alloc(32, 7).toString('base64')}`);
    const { sent, out } = sink();
    const a = new ProgressPublisher({ out, prefix: 'p', codec }).open(head);
    a.chunk('secret answer');
    turn();
    expect(sent[0].m.text).toBe('secret answer');
    expect(Buffer.from(sent[0].raw).toString('latin1')).not.toContain('secret');
    expect(sent[0].headers.get('Altlas-Key-Id')).toBe('k1');
  });

  it('gives up every attempt on close', async () => {
    const { sent, out } = sink();
    const publisher = new ProgressPublisher({ out, prefix: 'p' });
    const a = publisher.open(head);
    a.chunk('x');
    turn();
    publisher.close();
    await expect(a.settled(10_000)).resolves.toBe(false);
    await expect(publisher.open(head).settled(10)).resolves.toBe(false);
    expect(sent).toHaveLength(1);
  });
});
