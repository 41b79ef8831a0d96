/** `altlas permissions`: the NATS permissions a role needs for this configuration, from the one source the tests run with. */
import { ROLE_PERMISSIONS, describePermissions, serverPermissions, type RolePermissions } from '../security/permissions.ts';
import { COMMON_OPTIONS, configFrom } from './context.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';

export const PERMISSIONS_HELP = `Usage: altlas permissions [runner|producer|reader|operator] [--server-config] [options]

Prints the NATS permissions a role needs with this configuration (stream, bucket and subject
names, RUNNER_PROVISION, ARCHIVE_NOTIFY_SUBJECT, NATS_INBOX_PREFIX from the environment or the
options), each subject with the feature that needs it. Default role: runner. Each role has its
own inbox prefix (_INBOX_altlas_<role>, unless NATS_INBOX_PREFIX sets one).
  runner     altlas worker
  producer   altlas publish (with --wait and --stream)
  reader     altlas results, status, jobs, workers, watch, dlq list/show, artifact get, the dashboard read-only
  operator   a reader plus altlas cancel, dlq replay, dlq purge and the dashboard's actions
  --server-config   print a nats-server "permissions" block instead
  --alt-stream NAME   --last-stream NAME   --dlq-stream NAME   --durable NAME
  --last-prefix P     --dlq-prefix P       (default ALT_STREAM, LAST_STREAM, ... from the environment)`;

export async function permissionsCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, allowPositionals: true, options: { ...COMMON_OPTIONS, 'server-config': { type: 'boolean' } } });
  if (values.help) {
    io.out(PERMISSIONS_HELP);
    return EXIT.ok;
  }
  if (positionals.length > 1) throw new UsageError('permissions takes at most one role');
  const role = positionals[0] ?? 'runner';
  if (!(role in ROLE_PERMISSIONS)) throw new UsageError(`unknown role "${role}": runner, producer, reader or operator`);
  const p: RolePermissions = ROLE_PERMISSIONS[role as keyof typeof ROLE_PERMISSIONS](configFrom(values));
  // Which role this is, as a comment both YAML and the nats-server configuration read past.
  io.out(`# role: ${role}${positionals.length ? '' : ' (the default; altlas permissions producer|reader|operator for the others)'}`);
  io.out(values['server-config'] ? serverPermissions(p) : describePermissions(p));
  return EXIT.ok;
}
