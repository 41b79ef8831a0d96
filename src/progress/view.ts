/**
 * What a person following a job sees, folded from its progress messages (pure): per task the
 * current attempt and its text, attempt switches shown as such (never two attempts glued
 * together), and each attempt's end. The newest run of the job is followed (a job published
 * again has a new ALT sequence); within it, a new attempt of a task supersedes the one before,
 * whose late messages are set aside; an attempt of an older delivery than the task's current one
 * is set aside too. Within an attempt, each index is taken once, in order: a repeated one is
 * dropped, a missing one reported.
 */
import type { ProgressEnd, ProgressMessage } from './message.ts';

/** Who an attempt is. */
export interface AttemptRef {
  attempt: string;
  task: string;
  alt_seq: number | null;
  deliveries: number | null;
  task_attempt: number | null;
  http_attempt: number;
}

/** How an attempt ended; `complete` when every byte its end counts was seen. */
export interface AttemptEnd {
  outcome: ProgressEnd['outcome'];
  failure: string | null;
  code: string | null;
  complete: boolean;
}

export type ViewEvent =
  /** A run of the job began: the first one seen, or a newer publication of it (`previous` its ALT sequence). */
  | { type: 'run'; alt_seq: number | null; previous: number | null }
  /** An attempt of a task began; `previous` is the attempt it supersedes and how that one ended (null: it did not). */
  | { type: 'attempt'; task: string; ref: AttemptRef; previous: { ref: AttemptRef; end: AttemptEnd | null } | null }
  | { type: 'text'; task: string; attempt: string; index: number; text: string }
  | { type: 'end'; task: string; attempt: string; end: AttemptEnd }
  /** Messages of an attempt that never came (`from` to `to`, both included). */
  | { type: 'gap'; task: string; attempt: string; from: number; to: number };

interface AttemptState {
  ref: AttemptRef;
  next: number;
  bytes: number;
  gaps: number;
  end: AttemptEnd | null;
  text: string[];
}

interface TaskState {
  current: AttemptState;
  attempts: Map<string, AttemptState>;
}

export interface ViewOptions {
  /** Follow only this run (the ALT sequence of one publication); default the newest seen. */
  altSeq?: number | null;
  /** Keep each current attempt's text (the dashboard shows it); default false. */
  keepText?: boolean;
}

/** What was set aside (tests, benchmarks). */
export interface ViewCounts {
  /** Messages of a superseded attempt or an older run. */
  stale: number;
  /** Messages of an attempt taken already (same index). */
  repeated: number;
  /** Messages of an attempt that never came. */
  missing: number;
}

export class ProgressView {
  readonly #o: ViewOptions;
  readonly #tasks = new Map<string, TaskState>();
  #run: number | null | undefined = undefined;
  readonly counts: ViewCounts = { stale: 0, repeated: 0, missing: 0 };

  constructor(options: ViewOptions = {}) {
    this.#o = options;
  }

  /** The ALT sequence of the run followed (undefined before any message, null when unknown). */
  get run(): number | null | undefined {
    return this.#run;
  }

  /** Each task's current attempt: who, its text so far (with keepText) and its end. */
  tasks(): { task: string; ref: AttemptRef; text: string; end: AttemptEnd | null }[] {
    return [...this.#tasks].map(([task, t]) => ({ task, ref: t.current.ref, text: t.current.text.join(''), end: t.current.end }));
  }

  /** Folds one message in; returns what a person should see of it. */
  apply(m: ProgressMessage): ViewEvent[] {
    const out: ViewEvent[] = [];
    if (this.#o.altSeq != null && m.alt_seq !== this.#o.altSeq) {
      this.counts.stale++;
      return out;
    }
    if (this.#run === undefined || (m.alt_seq !== null && (this.#run === null || m.alt_seq > this.#run))) {
      const previous = this.#run ?? null;
      this.#run = m.alt_seq;
      this.#tasks.clear();
      out.push({ type: 'run', alt_seq: m.alt_seq, previous });
    } else if (m.alt_seq !== null && this.#run !== null && m.alt_seq < this.#run) {
      this.counts.stale++;
      return out;
    }
    const t = this.#tasks.get(m.task);
    let a = t?.attempts.get(m.attempt);
    if (!a) {
      // An attempt of an older delivery than the task's current one is a run that lost the job.
      if (t && (m.deliveries ?? 0) < (t.current.ref.deliveries ?? 0)) {
        this.counts.stale++;
        return out;
      }
      const ref: AttemptRef = { attempt: m.attempt, task: m.task, alt_seq: m.alt_seq, deliveries: m.deliveries, task_attempt: m.task_attempt, http_attempt: m.http_attempt };
      a = { ref, next: 0, bytes: 0, gaps: 0, end: null, text: [] };
      out.push({ type: 'attempt', task: m.task, ref, previous: t ? { ref: t.current.ref, end: t.current.end } : null });
      if (t) {
        t.current.text = [];
        t.current = a;
        t.attempts.set(m.attempt, a);
      } else this.#tasks.set(m.task, { current: a, attempts: new Map([[m.attempt, a]]) });
    } else if (a !== t!.current) {
      this.counts.stale++;
      return out;
    }
    if (a.end || m.index < a.next) {
      this.counts.repeated++;
      return out;
    }
    if (m.index > a.next) {
      out.push({ type: 'gap', task: m.task, attempt: m.attempt, from: a.next, to: m.index - 1 });
      this.counts.missing += m.index - a.next;
      a.gaps += m.index - a.next;
    }
    a.next = m.index + 1;
    if (m.text) {
      a.bytes += Buffer.byteLength(m.text);
      if (this.#o.keepText) a.text.push(m.text);
      out.push({ type: 'text', task: m.task, attempt: m.attempt, index: m.index, text: m.text });
    }
    if (m.type === 'end') {
      a.end = { outcome: m.outcome, failure: m.failure, code: m.code, complete: a.gaps === 0 && a.bytes === m.bytes };
      out.push({ type: 'end', task: m.task, attempt: m.attempt, end: a.end });
    }
    return out;
  }
}
