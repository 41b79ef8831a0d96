/** Runs of messages read back from the workers' `run started` / `run ended` lines, and the runs of one message that overlap in time. */
import type { WorkerProcess } from './runner.ts';

type Line = Record<string, unknown>;

/** Runs of each message from the run lines of every worker: [start, end] in log order per worker. */
export function runsOf(workers: Pick<WorkerProcess, 'lines'>[]): { seq: number; deliveries: number; worker: string; start: number; end: number }[] {
  const runs: { seq: number; deliveries: number; worker: string; start: number; end: number }[] = [];
  for (const w of workers) {
    const open = new Map<string, Line>();
    for (const raw of w.lines) {
      let l: Line;
      try {
        l = JSON.parse(raw) as Line;
      } catch {
        continue;
      }
      const key = `${String(l.alt_stream_seq)}/${String(l.deliveries)}`;
      if (l.message === 'run started') open.set(key, l);
      else if (l.message === 'run ended') {
        const s = open.get(key);
        open.delete(key);
        if (s) runs.push({ seq: Number(l.alt_stream_seq), deliveries: Number(l.deliveries), worker: String(l.worker_id), start: Date.parse(String(s.timestamp)), end: Date.parse(String(l.timestamp)) });
      }
    }
    // A run still open (the worker was killed in it) lasts until now.
    for (const s of open.values()) runs.push({ seq: Number(s.alt_stream_seq), deliveries: Number(s.deliveries), worker: String(s.worker_id), start: Date.parse(String(s.timestamp)), end: Date.now() });
  }
  return runs;
}

/** Pairs of runs of one message that overlap in time. */
export function overlaps(runs: ReturnType<typeof runsOf>): [ReturnType<typeof runsOf>[number], ReturnType<typeof runsOf>[number]][] {
  const out: [ReturnType<typeof runsOf>[number], ReturnType<typeof runsOf>[number]][] = [];
  const bySeq = new Map<number, ReturnType<typeof runsOf>>();
  for (const r of runs) bySeq.set(r.seq, [...(bySeq.get(r.seq) ?? []), r]);
  for (const list of bySeq.values()) {
    list.sort((a, b) => a.start - b.start);
    for (let i = 1; i < list.length; i++) if (list[i].start < list[i - 1].end) out.push([list[i - 1], list[i]]);
  }
  return out;
}

