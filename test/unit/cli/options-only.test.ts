import { describe, expect, it } from '@jest/globals';
import { COMMON_OPTIONS } from '../../../src/cli/context.ts';
import { UsageError, parseOptionsOnly } from '../../../src/cli/output.ts';

describe('parseOptionsOnly (commands that take no arguments: jobs, workers, init, dashboard)', () => {
  const io = () => {
    const out: string[] = [];
    return { out, io: { out: (l: string) => out.push(l), err: () => {} } };
  };

  it('returns the options', () => {
    const { out, io: sink } = io();
    expect(parseOptionsOnly(['--json', '--server', 'nats://h:4222'], sink, { ...COMMON_OPTIONS }, 'HELP', 'x takes no arguments')).toMatchObject({ json: true, server: 'nats://h:4222' });
    expect(out).toEqual([]);
  });

  it('prints the help and returns null on --help, even after an argument', () => {
    const { out, io: sink } = io();
    expect(parseOptionsOnly(['stray', '--help'], sink, { ...COMMON_OPTIONS }, 'HELP', 'x takes no arguments')).toBeNull();
    expect(out).toEqual(['HELP']);
  });

  it('refuses an argument with the usage message', () => {
    const { io: sink } = io();
    expect(() => parseOptionsOnly(['stray'], sink, { ...COMMON_OPTIONS }, 'HELP', 'x takes no arguments')).toThrow(new UsageError('x takes no arguments'));
  });
});
