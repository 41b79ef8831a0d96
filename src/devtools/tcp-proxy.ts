/**
 * A TCP proxy for tests and benchmarks that cut connections on purpose: it forwards to a target
 * (a nats-server), and {@link TcpProxy.cut} destroys every connection through it, optionally
 * refusing new ones for a while, so that clients see a disconnect and reconnect through it.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpProxy {
  readonly #server: Server;
  readonly #pairs = new Set<[Socket, Socket]>();
  #refuseUntil = 0;
  /** Connections cut so far. */
  cuts = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Listens on a free port of 127.0.0.1 and forwards to `port` there. */
  static async start(port: number): Promise<TcpProxy> {
    let proxy: TcpProxy | null = null;
    const server = createServer((client) => proxy!.#accept(client, port));
    proxy = new TcpProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Connections open now. */
  get open(): number {
    return this.#pairs.size;
  }

  /** Destroys every connection (or the ones `which` picks), and refuses new ones for `refuseMs`. */
  cut(refuseMs = 0, which: (index: number) => boolean = () => true): number {
    this.#refuseUntil = Date.now() + refuseMs;
    let n = 0;
    [...this.#pairs].forEach((pair, i) => {
      if (!which(i)) return;
      pair[0].destroy();
      pair[1].destroy();
      this.#pairs.delete(pair);
      n++;
    });
    this.cuts += n;
    return n;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket, port: number): void {
    if (Date.now() < this.#refuseUntil) {
      client.destroy();
      return;
    }
    const upstream = connect(port, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.#pairs.delete(pair);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
