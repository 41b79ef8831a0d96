/** `altlas worker`: runs the worker in the foreground (configuration from the environment). */
import { EXIT, type Io } from './output.ts';

export const WORKER_HELP = `Usage: altlas worker

Runs the JetStream worker in the foreground until SIGTERM, SIGINT or SIGHUP. All settings come from
environment variables (see the README's configuration table): NATS_URL, ALT_STREAM,
RUNNER_CONCURRENCY, AI_URL, ... An invalid value exits with 2, listing every invalid variable.`;

export async function workerCommand(argv: string[], io: Io): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(WORKER_HELP);
    return EXIT.ok;
  }
  const { runWorker } = await import('../main.ts');
  const code = await runWorker();
  // Everything is closed; exporters retrying against an unreachable collector must not keep the process.
  await new Promise<void>((resolve) => (process.stdout.write('') ? resolve() : process.stdout.once('drain', () => resolve())));
  process.exit(code);
}
