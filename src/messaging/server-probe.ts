/**
 * What answers at a NATS URL that gave no NATS greeting in time: a NATS server greets every new
 * connection with `INFO {…}` at once, so a port that stays silent, or answers an HTTP request, is
 * not a NATS client port (the monitoring port 8222 is the usual mistake). The probe uses its own
 * socket, bounded in time, and always closes it.
 */
import { connect as tcpConnect } from 'node:net';

/** Milliseconds the probe waits for a greeting, then for an answer to an HTTP request. */
export const PROBE_WAIT_MS = 600;

/** Host and port of a NATS URL (`nats://h:p`, `tls://h:p`, `h:p`, `h`), default port 4222. */
export function hostPort(url: string): { host: string; port: number } | null {
  const m = /^(?:[a-z][a-z0-9+.-]*:\/\/)?(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?/i.exec(url.trim());
  if (!m) return null;
  return { host: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 4222 };
}

const printable = (b: Buffer) => b.toString('latin1').replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, 60);

/**
 * Says what answered at `url` when it is not a NATS server (an HTTP server, another protocol,
 * a silent port); null when it greets as NATS does, or cannot be reached at all (the connection
 * error says more then).
 */
export function probeServer(url: string, waitMs = PROBE_WAIT_MS): Promise<string | null> {
  const at = hostPort(url);
  if (!at) return Promise.resolve(null);
  return new Promise((resolve) => {
    let data = Buffer.alloc(0);
    let timer: NodeJS.Timeout | undefined;
    const socket = tcpConnect(at.port, at.host);
    const done = (what: string | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(what);
    };
    const judge = () => {
      const text = data.toString('latin1');
      if (text.startsWith('INFO ')) return done(null);
      if (text.startsWith('HTTP/')) return done(`an HTTP server answered (${printable(data.subarray(0, data.indexOf('\r') > 0 ? data.indexOf('\r') : 40))}), not NATS: is this the monitoring port? NATS clients connect to the client port (4222 by default)`);
      if (data.length) return done(`a server that does not speak NATS answered ("${printable(data)}")`);
      return done('the port accepts connections but nothing there greets as a NATS server does');
    };
    socket.setTimeout(waitMs * 3, () => done(null));
    socket.on('error', () => done(null));
    socket.on('connect', () => {
      // A NATS server greets at once; a silent server is asked over HTTP what it is.
      timer = setTimeout(() => {
        if (data.length) return judge();
        socket.write(`GET / HTTP/1.0\r\nHost: ${at.host}\r\n\r\n`);
        timer = setTimeout(judge, waitMs);
      }, waitMs);
    });
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      // A greeting or a status line ends with a line break; a long first chunk says enough too.
      if (data.includes('\n') || data.length >= 64) judge();
    });
    socket.on('end', judge);
  });
}
