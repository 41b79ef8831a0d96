/**
 * `altlas demo` (`npm run demo`): the whole chain in one command. Uses the NATS server at
 * NATS_URL, or starts a local `nats-server -js` with a temporary store when nothing listens
 * there; starts the fake orchestrator and a worker; publishes the shipped samples (valid and
 * invalid); prints the results and the DLQ; then stops everything it started, also on Ctrl-C.
 */
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { FakeOrchestrator } from '../ai/fake-orchestrator.ts';
import { NatsServer, findNatsServer, freePort } from '../devtools/nats-server.ts';
import { spawnWorker, type WorkerChild } from '../devtools/worker-process.ts';
import { dlqCommand } from './dlq.ts';
import { publishCommand } from './publish.ts';
import { resultsCommand } from './results.ts';
import { EXIT, parseCommandArgs, type Io } from './output.ts';

export const DEMO_HELP = `Usage: altlas demo [--server URL] [--samples DIR]

Runs the whole chain once: NATS (the server at NATS_URL, or a local nats-server it starts), the
fake AI orchestrator, a worker; publishes the shipped samples, prints their results and the dead
letters, and stops everything it started. The demo uses its own streams and buckets (DEMO_ALT,
DEMO_LAST, DEMO_DLQ, DEMO_RUNS, DEMO_CHECKPOINTS, DEMO_OUTPUTS, DEMO_BODIES) and removes them
at the end.`;

const DEMO = {
  ALT_STREAM: 'DEMO_ALT', ALT_SUBJECTS: 'demo.alt.>', LAST_STREAM: 'DEMO_LAST', LAST_SUBJECT_PREFIX: 'demo.last',
  DLQ_STREAM: 'DEMO_DLQ', DLQ_SUBJECT_PREFIX: 'demo.dlq.alt', RUNNER_DURABLE: 'demo-runner',
  RUNNER_STATUS_BUCKET: 'DEMO_RUNS', RUNNER_CHECKPOINT_BUCKET: 'DEMO_CHECKPOINTS', RUNNER_OBJECT_BUCKET: 'DEMO_OUTPUTS', RUNNER_BODY_BUCKET: 'DEMO_BODIES',
};
/** Every stream the demo creates (the KV and object store buckets are streams too). */
const DEMO_STREAMS = [DEMO.ALT_STREAM, DEMO.LAST_STREAM, DEMO.DLQ_STREAM, `KV_${DEMO.RUNNER_STATUS_BUCKET}`, `KV_${DEMO.RUNNER_CHECKPOINT_BUCKET}`, `OBJ_${DEMO.RUNNER_OBJECT_BUCKET}`, `OBJ_${DEMO.RUNNER_BODY_BUCKET}`];
const FLAGS = ['--alt-stream', DEMO.ALT_STREAM, '--last-stream', DEMO.LAST_STREAM, '--dlq-stream', DEMO.DLQ_STREAM, '--last-prefix', DEMO.LAST_SUBJECT_PREFIX, '--dlq-prefix', DEMO.DLQ_SUBJECT_PREFIX, '--durable', DEMO.RUNNER_DURABLE];

async function reachable(url: string): Promise<boolean> {
  try {
    const nc = await connect({ servers: url.split(','), timeout: 1_500, maxReconnectAttempts: 0, reconnect: false });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}

export async function demoCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: { server: { type: 'string' }, samples: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    io.out(DEMO_HELP);
    return EXIT.ok;
  }
  const samples = values.samples ?? join(import.meta.dirname, '..', '..', 'samples');
  let url = values.server ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  let server: NatsServer | null = null;
  let fake: FakeOrchestrator | null = null;
  let worker: WorkerChild | null = null;
  let cleaned: Promise<void> | null = null;
  const cleanup = () => (cleaned ??= (async () => {
    if (worker) {
      io.out('demo: stopping the worker');
      await worker.stop();
    }
    await fake?.close();
    if (url) {
      try {
        const nc = await connect({ servers: url.split(','), timeout: 2_000, maxReconnectAttempts: 0, reconnect: false });
        const jsm = await jetstreamManager(nc);
        for (const s of DEMO_STREAMS) await jsm.streams.delete(s).catch(() => {});
        await nc.close();
      } catch {
        // the server is gone already
      }
    }
    if (server) {
      io.out('demo: stopping the local nats-server');
      await server.dispose();
    }
  })());
  const onSignal = () => {
    io.err('\ndemo: interrupted, cleaning up');
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (!(await reachable(url))) {
      if (!findNatsServer()) {
        io.err(`demo: nothing listens at ${url} and no nats-server is installed.\nInstall one (Debian/Ubuntu: apt-get install nats-server; or https://github.com/nats-io/nats-server/releases) or set NATS_URL.`);
        return EXIT.failed;
      }
      const port = Number(new URL(url.split(',')[0].replace(/^nats:/, 'http:')).port || 4222);
      server = await NatsServer.start({ port: (await isFree(port)) ? port : await freePort() });
      url = server.url;
      io.out(`demo: started a local nats-server at ${url} (store ${server.dir})`);
    } else io.out(`demo: using the NATS server at ${url}`);
    fake = new FakeOrchestrator({ latencyMs: 150 });
    const aiUrl = await fake.listen();
    io.out(`demo: fake AI orchestrator at ${aiUrl}`);
    worker = spawnWorker({ ...process.env, ...DEMO, NATS_URL: url, AI_URL: aiUrl, LOG_LEVEL: 'info', HTTP_PORT: '0', RUNNER_SHUTDOWN_GRACE_MS: '5000' });
    await worker.started();
    io.out(`demo: worker started (pid ${worker.pid})\n`);
    io.out(`demo: publishing the samples in ${samples} and waiting for their results`);
    const published = await publishCommand(['--server', url, '--subject', 'demo.alt.submit', '--no-validate', '--wait', '--timeout', '60', ...FLAGS, samples], io);
    io.out('\ndemo: altlas results');
    await resultsCommand(['--server', url, ...FLAGS], io);
    io.out('\ndemo: altlas dlq list');
    await dlqCommand(['list', '--server', url, ...FLAGS], io);
    io.out('');
    // Invalid samples are expected to fail: the demo succeeds when every sample got a result.
    return published === EXIT.ok || published === EXIT.failed ? EXIT.ok : published;
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    io.out('demo: done, everything it started is stopped');
  }
}

async function isFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
