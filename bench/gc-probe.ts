/**
 * Loaded into an `altlas worker` with `NODE_OPTIONS=--import <this file>` by ./inflight-heap.ts: on
 * SIGUSR2 it collects garbage fully (twice) and writes one line to stderr, `gc-probe {...}`: the
 * heap used and committed, the RSS, external memory and the anonymous memory of the process
 * (/proc/self/smaps_rollup), in bytes.
 */
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

process.on('SIGUSR2', () => {
  gc();
  gc();
  const mu = process.memoryUsage();
  const anon = Number(/^Anonymous:\s+(\d+)/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? 0) * 1024;
  process.stderr.write(`gc-probe ${JSON.stringify({ heapUsed: mu.heapUsed, heapTotal: mu.heapTotal, rss: mu.rss, external: mu.external, anon })}\n`);
});
