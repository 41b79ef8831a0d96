/** The fleet's controls: `altlas pause`, `altlas resume`, `altlas drain <worker>`, `altlas workers set <worker> --concurrency N`. */
import { payloadCodec } from '../security/codec.ts';
import { actorOf } from '../ops/history.ts';
import { APPLY_WAIT_MS, requestDrain, setFleetPaused, setWorkerConcurrency, waitForDrain } from '../ops/control.ts';
import { AltlasError } from '../errors.ts';
import { GONE } from '../status/history.ts';
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
the fleet's history with who asked. A worker is live while its heartbeat is younger than two of
its intervals (RUNNER_HEARTBEAT_MS).
  --wait             wait until the worker has exited: drained (it removed its drain request),
                     or its heartbeat ended before it drained (WORKER_GONE: killed, or stopped
                     and not answering; the jobs it held are redelivered and the request is
                     removed; if it only stopped, it may still drain when it resumes)
  --timeout SECONDS  how long --wait waits (default 600)
${COMMON_HELP}

Exit: 0; 1 no such live worker (WORKER_NOT_FOUND), the worker ended without draining (WORKER_GONE),
or --wait timed out; 2 usage error.`;

export const WORKERS_SET_HELP = `Usage: altlas workers set WORKER-ID --concurrency N [--timeout SECONDS] [--json] [options]

Changes one worker's concurrency live (no restart): with more slots it pulls more work at once;
with fewer, running jobs finish and it pulls again below the new number. Waits for the worker to
report it applied, then prints its concurrency before and after as the worker reported them.
Recorded in the fleet's history with who did it; altlas workers shows the new value.
  --concurrency N    a whole number from 1 to ${MAX_CONCURRENCY}, in decimal digits
  --timeout SECONDS  how long to wait for the worker to report it applied (default ${APPLY_WAIT_MS / 1000})
${COMMON_HELP}

Exit: 0; 1 no such live worker (WORKER_NOT_FOUND), or it did not report applying it in time
(WORKER_NOT_ANSWERING); 2 usage error.`;

/** A --timeout: a positive number of seconds in decimal digits (Number() would take 1e3, 0x4 and ' 3' too). */
function secondsOf(text: string | undefined): number {
  const s = /^[0-9]{1,7}(\.[0-9]{1,3})?$/.test(text ?? '') ? Number(text) : 0;
  if (!(s > 0)) throw new UsageError('--timeout takes a positive number of seconds, in decimal digits');
  return s;
}

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
  const timeoutS = secondsOf(values.timeout);
  const [id] = positionals;
  const config = configFrom(values);
  return withNats(config, async (s) => {
    const w = await requestDrain({ ...s, codec: payloadCodec(config.PAYLOAD_KEYS) }, id, actorOf(config));
    if (!values.wait) {
      io.out(values.json ? JSON.stringify({ worker_id: id, draining: true, in_flight: w.in_flight }) : `${id} drains: ${w.in_flight} job(s) running there finish, then it exits`);
      return EXIT.ok;
    }
    const end = await waitForDrain({ ...s, codec: payloadCodec(config.PAYLOAD_KEYS) }, id, timeoutS * 1000);
    if (end === 'gone') throw new AltlasError('WORKER_GONE', `${id} ${GONE}`, { context: { worker: id } });
    io.out(values.json ? JSON.stringify({ worker_id: id, drained: end === 'drained' }) : end === 'drained' ? `${id} drained and exited` : `${id} still runs after ${timeoutS} s`);
    return end === 'drained' ? EXIT.ok : EXIT.failed;
  }, { role: 'operator', streams: [`KV_${config.RUNNER_CONTROL_BUCKET}`, `KV_${config.RUNNER_WORKERS_BUCKET}`] });
}

export async function workersSetCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, allowPositionals: true, options: { ...COMMON_OPTIONS, concurrency: { type: 'string' }, timeout: { type: 'string', default: String(APPLY_WAIT_MS / 1000) } } });
  if (values.help) {
    io.out(WORKERS_SET_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('workers set takes one worker id (altlas workers lists them)');
  // Decimal digits only: Number() would take 1e3, 0x4 and ' 3' too.
  const n = /^[0-9]{1,6}$/.test(values.concurrency ?? '') ? Number(values.concurrency) : NaN;
  if (!(n >= 1 && n <= MAX_CONCURRENCY)) throw new UsageError(`--concurrency takes a whole number from 1 to ${MAX_CONCURRENCY}, in decimal digits`);
  const timeoutS = secondsOf(values.timeout);
  const [id] = positionals;
  const config = configFrom(values);
  return withNats(config, async (s) => {
    const r = await setWorkerConcurrency({ ...s, codec: payloadCodec(config.PAYLOAD_KEYS) }, id, n, actorOf(config), timeoutS * 1000);
    io.out(values.json ? JSON.stringify(r) : `${id}: concurrency ${r.was} → ${n} (applied)`);
    return EXIT.ok;
  }, { role: 'operator', streams: [`KV_${config.RUNNER_CONTROL_BUCKET}`, `KV_${config.RUNNER_WORKERS_BUCKET}`] });
}
