/** The service's HTTP endpoints: `/healthz` (alive), `/readyz` (ready for work), `/metrics` (Prometheus text). */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
  /** What the process is doing while not ready (connecting to NATS, checking the topology, ...). */
  reason?: string;
}

export interface HttpOptions {
  port: number;
  host?: string;
  readiness: () => Readiness;
  /** Writes the Prometheus exposition; absent when metrics are off. */
  metrics?: (req: IncomingMessage, res: ServerResponse) => void;
}

export class HttpServer {
  readonly #server: Server;
  readonly #o: HttpOptions;

  constructor(options: HttpOptions) {
    this.#o = options;
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.keepAliveTimeout = 5_000;
  }

  /** Listens; resolves with the port (useful with port 0). */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.port, this.#o.host ?? '0.0.0.0', () => resolve());
    });
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'method not allowed' });
    if (path === '/healthz') return json(200, { status: 'ok' });
    if (path === '/readyz') {
      const r = this.#o.readiness();
      return json(r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', checks: r.checks, ...(r.reason ? { reason: r.reason } : {}) });
    }
    if (path === '/metrics') {
      if (!this.#o.metrics) return json(404, { error: 'metrics are off' });
      return this.#o.metrics(req, res);
    }
    json(404, { error: 'not found' });
  }
}
