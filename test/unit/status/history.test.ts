/** The history writer never makes the worker wait: a bounded number of unconfirmed events, the rest dropped and counted. */
import { describe, expect, it } from '@jest/globals';
import { HistoryWriter, describeEvent, historyEvent } from '../../../src/status/history.ts';

describe('HistoryWriter', () => {
  it('publishes each event to its job\'s subject and returns before the stream confirms it', () => {
    const sent: { subject: string; event: unknown }[] = [];
    const w = new HistoryWriter({ prefix: 'history', maxPending: 10, publish: (subject, data) => {
      sent.push({ subject, event: JSON.parse(new TextDecoder().decode(data)) });
      return new Promise(() => {});
    } });
    w.write(historyEvent('delivered', 'job-1', { worker_id: 'w1', deliveries: 1, alt_stream_seq: 7 }));
    w.write(historyEvent('started', 'a.b', {}));
    expect(sent.map((s) => s.subject)).toEqual(['history.job-1', expect.stringMatching(/^history\.a_b-[0-9a-f]{8}$/)]);
    expect(sent[0].event).toMatchObject({ type: 'delivered', alt_id: 'job-1', worker_id: 'w1', deliveries: 1, alt_stream_seq: 7 });
  });

  it('drops what is past HISTORY_BUFFER unconfirmed events, and what the stream refused, and says so', async () => {
    const drops: string[] = [];
    const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
    let published = 0;
    const w = new HistoryWriter({ prefix: 'history', maxPending: 2, onDrop: (r) => drops.push(r), publish: () => {
      published++;
      return new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
    } });
    for (let i = 0; i < 5; i++) w.write(historyEvent('started', `j${i}`));
    expect(published).toBe(2);
    expect(drops).toEqual(['full', 'full', 'full']);
    pending[0].resolve();
    pending[1].reject(new Error('no stream'));
    await w.flush();
    expect(drops).toEqual(['full', 'full', 'full', 'failed']);
    w.write(historyEvent('started', 'again'));
    expect(published).toBe(3);
    expect(w.dropped).toBe(4);
  });

  it('masks secrets in error texts and says what happened in a line', () => {
    const e = historyEvent('attempt_failed', 'j', { task_id: 't1', attempt: 2, code: 'AI_HTTP_500', error: 'upstream said Bearer abcdefghijklmnopqrstuvwxyz0123', worker_id: 'w' });
    expect(e.error).not.toContain('abcdefghijklmnopqrstuvwxyz0123');
    expect(describeEvent(e)).toMatch(/^task t1 attempt 2 failed \(AI_HTTP_500: upstream said .*\) on w$/);
    expect(describeEvent(historyEvent('cancel_requested', 'j', { by: 'nats:alice' }))).toBe('cancel requested by nats:alice');
  });
});
