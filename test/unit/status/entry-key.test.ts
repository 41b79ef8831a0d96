/**
 * A status entry is its job's: one found under another job's key (copied there by a JetStream API
 * answer whose reply subject named that key) is unreadable, not that job's state.
 */
import { describe, expect, it } from '@jest/globals';
import { decodeEntry, encodeEntry, statusKey, UnreadableEntry, type StatusEntry } from '../../../src/status/status.ts';
import { IDENTITY_CODEC } from '../../../src/security/codec.ts';

const entry = (altId: string): StatusEntry => ({
  alt_id: altId, state: 'completed', title: 't', alt_stream: 'ALT', alt_stream_seq: 3, deliveries: 1, worker_id: 'w', received_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:01.000Z', started_at: null, finished_at: null, last_status: 'success', tasks_total: 0, tasks_done: 0, error: null, tasks: {},
});

describe('decodeEntry', () => {
  it('reads an entry under its own key and refuses one under another job\'s key', () => {
    const bytes = encodeEntry(entry('job-a'), IDENTITY_CODEC, statusKey('job-a'));
    expect(decodeEntry(bytes, IDENTITY_CODEC, statusKey('job-a')).alt_id).toBe('job-a');
    expect(() => decodeEntry(bytes, IDENTITY_CODEC, statusKey('job-b'))).toThrow(UnreadableEntry);
  });
});
