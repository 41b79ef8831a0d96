import { describe, expect, it } from '@jest/globals';
import { duration, fitCell, parseDuration, percent, table } from '../../../src/ops/format.ts';
import { parseSince, resultRow } from '../../../src/cli/results.ts';
import { UsageError } from '../../../src/cli/output.ts';
import type { Last } from '../../../src/last/index.ts';

describe('command line formatting', () => {
  it('aligns table columns, and keeps every cell whole away from a terminal', () => {
    expect(table(['A', 'LONG HEADER'], [['xyz', '1'], ['q', '22']], undefined)).toBe('A    LONG HEADER\nxyz  1\nq    22');
    const long = 'x'.repeat(200);
    expect(table(['ID', 'ERROR'], [['a', long]], undefined).split('\n')[1]).toBe(`a   ${long}`);
  });

  it('fits a terminal: the widest column gives way, cut with an ellipsis, wide characters counted twice', () => {
    const out = table(['SEQ', 'CODE', 'ERROR'], [['1', 'ALT_SCHEMA', `the document breaks ${'the schema '.repeat(10)}`], ['2', 'ALT_CYCLE', '短い説明です']], 40);
    const lines = out.split('\n');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(40);
    expect(lines[1]).toMatch(/^1 {4}ALT_SCHEMA {2}the document breaks .*…$/);
    expect(lines[2]).toMatch(/^2 {4}ALT_CYCLE {3}短い説明です$/);
    expect(fitCell('abcdef', 4)).toBe('abc…');
    expect(fitCell('ab', 4)).toBe('ab  ');
    expect(fitCell('日本語テキスト', 6)).toBe('日本… ');
  });

  it('prints durations and rates for people', () => {
    expect([duration(12.4), duration(1500), duration(61_000)]).toEqual(['12 ms', '1.5 s', '1 min 1 s']);
    expect(percent(2 / 3)).toBe('66.7%');
  });

  it('reads --since as an RFC 3339 time or a duration back from now, and nothing else', () => {
    const now = Date.parse('2025-05-01T12:00:00Z');
    expect(parseSince('15m', now).toISOString()).toBe('2025-05-01T11:45:00.000Z');
    expect(parseSince('2h', now).toISOString()).toBe('2025-05-01T10:00:00.000Z');
    expect(parseSince('1h30m', now).toISOString()).toBe('2025-05-01T10:30:00.000Z');
    expect(parseSince('1d', now).toISOString()).toBe('2025-04-30T12:00:00.000Z');
    expect(parseSince('2025-04-01T00:00:00Z', now).toISOString()).toBe('2025-04-01T00:00:00.000Z');
    expect(parseSince('2025-04-01T02:00:00+02:00', now).toISOString()).toBe('2025-04-01T00:00:00.000Z');
    expect(parseSince('2025-04-01', now).toISOString()).toBe('2025-04-01T00:00:00.000Z');
    for (const bad of ['yesterday-ish', '1 2', '2025', '1h 30m', '-5m', '2025-13-01T00:00:00Z', '12:00']) expect(() => parseSince(bad, now)).toThrow(UsageError);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1x')).toBeNull();
  });

  it('shows a result row with completed tasks and the error code of a failure', () => {
    const last = {
      alt_file_id: 'j1', status: 'failure', success_rate: 0, execution_time_ms: 3, end_time: '2025-05-01T12:00:00.000Z',
      task_results: {}, metadata: { error: 'ALT_CYCLE: x', error_code: 'ALT_CYCLE' },
    } as unknown as Last;
    expect(resultRow(last)).toEqual(['j1', 'failure (ALT_CYCLE)', '0.0%', '0/0', '3 ms', '2025-05-01T12:00:00.000Z']);
  });
});
