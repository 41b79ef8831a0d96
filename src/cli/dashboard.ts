/** `altlas dashboard`: the live web page of the fleet (see src/dashboard/). */
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { connectNats, type Connection } from '../messaging/connect.ts';
import { createLogger } from '../telemetry/logger.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom } from './context.ts';
import { EXIT, UsageError, parseOptionsOnly, type Io } from './output.ts';

export const DASHBOARD_HELP = `Usage: altlas dashboard [--port 8090] [--host 127.0.0.1] [options]

Serves a live web page of the fleet: jobs (newest first, filters, a counter per state), one job's
task graph with its timing, attempts, errors, output previews, .last and trace link, the dead
letters with their originals, the workers and the consumer, and jobs/s and failures/s over the
last 15 minutes. Updates arrive over Server-Sent Events fed by KV watches (one set per dashboard
process, not per browser). Actions (replay, purge, cancel) need DASHBOARD_TOKEN, given as a
bearer token; the fleet's controls (pause and resume the intake, drain a worker, set a worker's
concurrency) need DASHBOARD_OPERATOR_TOKEN, which allows the actions too; without either the
page is read-only. DASHBOARD_TRACE_URL turns trace ids into links
(e.g. http://localhost:16686/trace/{trace_id}). The page and GET /healthz answer at once; until NATS
and the buckets are there, the page says what it waits for.
  --port N      port to listen on (default 8090; 0 picks a free one)
  --host ADDR   address to bind (default 127.0.0.1: this machine only; 0.0.0.0: every interface)
${COMMON_HELP}

Exit: 0 after SIGINT/SIGTERM; 1 NATS or the buckets cannot be used; 2 usage error.`;

/** The page's address as a browser should use it: a wildcard bind is reached at this host's name (and at 127.0.0.1 here). */
export function pageUrl(a: AddressInfo, host = hostname()): string {
  const wildcard = a.address === '0.0.0.0' || a.address === '::';
  const name = wildcard ? '127.0.0.1' : a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return `http://${name}:${a.port}${wildcard ? ` (all interfaces: also http://${host}:${a.port})` : ''}`;
}

export async function dashboardCommand(argv: string[], io: Io): Promise<number> {
  const values = parseOptionsOnly(argv, io, { ...COMMON_OPTIONS, port: { type: 'string', default: '8090' }, host: { type: 'string', default: '127.0.0.1' } }, DASHBOARD_HELP, 'dashboard takes no arguments');
  if (!values) return EXIT.ok;
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UsageError('--port must be a port number');
  const config = configFrom(values);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const { Dashboard } = await import('../dashboard/server.ts');
  // NATS attempts are logged by the connection; the wait for the buckets is said once here.
  let waitedForBuckets = false;
  const dashboard = new Dashboard({
    config, port, host: values.host,
    onWaiting: (what) => {
      if (/buckets do not exist/.test(what)) {
        waitedForBuckets = true;
        io.err(`altlas dashboard: ${what}; waiting for them`);
      } else if (!what && waitedForBuckets) io.err('altlas dashboard: the buckets are there; the page shows the fleet');
    },
  });
  let conn: Connection | null = null;
  try {
    // The page answers at once; it shows what it waits for (NATS, the buckets) until it has data.
    let address: AddressInfo;
    try {
      address = await dashboard.listen();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UsageError(`port ${port} on ${values.host} is in use (another dashboard?): choose another with --port (0 picks a free one)`);
      throw e;
    }
    io.out(`dashboard on ${pageUrl(address)} (${config.DASHBOARD_TOKEN || config.DASHBOARD_OPERATOR_TOKEN ? `actions need DASHBOARD_TOKEN${config.DASHBOARD_OPERATOR_TOKEN ? ', fleet controls DASHBOARD_OPERATOR_TOKEN' : ''}` : 'read-only: DASHBOARD_TOKEN is not set'}); Ctrl-C stops it`);
    const logger = createLogger({ level: 'warn', stream: process.stderr });
    try {
      // With a token it takes actions (the operator's replies); without, it only reads.
      conn = await connectNats(config, 'altlas-dashboard', { role: config.DASHBOARD_TOKEN || config.DASHBOARD_OPERATOR_TOKEN ? 'operator' : 'reader', logger, signal: stop.signal, onAttempt: (s) => dashboard.waitFor(s) });
    } catch {
      return stop.signal.aborted ? EXIT.ok : EXIT.failed;
    }
    dashboard.waitFor('opening the status buckets');
    await dashboard.attach(conn.nc, stop.signal);
    await new Promise<void>((resolve) => (stop.signal.aborted ? resolve() : stop.signal.addEventListener('abort', () => resolve(), { once: true })));
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await dashboard.close();
    if (conn) await conn.nc.drain().catch(() => conn?.nc.close());
  }
}
