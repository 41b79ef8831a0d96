/** The `altlas` command: one entry point, one subcommand per verb. */
import { isAltlasError } from '../errors.ts';
import { setExitReason } from '../telemetry/process-exit.ts';
import { VERSION } from '../version.ts';
import { CLI_EXIT, EXIT, UsageError, stdio, type Io } from './output.ts';

type Command = (argv: string[], io: Io) => Promise<number>;

const COMMANDS: Record<string, { run: () => Promise<Command>; summary: string }> = {
  validate: { run: async () => (await import('./validate.ts')).validateCommand, summary: 'check .alt files (JSON or YAML) and report every problem' },
  publish: { run: async () => (await import('./publish.ts')).publishCommand, summary: 'publish .alt files to the ALT stream (--wait for their results)' },
  results: { run: async () => (await import('./results.ts')).resultsCommand, summary: 'list .last results (--follow, --alt-id, --since, --json)' },
  dlq: { run: async () => (await import('./dlq.ts')).dlqCommand, summary: 'list, show, replay and purge dead-lettered .alt messages' },
  watch: { run: async () => (await import('./watch.ts')).watchCommand, summary: 'print a job\'s AI answers as they come, task by task, until its .last is stored' },
  status: { run: async () => (await import('./status.ts')).statusCommand, summary: 'streams and consumer at a glance, or one job (--watch to follow it)' },
  usage: { run: async () => (await import('./usage.ts')).usageCommand, summary: 'tokens and cost of the AI calls over a window (--since, --by tenant|model|day)' },
  jobs: { run: async () => (await import('./control.ts')).jobsCommand, summary: 'the jobs of the status bucket, newest first (--state, --since)' },
  history: { run: async () => (await import('./history.ts')).historyCommand, summary: 'a job\'s timeline: deliveries, attempts, hand-backs and who did what (--fleet: pauses, drains)' },
  cancel: { run: async () => (await import('./control.ts')).cancelCommand, summary: 'cancel jobs wherever they run (--wait for their end)' },
  approve: { run: async () => (await import('./approve.ts')).approveCommand, summary: 'decide the approval task a parked job waits at (--reject, --comment), and resume it' },
  replay: { run: async () => (await import('./replay.ts')).replayCommand, summary: 'run a finished job again from one task (--from, --alt FILE, --set), keeping the other tasks\' outputs' },
  workers: { run: async () => (await import('./control.ts')).workersCommand, summary: 'the workers alive now, with their load (set WORKER --concurrency N: change it live)' },
  limits: { run: async () => (await import('./control.ts')).limitsCommand, summary: 'the live rate limits per provider and model, and how the fleet divides them (--json)' },
  pause: { run: async () => (await import('./fleet.ts')).pauseCommand, summary: 'stop the intake of every worker (running jobs go on)' },
  resume: { run: async () => (await import('./fleet.ts')).resumeCommand, summary: 'restart the intake of every worker' },
  drain: { run: async () => (await import('./fleet.ts')).drainCommand, summary: 'let one worker finish what it holds, then exit' },
  dashboard: { run: async () => (await import('./dashboard.ts')).dashboardCommand, summary: 'a live web page of jobs, graphs, dead letters and workers (actions with DASHBOARD_TOKEN)' },
  init: { run: async () => (await import('./control.ts')).initCommand, summary: 'create the streams, consumer and buckets the runner needs' },
  permissions: { run: async () => (await import('./permissions.ts')).permissionsCommand, summary: 'the NATS permissions a role needs (runner, producer, reader, operator)' },
  artifact: { run: async () => (await import('./artifact.ts')).artifactCommand, summary: 'fetch the bytes behind an artifact URL of a .last' },
  demo: { run: async () => (await import('./demo.ts')).demoCommand, summary: 'run the whole chain once on the shipped samples, then stop' },
  worker: { run: async () => (await import('./worker.ts')).workerCommand, summary: 'run the JetStream worker in the foreground' },
  'fake-orchestrator': { run: async () => (await import('./fake-orchestrator.ts')).fakeOrchestratorCommand, summary: 'run a fake AI orchestrator for trials and tests' },
};

export const HELP = `Usage: altlas <command> [options]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(18)} ${c.summary}`).join('\n')}

Run "altlas <command> --help" for a command's options; "altlas --version" prints the version.
Exit codes: 0 success, 1 a job or file failed, 2 usage or configuration error.`;

/** Runs the command line and returns the exit code. */
export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    io.out(`altlas-runner ${VERSION}`);
    return EXIT.ok;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(HELP);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`altlas: unknown command "${name}"\n\n${HELP}`);
    return EXIT.usage;
  }
  try {
    return await (await command.run())(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`altlas ${name}: ${e.message}\nRun "altlas ${name} --help" for usage.`);
      return EXIT.usage;
    }
    if (isAltlasError(e, 'CONFIG_INVALID')) {
      io.err(`altlas ${name}: ${e.message}`);
      return EXIT.usage;
    }
    // Anything else (NATS unreachable, a stream missing, ...): one line with its code, not a stack trace.
    io.err(`altlas ${name}: ${isAltlasError(e) ? `${e.code}: ` : ''}${e instanceof Error ? e.message : String(e)}`);
    return EXIT.failed;
  }
}

if (import.meta.main) {
  // Output piped into head (or any reader that stops early): stop quietly, as Unix tools do.
  const quiet = (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') {
      setExitReason('its output was closed (EPIPE)');
      process.exit(0);
    }
    throw e;
  };
  process.stdout.on('error', quiet);
  process.stderr.on('error', quiet);
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
  // A connection attempt nats.js could not close would keep the process alive: end it once stderr is written.
  if (CLI_EXIT.now) process.stderr.write('', () => process.exit(code));
}
