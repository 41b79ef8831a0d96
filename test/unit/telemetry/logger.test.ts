import { describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import { contextLogger, createLogger } from '../../../src/telemetry/logger.ts';
import { redactValue as redact } from '../../../src/security/redact.ts';

describe('logger', () => {
  it('writes JSON lines and redacts secrets by key, bearer tokens in text, and configured keys', async () => {
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c.toString()));
    const log = createLogger({ level: 'info', stream, redactKeys: ['customer_ref'], pretty: false });
    log.info('job started', {
      alt_id: 'j1',
      parameters: { headers: { Authorization: 'Bearer abc.def-123' }, api_key: 'sk-live-999', customer_ref: 'C-77', url: 'https://x' },
      note: 'sent Bearer zzz-token-111 upstream',
    });
    await new Promise((r) => setImmediate(r));
    const text = chunks.join('');
    for (const secret of ['abc.def-123', 'sk-live-999', 'C-77', 'zzz-token-111']) expect(text).not.toContain(secret);
    const line = JSON.parse(text.trim());
    expect(line).toMatchObject({ level: 'info', message: 'job started', alt_id: 'j1', parameters: { url: 'https://x', api_key: '[REDACTED]' } });
  });

  it('writes one JSON line per call, fields in the order given; a BigInt or a cyclic value still gives a line', async () => {
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c.toString()));
    const log = createLogger({ level: 'info', stream, pretty: false });
    const cyclic: Record<string, unknown> = { name: 'c' };
    cyclic.self = cyclic;
    log.info('plain', { zeta: 1, alpha: 2 });
    log.info('big', { count: 12345678901234567890n });
    log.warn('cycle', { cyclic });
    await new Promise((r) => setImmediate(r));
    const lines = chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.message)).toEqual(['plain', 'big', 'cycle']);
    expect(Object.keys(lines[0]).filter((k) => k === 'zeta' || k === 'alpha')).toEqual(['zeta', 'alpha']);
    expect(lines[1].count).toBe('12345678901234567890');
    expect(lines[2]).toMatchObject({ level: 'warn', cyclic: { name: 'c', self: { name: 'c' } } });
    for (const l of lines) expect(typeof l.timestamp).toBe('string');
  });

  it('redacts nested values without touching the input', () => {
    const input = { a: { password: 'p' }, list: [{ token: 't' }] };
    expect(redact(input)).toEqual({ a: { password: '[REDACTED]' }, list: [{ token: '[REDACTED]' }] });
    expect(input.a.password).toBe('p');
  });

  it('a context logger adds its fields to each line; with() adds more without changing it; the fields of a line win; levels filter', async () => {
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c.toString()));
    const job = contextLogger(createLogger({ level: 'info', stream, pretty: false }), { alt_id: 'j1', seq: 7 });
    const task = job.with({ task_id: 't1' });
    job.info('job line');
    task.warn('task line', { seq: 8 });
    task.debug('filtered out');
    task.info('bound');
    job.log('error', 'by level');
    await new Promise((r) => setImmediate(r));
    const lines = chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.level, l.message, l.alt_id, l.seq, l.task_id])).toEqual([
      ['info', 'job line', 'j1', 7, undefined], ['warn', 'task line', 'j1', 8, 't1'], ['info', 'bound', 'j1', 7, 't1'], ['error', 'by level', 'j1', 7, undefined],
    ]);
    expect([job.isDebugEnabled(), task.isDebugEnabled()]).toEqual([false, false]);
  });
});
