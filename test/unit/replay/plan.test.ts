/** Replay plans: what runs again from a task (1.0 dependents; 2.0 the construct that holds it), and --set. */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAlt } from '../../../src/alt/decode.ts';
import { applySet, parseSet, rerunSet, topOf } from '../../../src/replay/plan.ts';
import { SAMPLES } from '../../helpers/paths.ts';

const decode = (text: string) => {
  const r = decodeAlt(text);
  if (!r.ok) throw r.error;
  return r.job;
};

describe('rerunSet', () => {
  const diamond = decode(JSON.stringify({
    id: 'd', version: '1.0', created_at: '2025-05-01T00:00:00Z', title: 'd',
    tasks: [{ id: 'a', description: 'a', dependencies: [] }, { id: 'b', description: 'b', dependencies: ['a'] }, { id: 'c', description: 'c', dependencies: ['a'] }, { id: 'e', description: 'e', dependencies: ['b'] }],
  }));

  it('1.0: the task and everything downstream, nothing beside it', () => {
    expect([...rerunSet(diamond, 'b')].sort()).toEqual(['b', 'e']);
    expect([...rerunSet(diamond, 'a')].sort()).toEqual(['a', 'b', 'c', 'e']);
    expect([...rerunSet(diamond, 'e')]).toEqual(['e']);
  });

  it('2.0: a branch member runs again with its whole condition and what follows it; a function body member with every top-level part', () => {
    const job = decode(readFileSync(join(SAMPLES, 'enhanced-2.0.alt.yaml'), 'utf8'));
    expect([...rerunSet(job, 's-alert')].sort()).toEqual(['s-alert', 's-check', 's-summary']);
    expect([...rerunSet(job, 's-check/s-alert')].sort()).toEqual(['s-alert', 's-check', 's-summary']);
    expect([...rerunSet(job, 's-trend')].sort()).toEqual(['s-alert', 's-check', 's-fetch', 's-measure', 's-summary']);
  });

  it('refuses a task the job lacks with REPLAY_INVALID', () => {
    expect(() => rerunSet(diamond, 'zz')).toThrow(expect.objectContaining({ code: 'REPLAY_INVALID' }));
  });

  it('reads an instance key\'s top-level part', () => {
    expect([topOf('loop[3]/x'), topOf('call/seg'), topOf('a')]).toEqual(['loop', 'call', 'a']);
  });
});

describe('--set', () => {
  it('sets a task parameter (object or 2.0 list), a text, a 2.0 global variable; JSON values parsed', () => {
    const runner = { tasks: [{ id: 't', description: 'x', parameters: { model: 'm' } }] };
    applySet(runner, parseSet('t.temperature=0.2'));
    applySet(runner, parseSet('t.description=new text'));
    expect(runner.tasks[0]).toEqual({ id: 't', description: 'new text', parameters: { model: 'm', temperature: 0.2 } });
    const two = { global_variables: [{ name: 'days', value: 7 }], segments: [{ id: 's', parameters: [{ name: 'prompt', value: 'old' }] }] };
    applySet(two, parseSet('days=30'));
    applySet(two, parseSet('s.prompt=new'));
    expect(two.global_variables[0].value).toBe(30);
    expect(two.segments[0].parameters[0].value).toBe('new');
    expect(() => applySet(two, parseSet('nothing=1'))).toThrow(expect.objectContaining({ code: 'REPLAY_INVALID' }));
    expect(() => parseSet('novalue')).toThrow(expect.objectContaining({ code: 'REPLAY_INVALID' }));
  });
});
