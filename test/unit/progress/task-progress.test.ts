import { describe, expect, it } from '@jest/globals';
import type { AttemptInfo } from '../../../src/ai/call.ts';
import { AltlasError } from '../../../src/errors.ts';
import { decodeProgress, type ProgressMessage } from '../../../src/progress/message.ts';
import { ProgressPublisher, type ProgressSink } from '../../../src/progress/publisher.ts';
import { callProgress } from '../../../src/progress/task-progress.ts';
import { IDENTITY_CODEC } from '../../../src/security/codec.ts';

/** A sink that acknowledges everything at once and keeps what it stored. */
function stored() {
  const messages: ProgressMessage[] = [];
  const out: ProgressSink = { publish: async (_s, data) => (messages.push(decodeProgress(data, IDENTITY_CODEC)!), { stream: 'P', seq: messages.length, duplicate: false }) };
  return { messages, publisher: new ProgressPublisher({ out, prefix: 'progress', flushMs: 1 }) };
}
const report = (attempt: number, outcome: AttemptInfo['outcome'], failure: AttemptInfo['failure'] = null) => ({ attempt, outcome, failure } as AttemptInfo);
const head = (deliveries: number, task_attempt = 1) => ({ job: 'j', alt_seq: 5, deliveries, task: 't1', task_attempt });

describe('callProgress', () => {
  it('makes each HTTP attempt an attempt of its own, ended with how it ended; one without text publishes nothing', async () => {
    const { messages, publisher } = stored();
    const p = callProgress(publisher, head(1), new AbortController().signal);
    p.onChunk({ attempt: 1, index: 0, text: 'Hel' });
    p.onAttempt(report(1, 'transient', 'stream_cut'));
    p.onAttempt(report(2, 'transient', 'server_error'));
    p.onChunk({ attempt: 3, index: 0, text: 'Hello' });
    p.onChunk({ attempt: 3, index: 1, text: '!' });
    p.onAttempt(report(3, 'ok'));
    await expect(p.settle(1_000)).resolves.toBe(true);
    const [first, third] = p.attempts.map((a) => a.id);
    expect(first).not.toBe(third);
    // Each attempt ended in the turn its text came in: its text went with its end. The third
    // attempt waited for the first one's end to be stored.
    expect(messages.map((m) => [m.attempt, m.http_attempt, m.type, m.index, m.text])).toEqual([
      [first, 1, 'end', 0, 'Hel'], [third, 3, 'end', 0, 'Hello!'],
    ]);
    expect(messages.filter((m) => m.type === 'end').map((m) => m.type === 'end' && [m.outcome, m.failure, m.bytes])).toEqual([['transient', 'stream_cut', 3], ['ok', null, 6]]);
  });

  it('gives a redelivered run\'s attempts new ids, whatever the earlier run left behind', async () => {
    const { messages, publisher } = stored();
    // The first run's attempt never ends (its worker died); the redelivery asks the same task again.
    const dead = callProgress(publisher, head(1), new AbortController().signal);
    dead.onChunk({ attempt: 1, index: 0, text: 'par' });
    await new Promise((resolve) => setImmediate(resolve));
    const again = callProgress(publisher, head(2), new AbortController().signal);
    again.onChunk({ attempt: 1, index: 0, text: 'partial answer' });
    again.onAttempt(report(1, 'ok'));
    await again.settle(1_000);
    const ids = messages.map((m) => [m.attempt, m.deliveries, m.index]);
    expect(ids[0][0]).not.toBe(ids[1][0]);
    expect(ids).toEqual([[dead.attempts[0].id, 1, 0], [again.attempts[0].id, 2, 0]]);
  });

  it('ends a cancelled attempt with the code that stopped it, also when the call never reported it', async () => {
    const { messages, publisher } = stored();
    const abort = new AbortController();
    const p = callProgress(publisher, head(1, 2), abort.signal);
    p.onChunk({ attempt: 1, index: 0, text: 'partial' });
    abort.abort(new AltlasError('JOB_CANCELLED', 'cancelled by an operator'));
    await p.settle(1_000);
    expect(messages.at(-1)).toMatchObject({ type: 'end', outcome: 'cancelled', code: 'JOB_CANCELLED', task_attempt: 2, bytes: 7 });
    const q = callProgress(publisher, head(1), abort.signal);
    q.onChunk({ attempt: 1, index: 0, text: 'x' });
    q.onAttempt(report(1, 'cancelled'));
    await q.settle(1_000);
    expect(messages.at(-1)).toMatchObject({ type: 'end', outcome: 'cancelled', code: 'JOB_CANCELLED', failure: null });
  });
});
