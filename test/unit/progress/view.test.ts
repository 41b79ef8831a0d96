import { describe, expect, it } from '@jest/globals';
import type { ProgressMessage } from '../../../src/progress/message.ts';
import { TaskPrinter } from '../../../src/progress/printer.ts';
import { ProgressView, type ViewEvent } from '../../../src/progress/view.ts';

type Opts = Partial<Pick<ProgressMessage, 'alt_seq' | 'deliveries' | 'task_attempt' | 'http_attempt'>>;
/** Messages of one attempt: text pieces, then (when `end` is given) its end counting every byte. */
function attempt(task: string, id: string, texts: string[], end: 'ok' | 'transient' | null, o: Opts = {}): ProgressMessage[] {
  const head = { v: 1 as const, job: 'j', alt_seq: 1, deliveries: 1, task, task_attempt: 1, http_attempt: 1, attempt: id, ...o };
  const out: ProgressMessage[] = texts.map((text, index) => ({ ...head, type: 'chunk', index, text }));
  if (end) out.push({ ...head, type: 'end', index: texts.length, text: '', outcome: end, failure: end === 'ok' ? null : 'stream_cut', code: null, bytes: Buffer.byteLength(texts.join('')) });
  return out;
}
const fold = (view: ProgressView, messages: ProgressMessage[]) => messages.flatMap((m) => view.apply(m));
const kinds = (events: ViewEvent[]) => events.map((e) => (e.type === 'text' ? `text:${e.text}` : e.type === 'attempt' ? `attempt:${e.ref.attempt}<${e.previous?.ref.attempt ?? ''}` : e.type === 'end' ? `end:${e.end.outcome}:${e.end.complete}` : e.type === 'gap' ? `gap:${e.from}-${e.to}` : `run:${e.alt_seq}<${e.previous}`));

describe('ProgressView', () => {
  it('shows a task\'s attempts one after the other, each announced, and sets aside a superseded attempt\'s late messages', () => {
    const view = new ProgressView({ keepText: true });
    const [a0, a1] = attempt('t1', 'A', ['Hel', 'lo'], 'transient');
    const b = attempt('t1', 'B', ['Hello', ' world'], 'ok', { http_attempt: 2 });
    const events = fold(view, [a0, b[0], a1, b[1], b[2]]);
    expect(kinds(events)).toEqual(['run:1<null', 'attempt:A<', 'text:Hel', 'attempt:B<A', 'text:Hello', 'text: world', 'end:ok:true']);
    expect(events[3]).toMatchObject({ previous: { end: null } });
    expect(view.counts).toEqual({ stale: 1, repeated: 0, missing: 0 });
    expect(view.tasks()).toEqual([{ task: 't1', ref: expect.objectContaining({ attempt: 'B', http_attempt: 2 }), text: 'Hello world', end: { outcome: 'ok', failure: null, code: null, complete: true } }]);
  });

  it('takes each index once and reports the ones that never came', () => {
    const view = new ProgressView();
    const [m0, m1, m2, end] = attempt('t1', 'A', ['a', 'b', 'c'], 'ok');
    const events = fold(view, [m0, m0, m2, m1, end]);
    expect(kinds(events)).toEqual(['run:1<null', 'attempt:A<', 'text:a', 'gap:1-1', 'text:c', 'end:ok:false']);
    expect(view.counts).toEqual({ stale: 0, repeated: 2, missing: 1 });
  });

  it('follows the newest run of the job, or only the one asked for; an older delivery\'s new attempt is set aside', () => {
    const run1 = attempt('t1', 'A', ['old'], null, { alt_seq: 4 });
    const run2 = attempt('t1', 'B', ['new'], 'ok', { alt_seq: 9 });
    expect(kinds(fold(new ProgressView(), [...run1, ...run2, ...attempt('t1', 'C', ['late'], null, { alt_seq: 4 })]))).toEqual(['run:4<null', 'attempt:A<', 'text:old', 'run:9<4', 'attempt:B<', 'text:new', 'end:ok:true']);
    expect(kinds(fold(new ProgressView({ altSeq: 4 }), [...run1, ...run2]))).toEqual(['run:4<null', 'attempt:A<', 'text:old']);
    const view = new ProgressView();
    const redelivered = attempt('t1', 'R', ['again'], null, { deliveries: 2 });
    const stale = attempt('t1', 'S', ['stale run'], null, { deliveries: 1, http_attempt: 2 });
    expect(kinds(fold(view, [...attempt('t1', 'A', ['first'], null), ...redelivered, ...stale]))).toEqual(['run:1<null', 'attempt:A<', 'text:first', 'attempt:R<A', 'text:again']);
    expect(view.counts.stale).toBe(1);
  });
});

describe('TaskPrinter', () => {
  const print = (messages: ProgressMessage[]) => {
    let out = '';
    const view = new ProgressView();
    const printer = new TaskPrinter((t) => (out += t), 'j');
    for (const m of messages) for (const e of view.apply(m)) printer.onEvent(e);
    printer.finish();
    return out;
  };

  it('prints task by task: a task running beside the one shown waits until that one ended', () => {
    const t1 = attempt('t1', 'A', ['one ', 'two'], 'ok');
    const t2 = attempt('t2', 'B', ['uno ', 'dos'], 'ok');
    expect(print([t1[0], t2[0], t2[1], t1[1], t2[2], t1[2]])).toBe('── t1 ──\none two\n── t2 ──\nuno dos\n');
  });

  it('when the task in focus ends, writes the tasks that ended meanwhile whole and gives the focus to the first still running, live', () => {
    let out = '';
    const view = new ProgressView();
    const printer = new TaskPrinter((t) => (out += t), 'j');
    const feed = (ms: ProgressMessage[]) => ms.forEach((m) => view.apply(m).forEach((e) => printer.onEvent(e)));
    const [a0, aEnd] = attempt('t1', 'A', ['one'], 'ok');
    const [b0, bEnd] = attempt('t2', 'B', ['two'], 'ok');
    const [c0, c1, cEnd] = attempt('t3', 'C', ['three ', 'and more'], 'ok');
    feed([a0, b0, c0, bEnd]);
    expect(out).toBe('── t1 ──\none');
    feed([aEnd]);
    expect(out).toBe('── t1 ──\none\n── t2 ──\ntwo\n── t3 ──\nthree ');
    feed([c1]);
    expect(out).toBe('── t1 ──\none\n── t2 ──\ntwo\n── t3 ──\nthree and more');
    feed([cEnd]);
    printer.finish();
    expect(out).toBe('── t1 ──\none\n── t2 ──\ntwo\n── t3 ──\nthree and more\n');
  });

  it('shows the switch to a new attempt instead of gluing two attempts together', () => {
    const dead = attempt('t1', 'A', ['The answ'], null);
    const again = attempt('t1', 'B', ['The answer.'], 'ok', { deliveries: 2 });
    expect(print([...dead, ...again])).toBe('── t1 ──\nThe answ\n── t1: attempt 1, delivery 2; the attempt before stopped without its end (its worker may have died) ──\nThe answer.\n');
    const cut = attempt('t1', 'A', ['Par'], 'transient');
    const retry = attempt('t1', 'B', ['Partial'], 'ok', { http_attempt: 2 });
    expect(print([...cut, ...retry])).toBe('── t1 ──\nPar\n── t1: the attempt ended transient (stream_cut) ──\n── t1: attempt 1, request 2; the attempt before ended transient (stream_cut) ──\nPartial\n');
  });

  it('moves on from a task whose run died when a newer delivery starts another task', () => {
    const dead = attempt('t1', 'A', ['half'], null);
    const t2 = attempt('t2', 'B', ['two'], 'ok', { deliveries: 2 });
    const t1 = attempt('t1', 'C', ['whole'], 'ok', { deliveries: 2 });
    expect(print([...dead, ...t2, ...t1])).toBe('── t1 ──\nhalf\n── t1: stopped without its end (its worker may have died); delivery 2 runs the job now ──\n── t2 ──\ntwo\n── t1: attempt 1, delivery 2; the attempt before stopped without its end (its worker may have died) ──\nwhole\n');
  });
});
