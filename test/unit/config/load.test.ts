import { describe, expect, it } from '@jest/globals';
import { loadConfig, decodeLimits, unknownVariables } from '../../../src/config/load.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import { DEFAULT_DECODE_LIMITS } from '../../../src/alt/limits.ts';
import { isAltlasError } from '../../../src/errors.ts';

describe('loadConfig', () => {
  it('fills every default from the one defaults table and freezes the result', () => {
    const config = loadConfig({});
    for (const [name, value] of Object.entries(DEFAULTS)) expect([name, (config as unknown as Record<string, unknown>)[name]]).toEqual([name, value]);
    expect(Object.isFrozen(config)).toBe(true);
    expect(decodeLimits(config)).toEqual(DEFAULT_DECODE_LIMITS);
  });

  it('derives LOG_REDACT\'s key fragments once: split, trimmed, lower-cased, empty ones dropped', () => {
    const config = loadConfig({ LOG_REDACT: ' Customer_ID ,,x-Internal ' });
    expect(config.logRedactKeys).toEqual(['customer_id', 'x-internal']);
    expect(Object.isFrozen(config.logRedactKeys)).toBe(true);
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

describe('unknownVariables', () => {
  it('suggests the variable a misspelt name stands for, the prefix misspelt too', () => {
    const env = { RUNER_CONCURRENCY: '8', DASHBORD_TOKEN: 't', NAT_URL: 'nats://x', NATSURL: 'nats://x', RUNNER_CONCURENCY: '8' };
    expect(unknownVariables(env)).toEqual([
      'unknown variable RUNER_CONCURRENCY: did you mean RUNNER_CONCURRENCY?', 'unknown variable DASHBORD_TOKEN: did you mean DASHBOARD_TOKEN?',
      'unknown variable NAT_URL: did you mean NATS_URL?', 'unknown variable NATSURL: did you mean NATS_URL?', 'unknown variable RUNNER_CONCURENCY: did you mean RUNNER_CONCURRENCY?',
    ]);
  });

  it('leaves alone the ordinary environment of a machine and of its tools', () => {
    const env = { PATH: '/bin', HOME: '/root', LANG: 'C', LC_ALL: 'C', NODE_OPTIONS: '', NODE_ENV: 'test', HTTP_PROXY: 'x', HTTPS_PROXY: 'x', NO_PROXY: 'x', TERM: 'xterm',
      AWS_REGION: 'x', USER: 'x', SHELL: '/bin/sh', PWD: '/', HOSTNAME: 'h', JS_KEY: 'k', NATS_SERVER_BIN: '/usr/sbin/nats-server', OTEL_SERVICE_NAME: 'x', MALLOC_ARENA_MAX: '2',
      TMPDIR: '/tmp', CI: 'true', GITHUB_ACTIONS: 'true', JEST_WORKER_ID: '1', LOGNAME: 'x', EDITOR: 'vi', PAGER: 'less', DISPLAY: ':0', SSH_AUTH_SOCK: 'x', AI_URLS: 'x' };
    expect(unknownVariables(env)).toEqual(['unknown variable AI_URLS: did you mean AI_URL?']);
  });
});
