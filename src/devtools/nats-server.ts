/**
 * Starts a real `nats-server -js` (the binary on PATH) for tests, benchmarks and the demo: a free port, a temporary store directory, killed
 * and removed at the end. It can be stopped and started again on the same port and store.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The nats-server binary: NATS_SERVER_BIN, else the first `nats-server` on PATH or in the sbin
 * folders where Debian installs it; null when there is none.
 */
export function findNatsServer(): string | null {
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin'];
  for (const d of dirs) if (d && existsSync(join(d, 'nats-server'))) return join(d, 'nats-server');
  return null;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface NatsServerOptions {
  /** Port to listen on; default a free one. */
  port?: number;
  /** Extra lines of a nats-server configuration file (TLS, accounts, ...). */
  config?: string;
  /** Scheme of the URL handed out (tls for TLS servers). */
  scheme?: 'nats' | 'tls';
  /** Lines put inside the jetstream { } block (encryption keys, limits). */
  jetstream?: string;
}

export class NatsServer {
  readonly port: number;
  readonly dir: string;
  readonly options: NatsServerOptions;
  /** The server's log lines (the last 5,000), across restarts. */
  readonly log: string[] = [];
  #proc: ChildProcess | null = null;

  private constructor(port: number, options: NatsServerOptions) {
    this.port = port;
    this.options = options;
    this.dir = mkdtempSync(join(tmpdir(), 'altlas-nats-'));
  }

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(options.port ?? (await freePort()), options);
    await server.restart();
    return server;
  }

  /** The server process's pid while it runs. */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  get url(): string {
    return `${this.options.scheme ?? 'nats'}://127.0.0.1:${this.port}`;
  }

  /** Starts the server process (again) on the same port and store; resolves when it accepts clients. */
  async restart(): Promise<void> {
    if (this.#proc) throw new Error('nats-server is running');
    const conf = join(this.dir, 'server.conf');
    writeFileSync(conf, `listen: 127.0.0.1:${this.port}\njetstream { store_dir: "${join(this.dir, 'js')}"\n${this.options.jetstream ?? ''} }\n${this.options.config ?? ''}\n`);
    const bin = findNatsServer();
    if (!bin) throw new Error('nats-server not found: install it (Debian: apt-get install nats-server) or set NATS_SERVER_BIN');
    const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#proc = proc;
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`nats-server did not start:\n${log}`)), 15_000);
      proc.stderr!.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code}:\n${log}`));
      });
      proc.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    proc.stderr!.removeAllListeners('data');
    let rest = '';
    proc.stderr!.on('data', (chunk: Buffer) => {
      const parts = (rest + chunk.toString()).split('\n');
      rest = parts.pop()!;
      this.log.push(...parts);
      if (this.log.length > 5_000) this.log.splice(0, this.log.length - 5_000);
    });
    proc.removeAllListeners('exit');
    proc.removeAllListeners('error');
  }

  /** Stops the server process (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      proc.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      proc.kill('SIGTERM');
    });
  }

  /** Kills the server process with a signal (SIGKILL: no flush, as a crash) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill(signal);
    });
  }

  /** True while the server process runs. */
  get running(): boolean {
    return this.#proc !== null;
  }

  /** Stops the server and removes its store. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A cluster of nats-servers with JetStream on loopback (3 by default), for tests of leader loss. */
export class NatsCluster {
  readonly servers: NatsServer[];

  private constructor(servers: NatsServer[]) {
    this.servers = servers;
  }

  static async start(size = 3, name = 'altlas'): Promise<NatsCluster> {
    const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
    const clusterPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
    const routes = clusterPorts.map((p) => `nats-route://127.0.0.1:${p}`).join(', ');
    const servers = await Promise.all(ports.map((port, i) => NatsServer.start({
      port,
      config: `server_name: n${i + 1}\ncluster { name: ${name}, listen: 127.0.0.1:${clusterPorts[i]}, routes: [${routes}] }`,
    })));
    return new NatsCluster(servers);
  }

  /** NATS_URL with every server. */
  get url(): string {
    return this.servers.map((s) => s.url).join(',');
  }

  async dispose(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.dispose()));
  }
}
