import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { AiAnswer, AiRequest, CallOptions } from '../../../src/ai/call.ts';
import { aiTaskBody } from '../../../src/tasks/ai-task-body.ts';
import { decodeProgress, type ProgressMessage } from '../../../src/progress/message.ts';
import { ProgressPublisher, type ProgressSink } from '../../../src/progress/publisher.ts';
import { IDENTITY_CODEC } from '../../../src/security/codec.ts';
import { makeJob } from '../../helpers/engine.ts';

const answer: AiAnswer = { text: 'Hello!', model: 'm', tokens: 3, providerMs: 5, streamed: true, usage: { input: 1, output: 2, cached_input: null, reasoning: null, attempt: 1 } };
/** A client that streams its answer in three chunks, then answers. */
const client = {
  async complete(_r: AiRequest, o: CallOptions): Promise<AiAnswer> {
    for (const [index, text] of ['Hel', 'lo', '!'].entries()) o.onChunk?.({ attempt: 1, index, text });
    o.onAttempt?.({ attempt: 1, outcome: 'ok', failure: null } as never);
    return answer;
  },
};
const warnings: [string, Record<string, unknown>][] = [];
const log = { warn: (m: string, f: Record<string, unknown>) => void warnings.push([m, f]), info() {}, error() {}, debug() {}, log() {}, with() { return log; }, isDebugEnabled: () => false };

function run(drainMs: number) {
  const held: { m: ProgressMessage; ack: () => void }[] = [];
  const out: ProgressSink = { publish: (_s, data) => new Promise((resolve) => held.push({ m: decodeProgress(data, IDENTITY_CODEC)!, ack: () => resolve({ stream: 'P', seq: held.length, duplicate: false }) })) };
  const body = aiTaskBody(client, { defaultModel: 'm', progress: { publisher: new ProgressPublisher({ out, prefix: 'progress', flushMs: 10 }), drainMs } });
  const job = makeJob([{ id: 't1' }]);
  let done = false;
  const result = body(job.tasks[0], { job, key: 't1', attempt: 1, signal: new AbortController().signal, dependencyOutputs: new Map(), context: { log, delivery: { seq: 7, deliveries: 2 } } }).finally(() => (done = true));
  return { held, result, done: () => done };
}
const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

beforeEach(() => {
  jest.useFakeTimers();
  warnings.length = 0;
});
afterEach(() => {
  jest.useRealTimers();
});

describe('the AI task body with progress', () => {
  it('ends the task only once its progress is stored, so the job\'s .last never precedes it', async () => {
    const r = run(5_000);
    await settle();
    // The answer came in one turn: its text and its end are one message.
    expect(r.held.map((h) => [h.m.type, h.m.text, h.m.alt_seq, h.m.deliveries])).toEqual([['end', 'Hello!', 7, 2]]);
    jest.advanceTimersByTime(1_000);
    await settle();
    expect(r.held).toHaveLength(1);
    expect(r.done()).toBe(false);
    r.held[0].ack();
    await expect(r.result).resolves.toMatchObject({ text: 'Hello!' });
    expect(warnings).toEqual([]);
  });

  it('waits at most PROGRESS_DRAIN_MS, then ends the task and says in the job\'s log what was given up', async () => {
    const r = run(500);
    await settle();
    jest.advanceTimersByTime(499);
    await settle();
    expect(r.done()).toBe(false);
    jest.advanceTimersByTime(1);
    await expect(r.result).resolves.toMatchObject({ text: 'Hello!' });
    expect(warnings).toEqual([['progress of an AI attempt was given up before it was stored', expect.objectContaining({ task_id: 't1', code: 'PROGRESS_INCOMPLETE', reason: 'not stored within 500 ms' })]]);
  });
});
