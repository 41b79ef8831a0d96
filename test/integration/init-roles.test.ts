/**
 * `altlas init` run with a role's credentials (the lists `altlas permissions` prints): the runner
 * may create what is missing and check what exists, and says so; a role that may not gets a
 * clear PERMISSION_DENIED naming what it lacks, never a raw permission error.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/config/load.ts';
import { NatsServer } from '../../src/devtools/nats-server.ts';
import { main } from '../../src/cli/main.ts';
import { ROLE_PERMISSIONS, serverPermissions, type Role } from '../../src/security/permissions.ts';

const config = loadConfig({});
const ROLES: Role[] = ['runner', 'producer', 'reader', 'operator'];
let server: NatsServer;

async function altlas(role: string, argv: string[], env: Record<string, string> = {}) {
  const vars = { NATS_USER: role, NATS_PASSWORD: `${role}-pw`, ...env };
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await main([...argv, '--server', server.url], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

beforeAll(async () => {
  const users = ['{ user: admin, password: admin-pw }', ...ROLES.map((r) => `{ user: ${r}, password: ${r}-pw, ${serverPermissions(ROLE_PERMISSIONS[r](config))} }`)];
  server = await NatsServer.start({ config: `authorization { users = [\n${users.join('\n')}\n] }` });
}, 60_000);
afterAll(async () => {
  await server?.dispose();
});

describe('altlas init with a role\'s credentials', () => {
  it('as the runner: creates what is missing, checks what exists; --apply and the other roles get a clear PERMISSION_DENIED', async () => {
    const first = await altlas('runner', ['init']);
    expect(first).toMatchObject({ code: 0, err: '' });
    expect(first.out).toMatch(/^created  ALT$/m);
    expect(first.out).toMatch(/^created  OBJ_ALT_OUTPUTS$/m);
    expect(first.out).toMatch(/^consumer runner on ALT: created$/m);
    const again = await altlas('runner', ['init']);
    expect(again).toMatchObject({ code: 0, err: '' });
    expect(again.out).toMatch(/^exists   ALT$/m);
    expect(again.out).not.toMatch(/created/);
    // A retention that differs: init shows it; --apply would update a stream, which no role may.
    const differs = await altlas('runner', ['init'], { RUNNER_OBJECT_TTL_MS: '3600000' });
    expect(differs).toMatchObject({ code: 0, err: '' });
    expect(differs.out).toMatch(/OBJ_ALT_OUTPUTS \(differs: /);
    const apply = await altlas('runner', ['init', '--apply'], { RUNNER_OBJECT_TTL_MS: '3600000' });
    expect(apply.code).toBe(1);
    expect(apply.err).toMatch(/^altlas init: PERMISSION_DENIED: the NATS user may not publish \$JS\.API\.STREAM\.UPDATE\.OBJ_ALT_OUTPUTS: init --apply updates streams, which takes an administrator's user/);
    for (const role of ['producer', 'reader', 'operator']) {
      const r = await altlas(role, ['init']);
      expect({ role, code: r.code, err: r.err }).toEqual({ role, code: 1, err: 'altlas init: PERMISSION_DENIED: the NATS user may not subscribe to _INBOX_altlas_runner.>: this command runs as the runner role and needs its permissions (altlas permissions runner prints them)' });
    }
    // Another command run with a role that lacks its permissions says so the same way.
    expect((await altlas('reader', ['jobs'])).code).toBe(0);
    const cancel = await altlas('reader', ['cancel', 'some-job']);
    expect(cancel).toMatchObject({ code: 1, err: expect.stringMatching(/^altlas cancel: PERMISSION_DENIED: the NATS user may not subscribe to _INBOX_altlas_operator\.>: this command runs as the operator role/) });
  });
});
