/** `altlas dashboard`: the live web page of the fleet (see src/dashboard/). */
import { connectNats } from '../messaging/connect.ts';
import { createLogger } from '../telemetry/logger.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom } from './context.ts';
import { EXIT, UsageError, parseOptionsOnly, type Io } from './output.ts';

export const DASHBOARD_HELP = `Usage: altlas dashboard [--port 8090] [--host 127.0.0.1] [options]

Serves a live web page of the fleet: jobs (newest first, filters, a counter per state), one job's
task graph with its timing, attempts, errors, output previews, .last and trace link, the dead
letters with their originals, the workers and the consumer, and jobs/s and failures/s over the
last 15 minutes. Updates arrive over Server-Sent Events fed by KV watches (one set per dashboard
process, not per browser). Actions (replay, purge, cancel) need DASHBOARD_TOKEN, given as a
bearer token; without it the page is read-only. DASHBOARD_TRACE_URL turns trace ids into links
(e.g. http://localhost:16686/trace/{trace_id}).
  --port N      port to listen on (default 8090; 0 picks a free one)
  --host ADDR   address to bind (default 127.0.0.1: this machine only)
${COMMON_HELP}

Exit: 0 after SIGINT/SIGTERM; 1 NATS or the buckets cannot be used; 2 usage error.`;

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
  const logger = createLogger({ level: 'warn', stream: process.stderr });
  // With DASHBOARD_TOKEN it takes actions (the operator's replies); without, it only reads.
  const conn = await connectNats(config, 'altlas-dashboard', { role: config.DASHBOARD_TOKEN ? 'operator' : 'reader', logger, signal: stop.signal });
  const { Dashboard } = await import('../dashboard/server.ts');
  let dashboard = new Dashboard({ nc: conn.nc, config, port, host: values.host });
  try {
    // Before any worker (or altlas init) created the buckets, wait for them rather than exit.
    let url: string | null = null;
    let told = false;
    while (!url && !stop.signal.aborted) {
      try {
        url = await dashboard.start();
      } catch (e) {
        if (!/not found/i.test((e as Error).message)) throw e;
        if (!told) io.err(`altlas dashboard: the status buckets do not exist yet (start a worker or run "altlas init"); waiting for them`);
        told = true;
        await dashboard.close().catch(() => {});
        dashboard = new Dashboard({ nc: conn.nc, config, port, host: values.host });
        await new Promise((r) => setTimeout(r, 2_000));
      }
    }
    if (!url) return EXIT.ok;
    io.out(`dashboard on ${url} (${config.DASHBOARD_TOKEN ? 'actions need DASHBOARD_TOKEN' : 'read-only: DASHBOARD_TOKEN is not set'}); Ctrl-C stops it`);
    await new Promise<void>((resolve) => (stop.signal.aborted ? resolve() : stop.signal.addEventListener('abort', () => resolve(), { once: true })));
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await dashboard.close();
    await conn.nc.drain().catch(() => conn.nc.close());
  }
}
