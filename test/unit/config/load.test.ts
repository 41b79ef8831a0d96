import { describe, expect, it } from '@jest/globals';
import { loadConfig, decodeLimits } from '../../../src/config/load.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import { DEFAULT_DECODE_LIMITS } from '../../../src/alt/limits.ts';
import { isAltlasError } from '../../../src/errors.ts';

describe('loadConfig', () => {
  it('fills every default from the one defaults table and freezes the result', () => {
    const config = loadConfig({});
    for (const [name, value] of Object.entries(DEFAULTS)) expect([name, (config as Record<string, unknown>)[name]]).toEqual([name, value]);
    expect(Object.isFrozen(config)).toBe(true);
    expect(decodeLimits(config)).toEqual(DEFAULT_DECODE_LIMITS);
  });

  it('coerces numbers and booleans from strings and ignores unknown variables', () => {
    const config = loadConfig({ RUNNER_CONCURRENCY: '8', RUNNER_PROVISION: 'false', SOMETHING_ELSE: 'x', ALT_MAX_BYTES: ' 2048 ' });
    expect([config.RUNNER_CONCURRENCY, config.RUNNER_PROVISION, config.ALT_MAX_BYTES]).toEqual([8, false, 2048]);
  });

  it('reports every invalid variable at once', () => {
    expect.assertions(3);
    try {
      loadConfig({ RUNNER_CONCURRENCY: 'many', LOG_LEVEL: 'loud', AI_PROVIDER: 'magic', HTTP_PORT: '70000' });
    } catch (e) {
      expect(isAltlasError(e, 'CONFIG_INVALID')).toBe(true);
      if (!isAltlasError(e)) return;
      expect(e.problems.map((p) => p.pointer).sort()).toEqual(['AI_PROVIDER', 'HTTP_PORT', 'LOG_LEVEL', 'RUNNER_CONCURRENCY']);
      expect(e.message).toContain('RUNNER_CONCURRENCY="many"');
    }
  });
});
