/**
 * Where a job's wait went, from publish to its first AI request, split into parts from the
 * instants each process stamps: the publisher's own (publish), a worker's debug lines (`lane job
 * pulled`: doorbell, pull request, receipt; `job decoded`; `task finished` less its duration: the
 * task's start) and the fake AI's log (the request seen). Every process reads the same clock.
 */
import { readFileSync } from 'node:fs';
import type { LanePullTiming } from '../src/messaging/lane-intake.ts';

/** The parts of a wait, in order; they add up to the whole. */
export const PARTS = [
  'publish -> doorbell at the worker',
  'doorbell -> pull request sent',
  'pull request -> job received',
  'received -> job decoded',
  'decoded -> task started',
  'task started -> the AI saw the request',
] as const;

/** What a worker's `lane job pulled` debug line carries. */
type Pulled = Omit<LanePullTiming, 'alt_stream_seq' | 'lane' | 'tenant'>;

interface Seen {
  pulled?: Pulled;
  decodedAt?: number;
  taskAt?: number;
}

/** What the workers' log files say of the given stream sequences (the first run of each). */
export function readWorkerLines(files: string[], seqs: ReadonlySet<number>): Map<number, Seen> {
  const out = new Map<number, Seen>();
  for (const file of files) {
    for (const text of readFileSync(file, 'utf8').split('\n')) {
      if (!text.includes('"alt_stream_seq"')) continue;
      let l: Record<string, unknown>;
      try {
        l = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue;
      }
      const seq = Number(l.alt_stream_seq);
      if (!seqs.has(seq)) continue;
      const seen = out.get(seq) ?? {};
      out.set(seq, seen);
      const at = Date.parse(String(l.timestamp));
      if (l.message === 'lane job pulled') seen.pulled ??= l as unknown as Pulled;
      else if (l.message === 'job decoded') seen.decodedAt ??= at;
      else if (l.message === 'task finished') seen.taskAt ??= at - Number(l.duration_ms);
    }
  }
  return out;
}

export interface Split {
  /** Jobs split (those with every stamp). */
  jobs: number;
  /** Per part: p50, p95 (ms), and the mean over the slowest 5 % of the jobs (by whole wait). */
  parts: { part: string; p50: number; p95: number; slowMean: number }[];
  /** The whole wait p95 of the jobs split. */
  wholeP95: number;
  /** publish -> stored by the server, p95. */
  storedP95: number;
  /** Jobs pulled more than once after their doorbell (an empty answer first), made a consumer for, or whose doorbell found a request open. */
  repulled: number;
  consumerMade: number;
  openAtBell: number;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;

/** Splits the waits of jobs published at `publishedAt` (ms) with stream sequence `seq`, seen by the AI at `aiAt`. */
export function splitWaits(jobs: { publishedAt: number; seq: number; aiAt: number }[], lines: Map<number, Seen>): Split {
  const rows: { whole: number; parts: number[]; stored: number; p: Pulled }[] = [];
  for (const j of jobs) {
    const s = lines.get(j.seq);
    if (!s?.pulled || s.decodedAt === undefined || s.taskAt === undefined) continue;
    const p = s.pulled;
    // A doorbell older than the publish was another job's: this one was found by a pull that followed.
    const noticed = p.bell_at >= j.publishedAt ? p.bell_at : p.requested_at;
    const parts = [noticed - j.publishedAt, p.requested_at - noticed, p.received_at - p.requested_at, s.decodedAt - p.received_at, s.taskAt - s.decodedAt, j.aiAt - s.taskAt];
    rows.push({ whole: j.aiAt - j.publishedAt, parts, stored: p.stored_at - j.publishedAt, p });
  }
  const slow = [...rows].sort((a, b) => b.whole - a.whole).slice(0, Math.max(1, Math.ceil(rows.length * 0.05)));
  return {
    jobs: rows.length,
    parts: PARTS.map((part, i) => ({
      part, p50: pct(rows.map((r) => r.parts[i]), 0.5), p95: pct(rows.map((r) => r.parts[i]), 0.95),
      slowMean: Math.round(slow.reduce((a, r) => a + r.parts[i], 0) / slow.length),
    })),
    wholeP95: pct(rows.map((r) => r.whole), 0.95),
    storedP95: pct(rows.map((r) => r.stored), 0.95),
    repulled: rows.filter((r) => r.p.pulls_since_bell > 1).length,
    consumerMade: rows.filter((r) => r.p.consumer_made_at >= r.p.bell_at && r.p.bell_at > 0).length,
    openAtBell: rows.filter((r) => r.p.open_at_bell).length,
  };
}

/** The split of two runs side by side (alone, beside the flood), one line per part. */
export function splitTable(alone: Split, flooded: Split): string[] {
  const out = [`  ${'part of B\'s wait (ms)'.padEnd(44)} ${'alone p50 / p95 / slowest 5 %'.padEnd(32)} beside the flood p50 / p95 / slowest 5 %`];
  const cell = (x: Split['parts'][number]) => `${x.p50} / ${x.p95} / ${x.slowMean}`;
  for (let i = 0; i < PARTS.length; i++) out.push(`  ${PARTS[i].padEnd(44)} ${cell(alone.parts[i]).padEnd(32)} ${cell(flooded.parts[i])}`);
  out.push(`  ${'whole wait p95 (jobs split)'.padEnd(44)} ${`${alone.wholeP95} (${alone.jobs})`.padEnd(32)} ${flooded.wholeP95} (${flooded.jobs})`);
  out.push(`  ${'publish -> stored by the server, p95'.padEnd(44)} ${String(alone.storedP95).padEnd(32)} ${flooded.storedP95}`);
  out.push(`  ${'jobs pulled again / consumer made / request open at doorbell'.padEnd(44)} ${`${alone.repulled} / ${alone.consumerMade} / ${alone.openAtBell}`.padEnd(32)} ${flooded.repulled} / ${flooded.consumerMade} / ${flooded.openAtBell}`);
  return out;
}
