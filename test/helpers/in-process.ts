/**
 * The real worker stack (`assembleWorker`) inside the test process, on a Harness's server and fake
 * AI: for scenarios that intercept what crosses the wire (a lost ack, lost lease renewals). Its
 * log lines are kept as parsed JSON.
 */
import { PassThrough } from 'node:stream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { aiTaskBody } from '../../src/tasks/ai-task-body.ts';
import { loadConfig } from '../../src/config/load.ts';
import { aiAnswered, createAiClient } from '../../src/main.ts';
import { AiGate } from '../../src/messaging/ai-gate.ts';
import { connectionOptions } from '../../src/messaging/connect.ts';
import { assembleWorker, type Assembled } from '../../src/runner.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import type { Harness } from './runner.ts';

export interface InProcessWorker {
  stack: Assembled;
  /** The worker's connection (its history goes on one of its own). */
  nc: NatsConnection;
  lines: Record<string, unknown>[];
  logs(message: string): Record<string, unknown>[];
  close(): Promise<void>;
}

/** `pullExpiresMs`: how long one pull request waits on the server (a request left open while paused fills then). */
export async function inProcessWorker(h: Harness, env: Record<string, string> = {}, options: { pullExpiresMs?: number } = {}): Promise<InProcessWorker> {
  const config = loadConfig({ ...h.env(), ...env });
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  stream.on('data', (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  const logger = createLogger({ level: config.LOG_LEVEL, stream, pretty: false });
  const nc = await connect({ ...connectionOptions(config, 'test-worker', 'runner'), waitOnFirstConnect: false });
  const gate = new AiGate({ probeMs: config.AI_BREAKER_HALF_OPEN_MS });
  const client = createAiClient(config, (info) => {
    if (aiAnswered(info)) gate.markUp();
  });
  const stack = await assembleWorker({ conn: { nc, connected: () => !nc.isClosed(), onReconnect: () => {} }, config, logger, gate, client, body: { make: ({ progress }) => aiTaskBody(client, { defaultModel: config.AI_MODEL, progress }) }, ...options });
  return {
    stack, nc, lines,
    logs: (message) => lines.filter((l) => l.message === message),
    async close() {
      await stack.close();
      gate.close();
      await nc.close();
    },
  };
}
