/**
 * What no role's list may ever grant, checked on the lists themselves for the default names and
 * for renamed ones (a rule added later for a new stream or bucket is held to the same): no
 * wholesale purge, stream delete or update, no wildcard over the JetStream API; consumers only
 * for the runner, its own durables by name; job bodies (ALT, the checkpoints, the large DLQ
 * originals) read by no producer or reader, the checkpoints and ALT by no operator; each role
 * subscribes to its own inbox prefix only (the operator also to the reader's).
 */
import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../../src/config/load.ts';
import { ROLE_PERMISSIONS, type Role } from '../../../src/security/permissions.ts';

const CONFIGS = [
  loadConfig({}),
  loadConfig({ ALT_STREAM: 'JOBS', RUNNER_CHECKPOINT_BUCKET: 'CP', RUNNER_BODY_BUCKET: 'DEADBODIES', RUNNER_OBJECT_BUCKET: 'ART', DLQ_STREAM: 'DEAD', ARCHIVE_NOTIFY_SUBJECT: 'archive.notify' }),
];
const ROLES: Role[] = ['runner', 'producer', 'reader', 'operator'];
/** Whether a subject reads messages of a stream (a get, a direct get, a pull). */
const reads = (s: string, stream: string) => s === `$JS.API.STREAM.MSG.GET.${stream}` || s === `$JS.API.DIRECT.GET.${stream}` || s.startsWith(`$JS.API.DIRECT.GET.${stream}.`) || s.startsWith(`$JS.API.CONSUMER.MSG.NEXT.${stream}.`);

describe('every role\'s list', () => {
  it('grants no wholesale purge, stream delete or update, and no wildcard over the JetStream API', () => {
    for (const c of CONFIGS) for (const role of ROLES) {
      const bad = ROLE_PERMISSIONS[role](c).publish.map((r) => r.subject).filter((s) => /^\$JS\.API\.STREAM\.(PURGE|DELETE|UPDATE)\./.test(s) || /^\$JS\.(API\.)?(>|\*)/.test(s) || /^\$JS\.API\.[A-Z.]*(>|\*)$/.test(s) || s === '>');
      expect({ role, bad }).toEqual({ role, bad: [] });
    }
  });

  it('lets only the runner create consumers, its own durables by name', () => {
    for (const c of CONFIGS) for (const role of ROLES) {
      const creates = ROLE_PERMISSIONS[role](c).publish.map((r) => r.subject).filter((s) => /^\$JS\.API\.CONSUMER\.(DURABLE\.)?CREATE\./.test(s));
      const own = [c.RUNNER_DURABLE, c.ARCHIVE_NOTIFY_DURABLE];
      expect({ role, creates: creates.filter((s) => role !== 'runner' || !own.some((d) => new RegExp(`\\.${d}(\\.>)?$`).test(s))) }).toEqual({ role, creates: [] });
    }
  });

  it('keeps job bodies from the roles that must not read them', () => {
    for (const c of CONFIGS) {
      const bodies: Record<string, Role[]> = { [c.ALT_STREAM]: ['runner'], [`KV_${c.RUNNER_CHECKPOINT_BUCKET}`]: ['runner'], [`OBJ_${c.RUNNER_BODY_BUCKET}`]: ['runner', 'operator'] };
      for (const role of ROLES) {
        const p = ROLE_PERMISSIONS[role](c);
        const got = Object.entries(bodies).filter(([, may]) => !may.includes(role)).flatMap(([stream]) => p.publish.map((r) => r.subject).filter((s) => reads(s, stream)));
        const subs = p.subscribe.map((r) => r.subject).filter((s) => (role !== 'runner' && (s.startsWith(`$KV.${c.RUNNER_CHECKPOINT_BUCKET}.`) || s === '>' || c.ALT_SUBJECTS.split(',').includes(s)))
          || (!['runner', 'operator'].includes(role) && s.startsWith(`$O.${c.RUNNER_BODY_BUCKET}.`)));
        expect({ role, reads: got, subs }).toEqual({ role, reads: [], subs: [] });
        // The runner and the operator do read what they must.
        if (role !== 'producer' && role !== 'reader') expect(p.publish.some((r) => reads(r.subject, `OBJ_${c.RUNNER_BODY_BUCKET}`))).toBe(true);
      }
    }
  });

  it('subscribes each role to its own inbox prefix only (the operator also to the reader\'s)', () => {
    for (const c of CONFIGS) for (const role of ROLES) {
      const inboxes = ROLE_PERMISSIONS[role](c).subscribe.map((r) => r.subject).filter((s) => s.startsWith('_INBOX'));
      expect({ role, inboxes }).toEqual({ role, inboxes: role === 'operator' ? ['_INBOX_altlas_operator.>', '_INBOX_altlas_reader.>'] : [`_INBOX_altlas_${role}.>`] });
    }
  });
});
