/** What answers at a NATS URL that is not a NATS server: the probe says, and closes its socket. */
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer as httpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { hostPort, probeServer } from '../../../src/messaging/server-probe.ts';

const servers: Server[] = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A TCP server doing `onConnect` with each connection; resolves with its nats:// URL. */
async function tcp(onConnect: (s: Socket) => void): Promise<string> {
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.resume();
    onConnect(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `nats://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('probeServer', () => {
  it('names an HTTP server (the monitoring port), another protocol, and a silent port; says nothing of a NATS server', async () => {
    const http = httpServer((_q, res) => res.end('{}'));
    servers.push(http);
    http.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const httpUrl = `nats://127.0.0.1:${(http.address() as AddressInfo).port}`;
    expect(await probeServer(httpUrl)).toBe('an HTTP server answered (HTTP/1.1 200 OK), not NATS: is this the monitoring port? NATS clients connect to the client port (4222 by default)');
    expect(await probeServer(await tcp((s) => s.write('SSH-2.0-OpenSSH_9.2\r\n')))).toBe('a server that does not speak NATS answered ("SSH-2.0-OpenSSH_9.2")');
    expect(await probeServer(await tcp(() => {}))).toBe('the port accepts connections but nothing there greets as a NATS server does');
    expect(await probeServer(await tcp((s) => s.write('INFO {"server_id":"x"}\r\n')))).toBeNull();
    // Every socket the probe opened is closed again (the servers see each one close).
    await Promise.all([...sockets].map((s) => new Promise((r) => (s.closed ? r(null) : s.once('close', r)))));
    expect(sockets.size).toBe(0);
  });

  it('reads host and port from the URL forms NATS_URL takes', () => {
    expect(['nats://h:1', 'tls://u:p@h:2', 'h', '[::1]:5'].map(hostPort)).toEqual([{ host: 'h', port: 1 }, { host: 'h', port: 2 }, { host: 'h', port: 4222 }, { host: '::1', port: 5 }]);
  });
});
