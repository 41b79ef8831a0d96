/**
 * What `npm run chaos` counts, from raw records only (never from the runner's own counters): runs of a
 * message read from the workers' JSON `run started` / `run ended` lines, the runs of one message
 * that overlap in time, AI requests made for a job after its `.last` was stored, and the answers
 * the AI gave twice for one prompt, each set against the failure that explains it (or none).
 * Pure functions over plain data, so that each count is unit-tested on small inputs.
 */

/** A `.last` as the LAST stream holds it: its job, the delivery that made it (its `metadata.deliveries`), when it was stored. */
export interface StoredLast {
  job: string;
  deliveries: number;
  at: number;
}

/** A span of time in milliseconds since the epoch, [from, to). */
export interface Span {
  from: number;
  to: number;
}

/** One run of a delivery in one worker, from its `run started` line to its `run ended` line. */
export interface Run {
  worker: string;
  seq: number;
  deliveries: number;
  start: number;
  end: number;
  /** The `outcome` of its `run ended` line; null when the worker died in the run (no end line). */
  outcome: string | null;
  altId: string | null;
}

/**
 * The runs in one worker's output (JSON lines; anything else is skipped). A run the worker never
 * ended (killed in it, or still running) lasts until `endOfLog`: the time the worker died, or now.
 */
export function runsFromLines(worker: string, lines: Iterable<string>, endOfLog: number): Run[] {
  const runs: Run[] = [];
  const open = new Map<string, { seq: number; deliveries: number; start: number }>();
  for (const raw of lines) {
    if (!raw.includes('"run ')) continue;
    let l: Record<string, unknown>;
    try {
      l = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (l.message !== 'run started' && l.message !== 'run ended') continue;
    const seq = Number(l.alt_stream_seq);
    const deliveries = Number(l.deliveries);
    const at = Date.parse(String(l.timestamp));
    if (!Number.isFinite(seq) || !Number.isFinite(at)) continue;
    const key = `${seq}/${deliveries}`;
    if (l.message === 'run started') {
      open.set(key, { seq, deliveries, start: at });
      continue;
    }
    const s = open.get(key);
    open.delete(key);
    runs.push({ worker, seq, deliveries, start: s?.start ?? at, end: at, outcome: typeof l.outcome === 'string' ? l.outcome : null, altId: typeof l.alt_id === 'string' ? l.alt_id : null });
  }
  for (const s of open.values()) runs.push({ worker, ...s, end: Math.max(s.start, endOfLog), outcome: null, altId: null });
  return runs;
}

/** Milliseconds two sets of spans share. */
function shared(a: readonly Span[], b: readonly Span[]): number {
  let ms = 0;
  for (const x of a) for (const y of b) ms += Math.max(0, Math.min(x.to, y.to) - Math.max(x.from, y.from));
  return ms;
}

export interface Overlap {
  seq: number;
  a: Run;
  b: Run;
  /** Milliseconds both ran, outside the times their workers were stopped. */
  ms: number;
}

/** A run held across a pause of its worker that ended after it without doing anything more. */
export interface Tail {
  run: Run;
  /** Milliseconds from the worker's SIGCONT to the run's `run ended` line. */
  ms: number;
}

/**
 * Pairs of runs of one message (one ALT stream sequence) that ran at the same time, from their run
 * lines. A run held across a pause of its worker (SIGSTOP; the spans in `frozen`, per worker) that
 * ended `abandon` (it sent nothing on the message), with no AI request for its job from its worker
 * between the pause's end and its own and no `.last` of its delivery stored after the pause
 * (`lasts`), did nothing during or after the pause: it counts as ended
 * when its worker stopped, and the time it took to write its end line after SIGCONT is returned as
 * a tail. A held run that went on after the pause (it acked, handed back, rejected, asked the AI, or
 * stored a `.last`)
 * held the job all through the pause. Every pair is compared (not only neighbours), so a long run
 * overlapping two short ones counts twice.
 */
export function overlappingRuns(runs: readonly Run[], frozen: ReadonlyMap<string, readonly Span[]> = new Map(), calls: readonly Call[] = [], lasts: readonly StoredLast[] = []): { overlaps: Overlap[]; tails: Tail[] } {
  const bySeq = new Map<number, { run: Run; live: Span[] }[]>();
  const tails: Tail[] = [];
  for (const run of runs) {
    let live: Span[] = [{ from: run.start, to: run.end }];
    const held = (frozen.get(run.worker) ?? []).filter((f) => f.from > run.start && f.to <= run.end);
    if (held.length > 0 && run.outcome === 'abandon') {
      const stopped = held[0].from;
      const resumed = held[held.length - 1].to;
      const asked = calls.some((c) => c.worker === run.worker && c.job === run.altId && c.start >= resumed && c.start <= run.end);
      const stored = lasts.some((l) => l.job === run.altId && l.deliveries === run.deliveries && l.at >= resumed);
      if (!asked && !stored) {
        live = [{ from: run.start, to: stopped }];
        tails.push({ run, ms: run.end - resumed });
      }
    }
    (bySeq.get(run.seq) ?? bySeq.set(run.seq, []).get(run.seq)!).push({ run, live });
  }
  const overlaps: Overlap[] = [];
  for (const [seq, list] of bySeq) {
    list.sort((x, y) => x.run.start - y.run.start);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const ms = shared(list[i].live, list[j].live);
        if (ms > 0) overlaps.push({ seq, a: list[i].run, b: list[j].run, ms });
      }
    }
  }
  return { overlaps, tails };
}

/** One AI request as a worker's own fake AI saw it. */
export interface Call {
  worker: string;
  job: string;
  /** The task (the prompt): answers to one prompt beyond the first were paid again. */
  prompt: string;
  start: number;
  /** When the answer ended or the connection closed; null while open. */
  end: number | null;
  /** HTTP status of the answer; null when the client went away before it. */
  status: number | null;
}

/** AI requests that reached the AI after their job's first `.last` was stored (`stored`: Alt-Id → time). */
export function callsAfterLast(calls: readonly Call[], stored: ReadonlyMap<string, number>): (Call & { afterMs: number })[] {
  const out: (Call & { afterMs: number })[] = [];
  for (const c of calls) {
    const t = stored.get(c.job);
    if (t !== undefined && c.start > t) out.push({ ...c, afterMs: c.start - t });
  }
  return out;
}

/**
 * A failure injected by the harness: `worker` null hits every worker (the nats-server killed). One that
 * lasts (a pause, from SIGSTOP to SIGCONT; the server down; a killed worker, for ever) has an `until`:
 * a call or run that met any part of it met the failure (the harness's own clock may note a request
 * written just before the failure only after it).
 */
export interface Failure {
  at: number;
  until?: number;
  worker: string | null;
  what: string;
}

/** The failures of `worker` (or of every worker) that met the span [from, to]. */
function meeting(failures: readonly Failure[], worker: string, from: number, to: number): Failure[] {
  return failures.filter((f) => (f.worker === null || f.worker === worker) && f.at <= to && (f.until ?? f.at) >= from);
}

export interface Repaid {
  /** The first answer was in flight when a failure hit its worker: the README's bound allows it. */
  inFlight: number;
  /** The first answer was complete, a failure hit its worker before the second, and the job's AI work completed by then was within the checkpoint budget. */
  withinBudget: number;
  /** Neither: no failure of the first answer's worker explains it, or more completed work than the budget was paid again. */
  beyond: (Call & { first: Call })[];
  /** Answers (status 200) in all. */
  paid: number;
}

/**
 * Answers the AI gave twice (or more) for one prompt, each set against the bound the README states:
 * a crash re-pays at most `budgetMs` of completed AI work per job, plus the calls in flight at it.
 * Each answer after the first is judged against the first: a failure of the first answer's worker
 * while it was in flight, or after it ended (before the second started) with the job's completed AI
 * time up to that failure within the budget. Anything else is beyond the bound.
 */
export function repaidCalls(calls: readonly Call[], failures: readonly Failure[], budgetMs: number): Repaid {
  const byJob = new Map<string, Call[]>();
  let paid = 0;
  for (const c of calls) {
    if (c.status !== 200) continue;
    paid++;
    (byJob.get(c.job) ?? byJob.set(c.job, []).get(c.job)!).push(c);
  }
  const out: Repaid = { inFlight: 0, withinBudget: 0, beyond: [], paid };
  for (const answered of byJob.values()) {
    answered.sort((a, b) => a.start - b.start);
    const first = new Map<string, Call>();
    for (const c of answered) {
      const earlier = first.get(c.prompt);
      if (!earlier) {
        first.set(c.prompt, c);
        continue;
      }
      const end = earlier.end ?? c.start;
      if (meeting(failures, earlier.worker, earlier.start, end).length > 0) {
        out.inFlight++;
        continue;
      }
      const cause = meeting(failures, earlier.worker, end, c.start)[0];
      // The job's AI work complete by the failure: the first answers of its prompts that ended before it.
      const done = cause ? [...first.values()].filter((x) => x.worker === earlier.worker && (x.end ?? Infinity) <= cause.at).reduce((a, x) => a + ((x.end ?? x.start) - x.start), 0) : Infinity;
      if (done <= budgetMs) out.withinBudget++;
      else out.beyond.push({ ...c, first: earlier });
    }
  }
  return out;
}

/** The highest delivery count each message ran with (`run started` lines), by sequence. */
export function deliveriesPerMessage(runs: readonly Run[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const r of runs) out.set(r.seq, Math.max(out.get(r.seq) ?? 0, r.deliveries));
  return out;
}

/**
 * Redeliveries no failure explains: a run of delivery k > 1 whose delivery k − 1 ran on a worker that
 * no failure hit between that run's start and this one's (a nak or an abandon with nothing to cause
 * it), or, when delivery k − 1 never ran (handed back or lost unread), with no failure of any worker
 * in the `windowMs` before it.
 */
export function unexplainedRedeliveries(runs: readonly Run[], failures: readonly Failure[], windowMs: number): { run: Run; previous: Run | null }[] {
  const byKey = new Map<string, Run>();
  for (const r of [...runs].sort((a, b) => a.start - b.start)) if (!byKey.has(`${r.seq}/${r.deliveries}`)) byKey.set(`${r.seq}/${r.deliveries}`, r);
  const out: { run: Run; previous: Run | null }[] = [];
  for (const r of byKey.values()) {
    if (r.deliveries <= 1) continue;
    const previous = byKey.get(`${r.seq}/${r.deliveries - 1}`) ?? null;
    const explained = previous
      ? meeting(failures, previous.worker, previous.start, r.start).length > 0
      : failures.some((f) => f.at <= r.start && (f.until ?? f.at) >= r.start - windowMs);
    if (!explained) out.push({ run: r, previous });
  }
  return out;
}
