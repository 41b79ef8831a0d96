import { describe, expect, it } from '@jest/globals';
import { main } from '../../../src/cli/main.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { describePermissions, operatorPermissions, runnerPermissions, serverPermissions } from '../../../src/security/permissions.ts';

const run = async (argv: string[], env: Record<string, string> = {}) => {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    for (const k of Object.keys(env)) if (!(k in saved)) delete process.env[k];
  }
};

describe('altlas permissions', () => {
  it('prints the runner\'s list by default, and a role\'s nats-server block for this configuration', async () => {
    expect(await run(['permissions'])).toEqual({ code: 0, out: `# role: runner (the default; altlas permissions producer|reader|operator for the others)\n${describePermissions(runnerPermissions(loadConfig({})))}`, err: '' });
    const env = { ALT_STREAM: 'JOBS', NATS_INBOX_PREFIX: '_INBOX_ops', RUNNER_STATUS_BUCKET: 'RUNS' };
    const r = await run(['permissions', 'operator', '--server-config'], env);
    expect(r).toEqual({ code: 0, out: `# role: operator\n${serverPermissions(operatorPermissions(loadConfig(env)))}`, err: '' });
    expect(r.out).toContain('"$KV.RUNS.cancel.>"');
    expect(r.out).toContain('"_INBOX_ops.>"');
  });

  it('refuses an unknown role with a usage error', async () => {
    const r = await run(['permissions', 'admin']);
    expect([r.code, r.err.split('\n')[0]]).toEqual([2, 'altlas permissions: unknown role "admin": runner, producer, reader or operator']);
  });
});
