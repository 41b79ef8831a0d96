/**
 * Integration harness: a nats-server, the fake orchestrator, worker processes (`bin/altlas
 * worker`) and a client that publishes `.alt` and collects `.last` and DLQ records.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { FakeOrchestrator } from '../../src/ai/fake-orchestrator.ts';
import type { Last } from '../../src/last/index.ts';
import { NatsServer, type NatsServerOptions } from '../../src/devtools/nats-server.ts';
import { ROOT } from './paths.ts';
import { until } from './ai.ts';

export interface StoredRecord {
  subject: string;
  seq: number;
  headers: MsgHdrs | undefined;
  data: Uint8Array;
}

export class WorkerProcess {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;

  constructor(env: NodeJS.ProcessEnv) {
    this.proc = spawn(join(ROOT, 'bin', 'altlas'), ['worker'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      this.lines.push(...parts);
    });
    this.proc.stderr!.on('data', (c: Buffer) => this.lines.push(c.toString()));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  }

  /** Parsed JSON log lines with the given message. */
  logs(message: string): { [key: string]: unknown }[] {
    return this.lines.flatMap((l) => {
      try {
        const j = JSON.parse(l);
        return j.message === message ? [j] : [];
      } catch {
        return [];
      }
    });
  }

  /** Resolves on the worker's own "worker started" line; rejects when it exits first (no fixed budget but a generous cap). */
  async started(limitMs = 120_000): Promise<void> {
    await until(() => this.logs('worker started').length > 0 || this.proc.exitCode !== null || this.proc.signalCode !== null, 'the worker to start', limitMs);
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`worker exited before it started:\n${this.lines.join('\n')}`);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
  }
}

export class Harness {
  readonly server: NatsServer;
  readonly fake: FakeOrchestrator;
  readonly aiUrl: string;
  readonly workers: WorkerProcess[] = [];
  nc!: NatsConnection;
  js!: JetStreamClient;
  jsm!: JetStreamManager;

  private constructor(server: NatsServer, fake: FakeOrchestrator, aiUrl: string) {
    this.server = server;
    this.fake = fake;
    this.aiUrl = aiUrl;
  }

  static async start(serverOptions?: NatsServerOptions, fakeOptions: ConstructorParameters<typeof FakeOrchestrator>[0] = {}): Promise<Harness> {
    const server = await NatsServer.start(serverOptions);
    const fake = new FakeOrchestrator(fakeOptions);
    const h = new Harness(server, fake, await fake.listen());
    await h.connect();
    return h;
  }

  async connect(): Promise<void> {
    this.nc = await connect({ servers: this.server.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    // A generous API timeout: on a machine busy with other suites a stream's creation can take seconds.
    this.js = jetstream(this.nc, { timeout: 30_000 });
    this.jsm = await jetstreamManager(this.nc, { timeout: 30_000 });
  }

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      NATS_URL: this.server.url, AI_URL: this.aiUrl, LOG_LEVEL: 'info', HTTP_PORT: '0',
      RUNNER_NAK_DELAY_MS: '200', RUNNER_NAK_MAX_DELAY_MS: '1000', AI_RETRY_BASE_MS: '20', AI_RETRY_MAX_MS: '100', ...extra,
    };
  }

  async worker(extra: NodeJS.ProcessEnv = {}): Promise<WorkerProcess> {
    const w = new WorkerProcess(this.env(extra));
    this.workers.push(w);
    await w.started();
    return w;
  }

  /** Publishes an `.alt` payload to alt.submit; returns its ALT stream sequence. */
  async publish(data: Uint8Array | string, hdrs: Record<string, string> = {}, subject = 'alt.submit'): Promise<number> {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
    const ack = await this.js.publish(subject, typeof data === 'string' ? new TextEncoder().encode(data) : data, { headers: h });
    return ack.seq;
  }

  /** Every message stored in a stream, in order. */
  async records(stream: string): Promise<StoredRecord[]> {
    const info = await this.jsm.streams.info(stream).catch(() => null);
    if (!info || info.state.messages === 0) return [];
    const out: StoredRecord[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await this.jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (m) out.push({ subject: m.subject, seq: m.seq, headers: m.header, data: m.data });
    }
    return out;
  }

  async lasts(): Promise<{ last: Last; headers: MsgHdrs | undefined; subject: string }[]> {
    return (await this.records('LAST')).map((r) => ({ last: JSON.parse(new TextDecoder().decode(r.data)) as Last, headers: r.headers, subject: r.subject }));
  }

  async waitForLasts(n: number, limitMs = 30_000): Promise<Awaited<ReturnType<Harness['lasts']>>> {
    return eventually(() => this.lasts(), (l) => l.length >= n, `${n} .last results`, limitMs);
  }

  async consumer() {
    return this.jsm.consumers.info('ALT', 'runner');
  }

  async close(): Promise<void> {
    for (const w of this.workers) w.kill('SIGKILL');
    await Promise.all(this.workers.map((w) => w.exited));
    await this.nc?.close().catch(() => {});
    await this.fake.close();
    await this.server.dispose();
  }
}

/** Polls an async condition until it holds (bounded). */
export async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, limitMs = 30_000): Promise<T> {
  const end = Date.now() + limitMs;
  let last: T = await read();
  while (!ok(last)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
    last = await read();
  }
  return last;
}

/** A small valid runner-form job with a unique id and `tasks` chained tasks. */
export function job(id: string, tasks = 3, text = 'step'): string {
  return JSON.stringify({
    id, version: '1.0', created_at: '2025-05-01T00:00:00Z', title: `job ${id}`,
    tasks: Array.from({ length: tasks }, (_, i) => ({ id: `t${i + 1}`, description: `${text} ${i + 1} of ${id}`, dependencies: i ? [`t${i}`] : [] })),
  });
}
