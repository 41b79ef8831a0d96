import { describe, expect, it } from '@jest/globals';
import { describeCall, type AttemptInfo } from '../../../src/ai/call.ts';
import { usageRecord, usageSubject } from '../../../src/usage/record.ts';

const call = () => describeCall({ prompt: { system: 's', user: 'u' }, model: 'asked', parameters: {}, origin: { jobId: 'j', tenant: 'acme', taskKey: 't1', taskAttempt: 2 } }, 'openai', true);
const attempt = { attempt: 1 } as AttemptInfo;
const prices = { currency: 'EUR', models: { answered: { input: 1, output: 2 } } };
const ctx = { prices, worker: 'w:1', id: 'id-1', now: Date.parse('2026-05-01T10:00:00Z') };

describe('usage record', () => {
  it('records an answered call at the price of the model that answered', () => {
    const c = call();
    c.attempts.push(attempt, { ...attempt, attempt: 2 });
    const r = usageRecord(c, { ok: true, answer: { text: 'x', model: 'answered', tokens: 30, providerMs: 1, streamed: true, usage: { input: 10, output: 20, cached_input: null, reasoning: 5, attempt: 2 } } }, ctx);
    expect(r).toEqual({
      id: 'id-1', at: '2026-05-01T10:00:00.000Z', job: 'j', tenant: 'acme', task: 't1', task_attempt: 2, provider: 'openai', model: 'answered', outcome: 'ok', attempts: 2,
      tokens: { input: 10, output: 20, cached_input: null, reasoning: 5 }, cost: (10 * 1_000 + 20 * 2_000) / 1e9, currency: 'EUR', worker: 'w:1',
    });
    expect(usageSubject('usage', r!)).toBe('usage.acme.answered');
    expect(usageSubject('u', { tenant: null, model: 'org/model:v1.5' })).toMatch(/^u\._\.org_model_v1_5-[0-9a-f]{8}$/);
  });

  it('records a failed call with unknown usage, and nothing for a call that never reached the provider', () => {
    const c = call();
    expect(usageRecord(c, { ok: false, error: new Error('refused') }, ctx)).toBeNull();
    c.attempts.push(attempt);
    expect(usageRecord(c, { ok: false, error: new Error('503') }, ctx)).toMatchObject({ model: 'asked', outcome: 'failed', tokens: null, cost: null, attempts: 1 });
  });
});
