import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { createUser } from '@nats-io/nkeys';
import { jetstream } from '@nats-io/jetstream';
import { connectionOptions } from '../../src/messaging/connect.ts';
import { loadConfig } from '../../src/config/load.ts';
import { job } from '../helpers/runner.ts';
import { NatsServer } from '../../src/devtools/nats-server.ts';
import { FakeOrchestrator } from '../../src/ai/fake-orchestrator.ts';
import { WorkerProcess } from '../helpers/runner.ts';
import { makeCerts, makeCreds, removeMadeFiles } from '../helpers/auth.ts';
import { eventually } from '../helpers/runner.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  removeMadeFiles();
});

/** Starts a server with `serverConfig`, a worker with `env`, publishes one job through `clientEnv`, and expects its .last. */
async function roundTrip(serverConfig: string, env: Record<string, string>, scheme: 'nats' | 'tls' = 'nats') {
  const server = await NatsServer.start({ config: serverConfig, scheme });
  cleanups.push(() => server.dispose());
  const fake = new FakeOrchestrator();
  const aiUrl = await fake.listen();
  cleanups.push(() => fake.close());
  const worker = new WorkerProcess({ NATS_URL: server.url, AI_URL: aiUrl, HTTP_PORT: '0', LOG_LEVEL: 'info', ...env });
  cleanups.push(async () => {
    worker.kill('SIGKILL');
    await worker.exited;
  });
  await worker.started();
  const nc = await connect(connectionOptions(loadConfig({ NATS_URL: server.url, ...env }), 'test-client', 'producer'));
  cleanups.push(() => nc.close());
  const js = jetstream(nc);
  await js.publish('alt.submit', job('secure-1', 1));
  const jsm = await js.jetstreamManager();
  const info = await eventually(() => jsm.streams.info('LAST'), (i) => i.state.messages === 1, 'the .last');
  expect(info.state.messages).toBe(1);
  const stored = await jsm.streams.getMessage('LAST', { seq: info.state.first_seq });
  expect(stored?.header.get('Alt-Id')).toBe('secure-1');
}

describe('connections', () => {
  it('connects over TLS with a CA', async () => {
    const c = makeCerts();
    await roundTrip(`tls { cert_file: "${c.serverCert}", key_file: "${c.serverKey}" }`, { NATS_TLS_CA: c.ca }, 'tls');
  });

  it('connects over mutual TLS with a client certificate', async () => {
    const c = makeCerts();
    await roundTrip(`tls { cert_file: "${c.serverCert}", key_file: "${c.serverKey}", ca_file: "${c.ca}", verify: true }`,
      { NATS_TLS_CA: c.ca, NATS_TLS_CERT: c.clientCert, NATS_TLS_KEY: c.clientKey }, 'tls');
  });

  it('is refused by a mutual-TLS server without a client certificate', async () => {
    const c = makeCerts();
    const server = await NatsServer.start({ config: `tls { cert_file: "${c.serverCert}", key_file: "${c.serverKey}", ca_file: "${c.ca}", verify: true }`, scheme: 'tls' });
    cleanups.push(() => server.dispose());
    const options = connectionOptions(loadConfig({ NATS_URL: server.url, NATS_TLS_CA: c.ca }), 'test', 'reader');
    // The server drops the handshake without a client certificate: the client never gets connected.
    await expect(connect({ ...options, waitOnFirstConnect: false, maxReconnectAttempts: 0, timeout: 3000 })).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('connects with a creds file (operator mode)', async () => {
    const { serverConfig, credsFile } = makeCreds();
    await roundTrip(serverConfig, { NATS_CREDS: credsFile });
  });

  it('connects with an NKey seed file', async () => {
    const user = createUser();
    const dir = mkdtempSync(join(tmpdir(), 'altlas-nkey-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'user.nk'), new TextDecoder().decode(user.getSeed()));
    await roundTrip(`authorization { users = [ { nkey: ${user.getPublicKey()} } ] }`, { NATS_NKEY: join(dir, 'user.nk') });
  });

  it('connects with user and password, and with a token', async () => {
    await roundTrip('authorization { user: runner, password: "s3cret-pass" }', { NATS_USER: 'runner', NATS_PASSWORD: 's3cret-pass' });
    while (cleanups.length) await cleanups.pop()!();
    await roundTrip('authorization { token: "t0ken-abc" }', { NATS_TOKEN: 't0ken-abc' });
  });
});

