import { describe, expect, it } from '@jest/globals';
import { describeCall, type AiCall, type AttemptInfo } from '../../../src/ai/call.ts';
import { PASS_THROUGH, combineSteps, type CallSteps, type Reservation } from '../../../src/ai/steps.ts';
import { AltlasError } from '../../../src/errors.ts';

const call = describeCall({ prompt: { system: 's', user: 'u' }, model: 'm', parameters: { max_tokens: 256, temperature: 0.1 }, origin: { jobId: 'j', taskKey: 'loop[2]/t', taskAttempt: 3, priority: 'high' } }, 'openai', true);
const signal = new AbortController().signal;
const info = { attempt: 1, status: 429 } as AttemptInfo;

/** A part that writes what happens to it into `log`. */
function part(name: string, log: string[], refuse = false): Partial<CallSteps> {
  return {
    gate: { enter: async () => (log.push(`${name}.enter`), { leave: () => void log.push(`${name}.leave`) }), onAttempt: (_c, i) => void log.push(`${name}.gate saw ${i.status}`) },
    reserve: {
      reserve: async () => {
        log.push(`${name}.reserve`);
        if (refuse) throw new AltlasError('AI_UNAVAILABLE', `${name} refuses`);
        return { held: { tokens: 100 } };
      },
    },
    settle: { settle: (_c: AiCall, r: Reservation, o) => void log.push(`${name}.settle ${JSON.stringify(r.held)} ${o.ok ? 'ok' : 'failed'}`) },
  };
}

describe('describeCall', () => {
  it('carries what later steps need: provider, model, prompt, parameters, max_tokens, origin, stream, attempts', () => {
    expect(call).toEqual({
      provider: 'openai', model: 'm', prompt: { system: 's', user: 'u' }, parameters: { max_tokens: 256, temperature: 0.1 }, maxTokens: 256, stream: true,
      jobId: 'j', tenant: null, priority: 'high', taskKey: 'loop[2]/t', taskAttempt: 3, attempts: [],
    });
    expect(describeCall({ prompt: { system: '', user: '' }, model: 'm', parameters: { max_tokens: '9' } }, 'orchestrator', false)).toMatchObject({ maxTokens: null, jobId: null, taskKey: null, stream: false });
  });
});

describe('PASS_THROUGH', () => {
  it('lets every call through, holds nothing and settles nothing', async () => {
    const pass = await PASS_THROUGH.gate.enter(call, signal);
    expect((await PASS_THROUGH.reserve.reserve(call, signal)).held).toEqual({});
    expect(() => pass.leave()).not.toThrow();
  });
});

describe('combineSteps', () => {
  it('enters gates in order and leaves them in reverse; reserves in order; settles each part with its own reservation', async () => {
    const log: string[] = [];
    const steps = combineSteps([part('flow', log), part('budget', log)]);
    const pass = await steps.gate.enter(call, signal);
    const r = await steps.reserve.reserve(call, signal);
    expect(r.held).toEqual({ tokens: 200 });
    steps.gate.onAttempt!(call, info);
    await steps.settle.settle(call, r, { ok: false, error: new Error('x') });
    pass.leave();
    expect(log).toEqual([
      'flow.enter', 'budget.enter', 'flow.reserve', 'budget.reserve', 'flow.gate saw 429', 'budget.gate saw 429',
      'flow.settle {"tokens":100} failed', 'budget.settle {"tokens":100} failed', 'budget.leave', 'flow.leave',
    ]);
  });

  it('settles the reservations already made when a later part refuses, then refuses the call', async () => {
    const log: string[] = [];
    const steps = combineSteps([part('flow', log), part('budget', log, true), part('never', log)]);
    await expect(steps.reserve.reserve(call, signal)).rejects.toThrow('budget refuses');
    expect(log).toEqual(['flow.reserve', 'budget.reserve', 'flow.settle {"tokens":100} failed']);
  });

  it('leaves the gates already entered when a later gate refuses', async () => {
    const log: string[] = [];
    const closed: Partial<CallSteps> = { gate: { enter: () => Promise.reject(new AltlasError('AI_UNAVAILABLE', 'no slot')) } };
    const steps = combineSteps([part('flow', log), closed]);
    await expect(steps.gate.enter(call, signal)).rejects.toThrow('no slot');
    expect(log).toEqual(['flow.enter', 'flow.leave']);
  });

  it('shows each attempt once to an object that is several steps of one part', () => {
    const seen: number[] = [];
    const both = { enter: async () => ({ leave() {} }), reserve: async () => ({ held: {} }), settle() {}, onAttempt: (_c: AiCall, i: AttemptInfo) => void seen.push(i.attempt) };
    combineSteps([{ gate: both, reserve: both, settle: both }]).gate.onAttempt!(call, info);
    expect(seen).toEqual([1]);
  });
});
