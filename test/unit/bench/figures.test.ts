/** The last line of bench:worker and bench:peer (their figures as JSON) and the CPU budget by stage they print. */
import { describe, expect, it } from '@jest/globals';
import { jsonLine, peerFigures, workerFigures } from '../../../bench/figures.ts';
import { budgetPerJob, budgetTable, frameStage, sampledByStage, type CpuProfile } from '../../../bench/stages.ts';

describe('the JSON line of bench:worker', () => {
  it('holds every figure by its name, the ratios from the phases and null for parts that did not run', () => {
    const line = jsonLine(workerFigures({
      floor: { jobsPerS: 8000, cpuUsPerJob: 100, serverUsPerJob: 60 },
      worker: { jobsPerS: 6000 },
      default: { jobsPerS: 5400, cpuUsPerJob: 250, serverUsPerJob: 70 },
      'telemetry-100': { jobsPerS: 4860 },
    }, { backlogPeak: 170 * 1024 * 1024, inFlightRss: 190.25 * 1024 * 1024, startMs: 612.4 }));
    expect(line).not.toContain('\n');
    const f = JSON.parse(line);
    expect(f).toMatchObject({
      worker_over_floor: 0.75, default_over_worker: 0.9, telemetry100_over_default: 0.9, telemetry10_over_default: null,
      drain_peak_rss_mb: 170, inflight_rss_mb: 190.3, start_to_first_last_ms: 612, cpu_default_over_floor: 2,
    });
    expect(typeof f.load1).toBe('number');
    expect(JSON.parse(jsonLine(workerFigures({}, null)))).toMatchObject({ worker_over_floor: null, drain_peak_rss_mb: null, start_to_first_last_ms: null });
  });
});

describe('the JSON line of bench:peer', () => {
  it('gives rates and CPU per job of altlas over BullMQ, with and without their servers, and altlas over the floor', () => {
    const f = JSON.parse(jsonLine(peerFigures(
      { jobsPerS: 440, cpuUsPerJob: 2000, serverUsPerJob: 300 },
      { jobsPerS: 400, cpuUsPerJob: 2500, serverUsPerJob: 400 },
      { jobsPerS: 460, cpuUsPerJob: 2100, serverUsPerJob: 250 },
    )));
    expect(f).toMatchObject({ altlas_over_bullmq: 1.1, cpu_altlas_over_bullmq: 0.8, cpu_with_server_altlas_over_bullmq: 0.793, altlas_over_floor: 0.957 });
    // No Redis measured (a remote REDIS_URL): the ratio with the servers is not made up.
    const g = peerFigures({ jobsPerS: 440, cpuUsPerJob: 2000, serverUsPerJob: 300 }, { jobsPerS: 400, cpuUsPerJob: 2500 }, undefined);
    expect(g).toMatchObject({ cpu_with_server_altlas_over_bullmq: null, altlas_over_floor: null, cpu_altlas_over_bullmq: 0.8 });
  });
});

describe('the CPU budget by stage', () => {
  // root → (program) | (garbage collector) | (idle) | node:net onread → nats-core parse → jetstream consumer → src/alt decode → JSON.parse
  //                                                  | src/messaging/worker.ts → got → node:net write
  const frame = (functionName: string, url = '') => ({ functionName, url });
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 3, 4, 5, 10] },
      { id: 2, callFrame: frame('(program)') },
      { id: 3, callFrame: frame('(garbage collector)') },
      { id: 4, callFrame: frame('(idle)') },
      { id: 5, callFrame: frame('onStreamRead', 'node:internal/stream_base_commons'), children: [6] },
      { id: 6, callFrame: frame('processMsg', 'file:///w/node_modules/@nats-io/nats-core/lib/protocol.js'), children: [7] },
      { id: 7, callFrame: frame('next', 'file:///w/node_modules/@nats-io/jetstream/lib/consumer.js'), children: [8] },
      { id: 8, callFrame: frame('decodeAlt', 'file:///w/src/alt/decode.ts'), children: [9] },
      { id: 9, callFrame: frame('parse') },
      { id: 10, callFrame: frame('runJob', 'file:///w/src/messaging/worker.ts'), children: [11] },
      { id: 11, callFrame: frame('post', 'file:///w/node_modules/got/dist/source/core/index.js'), children: [12] },
      { id: 12, callFrame: frame('writeGeneric', 'node:internal/stream_base_commons') },
    ],
    // Each sample stands for the time to the next one.
    samples: [2, 3, 4, 6, 9, 7, 10, 12, 5, 2],
    timeDeltas: [0, 10, 20, 30, 40, 50, 60, 70, 80, 90],
    startTime: 1000,
    endTime: 1500,
  };

  it('gives each sample to the innermost stage on its stack, the client and Node.js internals only when nothing else is', () => {
    const s = sampledByStage(profile);
    expect(Object.fromEntries(s)).toEqual({
      'native (event loop, system calls)': 10, // (program); the last sample has no successor
      'GC (main thread)': 20,
      'NATS client (protocol, parse, flush)': 40,
      'decode (.alt → job)': 50, // JSON.parse under the decoder
      'pull (consumer, flow)': 60,
      'worker, other of ours': 70,
      'AI call: got': 80, // a socket write under got
      'Node.js internals (streams, sockets, timers)': 90,
    });
    expect(s.has('(idle)' as never)).toBe(false);
  });

  it('gives the socket write of what a connection queued to the NATS client, whoever sent it', () => {
    // publish of a `.last` → the coalesced send passes the client's threshold → flushPending → socket write
    const stack = [frame('writeGeneric', 'node:internal/stream_base_commons'), frame('flushPending', 'file:///w/node_modules/@nats-io/nats-core/lib/protocol.js'),
      frame('protocol.sendCommand', 'file:///w/src/messaging/coalesce.ts'), frame('publish', 'file:///w/src/messaging/stream-publish.ts')];
    const first = stack.map(frameStage).find((s) => s?.rank === 9);
    expect(first?.stage).toBe('NATS client (protocol, parse, flush)');
    // The send itself, below the threshold, stays the sender's.
    expect(frameStage(frame('publish', 'file:///w/node_modules/@nats-io/nats-core/lib/protocol.js'))?.rank).toBeLessThan(9);
    expect(frameStage(frame('protocol.sendCommand', 'file:///w/src/messaging/coalesce.ts'))?.stage).toBe('NATS client (protocol, parse, flush)');
  });

  it('counts only the samples inside the window, and scales the shares to the main thread CPU per job', () => {
    // Samples at 1000, 1010, 1030, 1060, 1100, 1150, ...: the window [1055, 1120] holds two.
    expect(Object.fromEntries(sampledByStage(profile, { from: 1055, to: 1120 }))).toEqual({ 'NATS client (protocol, parse, flush)': 40, 'decode (.alt → job)': 50 });
    const budget = budgetPerJob(sampledByStage(profile, { from: 1055, to: 1120 }), 90, 30);
    expect(budget.get('NATS client (protocol, parse, flush)')).toBeCloseTo(40);
    expect(budget.get('decode (.alt → job)')).toBeCloseTo(50);
    expect(budget.get('other threads (GC helpers, compiler, libuv)')).toBe(30);
    const table = budgetTable({ floor: budget, altlas: budget }).split('\n');
    expect(table[0]).toMatch(/^CPU µs per job, by stage\s+floor\s+altlas$/);
    expect(table[1]).toMatch(/^decode \(\.alt → job\)\s+50\s+50$/);
    expect(table.at(-1)).toMatch(/^total\s+120\s+120$/);
  });
});
