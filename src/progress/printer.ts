/**
 * Prints a job's progress for a person, task by task: the text of one task is written as it
 * comes while the text of tasks running beside it waits, and is written when the first one's
 * attempt ended. A new attempt of a task gets a line saying so and why the one before stopped,
 * so two attempts are never glued together. Lines start with `── `.
 */
import type { AttemptEnd, AttemptRef, ViewEvent } from './view.ts';

interface Piece {
  text: string;
  line: boolean;
}

/** `attempt 2, request 3, delivery 2`: what is not the first of each. */
export function describeAttempt(ref: AttemptRef): string {
  const parts = [`attempt ${ref.task_attempt ?? '?'}`];
  if (ref.http_attempt > 1) parts.push(`request ${ref.http_attempt}`);
  if (ref.deliveries !== null && ref.deliveries > 1) parts.push(`delivery ${ref.deliveries}`);
  return parts.join(', ');
}

/** How an attempt ended, in words. */
export function describeEnd(end: AttemptEnd | null): string {
  if (!end) return 'stopped without its end (its worker may have died)';
  if (end.outcome === 'ok') return end.complete ? 'ended complete' : 'ended with text missing';
  return `ended ${end.outcome}${end.failure && end.failure !== end.outcome ? ` (${end.failure})` : ''}${end.code ? ` ${end.code}` : ''}`;
}

export class TaskPrinter {
  readonly #write: (text: string) => void;
  readonly #jobId: string;
  #focus: string | null = null;
  /** Output of tasks not in focus, in the order they first had some. */
  readonly #pending = new Map<string, Piece[]>();
  /** Tasks whose current attempt ended. */
  readonly #ended = new Set<string>();
  readonly #current = new Map<string, AttemptRef>();
  #atLineStart = true;

  constructor(write: (text: string) => void, jobId: string) {
    this.#write = write;
    this.#jobId = jobId;
  }

  onEvent(e: ViewEvent): void {
    switch (e.type) {
      case 'run':
        if (e.previous === null) return;
        this.finish();
        this.#ended.clear();
        this.#current.clear();
        this.#line(`── a newer run of ${this.#jobId} (ALT sequence ${e.alt_seq ?? '?'}) ──`);
        return;
      case 'attempt': {
        const focus = this.#focus === null ? null : this.#current.get(this.#focus);
        // A newer delivery runs the job: the task in focus will not end in the run that stopped.
        if (focus && e.task !== this.#focus && !this.#ended.has(this.#focus!) && (e.ref.deliveries ?? 0) > (focus.deliveries ?? 0)) {
          this.#emit(this.#focus!, `── ${this.#focus}: ${describeEnd(null)}; delivery ${e.ref.deliveries} runs the job now ──`, true);
          this.#ended.add(this.#focus!);
          this.#advance();
        }
        this.#current.set(e.task, e.ref);
        this.#ended.delete(e.task);
        const header = e.previous === null ? `── ${e.task} ──` : `── ${e.task}: ${describeAttempt(e.ref)}; the attempt before ${describeEnd(e.previous.end)} ──`;
        this.#emit(e.task, header, true);
        return;
      }
      case 'text':
        this.#emit(e.task, e.text, false);
        return;
      case 'gap':
        this.#emit(e.task, `── ${e.task}: ${e.to - e.from + 1} message(s) of this attempt never came ──`, true);
        return;
      case 'end':
        if (e.end.outcome !== 'ok' || !e.end.complete) this.#emit(e.task, `── ${e.task}: the attempt ${describeEnd(e.end)} ──`, true);
        this.#ended.add(e.task);
        if (e.task === this.#focus) this.#advance();
    }
  }

  /** Writes everything still waiting, task by task, and ends the line. */
  finish(): void {
    this.#focus = null;
    for (const [task, pieces] of [...this.#pending]) {
      this.#pending.delete(task);
      for (const p of pieces) this.#put(p);
    }
    if (!this.#atLineStart) this.#put({ text: '', line: true });
  }

  #emit(task: string, text: string, line: boolean): void {
    if (this.#focus === null) this.#focus = task;
    if (task === this.#focus) return this.#put({ text, line });
    const pieces = this.#pending.get(task);
    if (pieces) pieces.push({ text, line });
    else this.#pending.set(task, [{ text, line }]);
  }

  /** The task in focus ended: the next one with output waiting takes its place (and any that ended meanwhile are written whole). */
  #advance(): void {
    this.#focus = null;
    if (!this.#atLineStart) this.#put({ text: '', line: true });
    for (const [task, pieces] of [...this.#pending]) {
      this.#pending.delete(task);
      this.#focus = task;
      for (const p of pieces) this.#put(p);
      if (!this.#ended.has(task)) return;
      this.#focus = null;
      if (!this.#atLineStart) this.#put({ text: '', line: true });
    }
  }

  #put(p: Piece): void {
    if (p.line) {
      this.#write(`${this.#atLineStart ? '' : '\n'}${p.text}${p.text ? '\n' : ''}`);
      this.#atLineStart = true;
    } else if (p.text) {
      this.#write(p.text);
      this.#atLineStart = p.text.endsWith('\n');
    }
  }

  #line(text: string): void {
    this.#put({ text, line: true });
  }
}
