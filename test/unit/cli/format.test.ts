import { describe, expect, it } from '@jest/globals';
import { duration, percent, table } from '../../../src/cli/format.ts';
import { parseSince, resultRow } from '../../../src/cli/results.ts';
import { UsageError } from '../../../src/cli/output.ts';
import type { Last } from '../../../src/last/index.ts';

describe('command line formatting', () => {
  it('aligns table columns', () => {
    expect(table(['A', 'LONG HEADER'], [['xyz', '1'], ['q', '22']])).toBe('A    LONG HEADER\nxyz  1\nq    22');
  });

  it('prints durations and rates for people', () => {
    expect([duration(12.4), duration(1500), duration(61_000)]).toEqual(['12 ms', '1.5 s', '1 min 1 s']);
    expect(percent(2 / 3)).toBe('66.7%');
  });

  it('reads --since as a time or a duration back from now', () => {
    const now = Date.parse('2025-05-01T12:00:00Z');
    expect(parseSince('15m', now).toISOString()).toBe('2025-05-01T11:45:00.000Z');
    expect(parseSince('2h', now).toISOString()).toBe('2025-05-01T10:00:00.000Z');
    expect(parseSince('1d', now).toISOString()).toBe('2025-04-30T12:00:00.000Z');
    expect(parseSince('2025-04-01T00:00:00Z', now).toISOString()).toBe('2025-04-01T00:00:00.000Z');
    expect(() => parseSince('yesterday-ish', now)).toThrow(UsageError);
  });

  it('shows a result row with completed tasks and the error code of a failure', () => {
    const last = {
      alt_file_id: 'j1', status: 'failure', success_rate: 0, execution_time_ms: 3, end_time: '2025-05-01T12:00:00.000Z',
      task_results: {}, metadata: { error: 'ALT_CYCLE: x', error_code: 'ALT_CYCLE' },
    } as unknown as Last;
    expect(resultRow(last)).toEqual(['j1', 'failure (ALT_CYCLE)', '0.0%', '0/0', '3 ms', '2025-05-01T12:00:00.000Z']);
  });
});
