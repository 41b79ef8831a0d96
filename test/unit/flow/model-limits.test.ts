import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AltlasError } from '../../../src/errors.ts';
import { configuredLimits, limitKey, loadAiLimits, parseLimitKey } from '../../../src/flow/model-limits.ts';
import { createModelBudgets } from '../../../src/main.ts';
import { loadConfig } from '../../../src/config/load.ts';

const dir = mkdtempSync(join(tmpdir(), 'altlas-ai-limits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (text: string, ext = 'yaml') => {
  const p = join(dir, `${Math.random()}.${ext}`);
  writeFileSync(p, text);
  return p;
};

describe('the rate limits file (AI_LIMITS)', () => {
  it('reads limits per provider and model, YAML or JSON, a model\'s own before its provider\'s "*"', () => {
    const doc = loadAiLimits(file('orchestrator:\n  default: {rpm: 500, tpm: 60000, concurrent: 8}\n  "*": {tpm: 20000}\n'));
    expect(configuredLimits(doc, 'orchestrator', 'default')).toEqual({ rpm: 500, tpm: 60_000, concurrent: 8 });
    expect(configuredLimits(doc, 'orchestrator', 'llama3')).toEqual({ tpm: 20_000 });
    expect(configuredLimits(doc, 'openai', 'gpt-4o')).toBeNull();
    expect(configuredLimits(loadAiLimits(file('{"openai": {"gpt-4o-mini": {"tpm": 200000}}}', 'json')), 'openai', 'gpt-4o-mini')).toEqual({ tpm: 200_000 });
  });

  it('refuses at start what it cannot hold, naming every problem (CONFIG_INVALID)', () => {
    const path = file('orchestrator:\n  default: {rpm: 0, tokens: 5}\nanthropic:\n  x: {tpm: 1}\n');
    let error: AltlasError | null = null;
    try {
      createModelBudgets(loadConfig({ AI_LIMITS: path }));
    } catch (e) {
      error = e as AltlasError;
    }
    expect(error?.code).toBe('CONFIG_INVALID');
    expect(error?.problems.map((p) => p.pointer)).toEqual(['AI_LIMITS', 'AI_LIMITS/orchestrator/default', 'AI_LIMITS/orchestrator/default/rpm']);
    expect(error?.message).toContain(`AI_LIMITS=${path}`);
  });

  it('keys each model\'s limit in the bucket by provider, model token and unit', () => {
    expect(limitKey('openai', 'gpt-4o-mini', 'tokens')).toBe('model.openai.gpt-4o-mini.tokens');
    const odd = limitKey('orchestrator', 'org/model:7b', 'requests');
    expect(odd).toMatch(/^model\.orchestrator\.org_model_7b-[0-9a-f]{8}\.requests$/);
    expect(parseLimitKey(odd)).toMatchObject({ provider: 'orchestrator', unit: 'requests' });
    expect(parseLimitKey('budget.acme.day.tokens')).toBeNull();
  });
});
