/**
 * A job's `.last` by its subject (src/last/lookup.ts) is that job's only when it names that job: a
 * message stored on the job's subject another way (a JetStream API answer whose reply subject named
 * it, a copy of another job's `.last`) is no result of that job. A fake message get, no server.
 */
import { describe, expect, it } from '@jest/globals';
import type { JetStreamManager } from '@nats-io/jetstream';
import { lastSubjectOf, lookupLast } from '../../../src/last/lookup.ts';
import { IDENTITY_CODEC } from '../../../src/security/codec.ts';

const config = { LAST_STREAM: 'LAST', LAST_SUBJECT_PREFIX: 'last' };
const STORED_AT = new Date('2026-12-07T10:00:00.000Z');

/** A stream holding `body` (with `headers`) as the last message on `subject`; a get of any other subject finds none. */
function streamWith(subject: string, body: unknown, headers?: Record<string, string>) {
  const gets: { stream: string; subject: string | undefined }[] = [];
  const jsm = {
    streams: {
      getMessage: async (stream: string, q: { last_by_subj?: string }) => {
        gets.push({ stream, subject: q.last_by_subj });
        if (stream !== config.LAST_STREAM || q.last_by_subj !== subject) return null;
        return { data: Buffer.from(JSON.stringify(body)), time: STORED_AT, ...(headers ? { header: { get: (k: string) => headers[k] ?? '' } } : {}) };
      },
    },
  } as unknown as JetStreamManager;
  return { jsm, gets };
}

/** A stream whose message get fails with `message`. */
const failing = (message: string) => ({ streams: { getMessage: async () => Promise.reject(new Error(message)) } }) as unknown as JetStreamManager;

const last = (altId: unknown) => ({ alt_file_id: altId, status: 'success', task_results: {} });

describe('lookupLast', () => {
  it('reads the last message on the job\'s subject of LAST_STREAM, with when it was stored and the ALT sequence it answers', async () => {
    const { jsm, gets } = streamWith('last.job-a', last('job-a'), { 'Alt-Stream-Seq': '42' });
    expect(lastSubjectOf(config, 'job-a')).toBe('last.job-a');
    expect(await lookupLast(jsm, config, 'job-a', IDENTITY_CODEC)).toEqual({ last: last('job-a'), storedAt: STORED_AT.toISOString(), altStreamSeq: 42 });
    expect(gets).toEqual([{ stream: 'LAST', subject: 'last.job-a' }]);
  });

  it('finds the .last of a job whose id is no subject token, on its token\'s subject', async () => {
    const id = 'tenant.job/7';
    const { jsm } = streamWith(lastSubjectOf(config, id), last(id));
    expect((await lookupLast(jsm, config, id, IDENTITY_CODEC))?.last.alt_file_id).toBe(id);
  });

  it('is no result of a job when the message on its subject names another job, or none', async () => {
    for (const body of [last('job-b'), last(undefined), last(7), { type: 'io.nats.jetstream.api.v1.stream_msg_get_response', message: { subject: 'last.job-a' } }]) {
      const { jsm } = streamWith('last.job-a', body, { 'Alt-Stream-Seq': '3' });
      expect({ body, found: await lookupLast(jsm, config, 'job-a', IDENTITY_CODEC) }).toEqual({ body, found: null });
    }
  });

  it('is none when nothing is stored on the subject, or the stream does not exist', async () => {
    expect(await lookupLast(streamWith('last.job-b', last('job-b')).jsm, config, 'job-a', IDENTITY_CODEC)).toBeNull();
    expect(await lookupLast(failing('no message found'), config, 'job-a', IDENTITY_CODEC)).toBeNull();
    expect(await lookupLast(failing('stream not found'), config, 'job-a', IDENTITY_CODEC)).toBeNull();
  });

  it('throws when the server does not answer (unknown is not none)', async () => {
    await expect(lookupLast(failing('TIMEOUT'), config, 'job-a', IDENTITY_CODEC)).rejects.toThrow('TIMEOUT');
  });

  it.each([
    ['a message without headers', undefined, null],
    ['no such header', {}, null],
    ['0', { 'Alt-Stream-Seq': '0' }, null],
    ['negative', { 'Alt-Stream-Seq': '-4' }, null],
    ['not whole', { 'Alt-Stream-Seq': '2.5' }, null],
    ['not a number', { 'Alt-Stream-Seq': 'x' }, null],
    ['1', { 'Alt-Stream-Seq': '1' }, 1],
  ])('takes the ALT sequence only when it is a positive whole number (%s)', async (_what, headers, seq) => {
    const { jsm } = streamWith('last.job-a', last('job-a'), headers);
    expect((await lookupLast(jsm, config, 'job-a', IDENTITY_CODEC))?.altStreamSeq).toBe(seq);
  });
});
