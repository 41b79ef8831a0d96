/** The fleet's controls: `altlas pause`, `altlas resume`, `altlas drain <worker>`, `altlas workers set <worker> --concurrency N`. */
import { payloadCodec } from '../security/codec.ts';
import { actorOf } from '../ops/history.ts';
import { listWorkers } from '../ops/jobs.ts';
import { requestDrain, setFleetPaused, setWorkerConcurrency } from '../ops/control.ts';
import { MAX_CONCURRENCY } from '../config/defaults.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats } from './context.ts';
import { EXIT, UsageError, parseCommandArgs, parseOptionsOnly, type Io } from './output.ts';

export const PAUSE_HELP = `Usage: altlas pause [--json] [options]
       altlas resume [--json] [options]

pause: every worker stops taking new work (a flag in RUNNER_CONTROL_BUCKET they all watch, applied
at once); jobs running go on, and a message already on its way to a worker is held there until
the intake resumes. On nats-server 2.11 and later the durable consumer is paused too. resume: the
workers take work again. Both are recorded in the fleet's history (altlas history --fleet) with
who did them.
${COMMON_HELP}

Exit: 0; 2 usage error.`;

export const DRAIN_HELP = `Usage: altlas drain WORKER-ID [--wait] [--timeout SECONDS] [--json] [options]

Drains one worker (its id as altlas workers shows it): it takes no new work, lets the jobs it
runs finish however long they take, hands back what it held, and exits with code 0. Recorded in
the fleet's history with who asked.
  --wait             wait until the worker has exited (its heartbeat is gone)
  --timeout SECONDS  how long --wait waits (default 600)
${COMMON_HELP}

Exit: 0; 1 no such live worker (WORKER_NOT_FOUND), or --wait timed out; 2 usage error.`;

export const WORKERS_SET_HELP = `Usage: altlas workers set WORKER-ID --concurrency N [--json] [options]

Changes one worker's concurrency live (no restart): with more slots it pulls more work at once;
with fewer, running jobs finish and it pulls again below the new number. Recorded in the fleet's
history with who did it; altlas workers shows the new value.
${COMMON_HELP}

Exit: 0; 1 no such live worker (WORKER_NOT_FOUND); 2 usage error.`;

function pauseOrResume(paused: boolean) {
  return async (argv: string[], io: Io): Promise<number> => {
    const values = parseOptionsOnly(argv, io, { ...COMMON_OPTIONS }, PAUSE_HELP, `${paused ? 'pause' : 'resume'} takes no arguments`);
    if (!values) return EXIT.ok;
    const config = configFrom(values);
    return withNats(config, async (s) => {
      const r = await setFleetPaused({ ...s, codec: payloadCodec(config.PAYLOAD_KEYS) }, paused, actorOf(config));
      if (values.json) io.out(JSON.stringify(r));
      else io.out(paused ? `intake paused on every worker${r.consumer_paused ? ' (and the consumer paused on the server)' : ''}; "altlas resume" resumes it` : 'intake resumed on every worker');
      return EXIT.ok;
    }, { role: 'operator', streams: [`KV_${config.RUNNER_CONTROL_BUCKET}`] });
  };
}

export const pauseCommand = pauseOrResume(true);
export const resumeCommand = pauseOrResume(false);

export async function drainCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, allowPositionals: true, options: { ...COMMON_OPTIONS, wait: { type: 'boolean', default: false }, timeout: { type: 'string', default: '600' } } });
  if (values.help) {
    io.out(DRAIN_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('drain takes one worker id (altlas workers lists them)');
  const timeoutS = Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError('--timeout takes a positive number of seconds');
  const [id] = positionals;
  const config = configFrom(values);
  return withNats(config, async (s) => {
    const w = await requestDrain({ ...s, codec: payloadCodec(config.PAYLOAD_KEYS) }, id, actorOf(config));
    if (!values.wait) {
      io.out(values.json ? JSON.stringify({ worker_id: id, draining: true, in_flight: w.in_flight }) : `${id} drains: ${w.in_flight} job(s) running there finish, then it exits`);
      return EXIT.ok;
    }
    const deadline = Date.now() + timeoutS * 1000;
    while (Date.now() < deadline) {
      const alive = await listWorkers({ jsm: s.jsm, bucket: config.RUNNER_WORKERS_BUCKET });
      if (!alive.some((x) => x.worker_id === id)) {
        io.out(values.json ? JSON.stringify({ worker_id: id, drained: true }) : `${id} drained and exited`);
        return EXIT.ok;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    io.out(values.json ? JSON.stringify({ worker_id: id, drained: false }) : `${id} still runs after ${timeoutS} s`);
    return EXIT.failed;
  }, { role: 'operator', streams: [`KV_${config.RUNNER_CONTROL_BUCKET}`, `KV_${config.RUNNER_WORKERS_BUCKET}`] });
}

export async function workersSetCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, allowPositionals: true, options: { ...COMMON_OPTIONS, concurrency: { type: 'string' } } });
  if (values.help) {
    io.out(WORKERS_SET_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('workers set takes one worker id (altlas workers lists them)');
  const n = Number(values.concurrency);
  if (values.concurrency === undefined || !Number.isInteger(n) || n < 1 || n > MAX_CONCURRENCY) throw new UsageError(`--concurrency takes a whole number from 1 to ${MAX_CONCURRENCY}`);
  const [id] = positionals;
  const config = configFrom(values);
  return withNats(config, async (s) => {
    const w = await setWorkerConcurrency({ ...s, codec: payloadCodec(config.PAYLOAD_KEYS) }, id, n, actorOf(config));
    io.out(values.json ? JSON.stringify({ worker_id: id, concurrency: n, was: w.concurrency }) : `${id}: concurrency ${w.concurrency} → ${n}`);
    return EXIT.ok;
  }, { role: 'operator', streams: [`KV_${config.RUNNER_CONTROL_BUCKET}`, `KV_${config.RUNNER_WORKERS_BUCKET}`] });
}
