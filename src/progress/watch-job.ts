/**
 * Follows one job until its `.last` is stored: its progress (stored, then live, resumed after a
 * disconnect) folded into what a person sees, and its `.last` (stored already, or as it is
 * stored). The job may not be published yet: it waits. It ends once the `.last` of the run it
 * follows is stored and the progress stored before it was read (a task's progress is stored
 * before the task ends, so before the `.last`). `altlas watch`, `altlas publish --wait --stream`
 * and the benchmark follow jobs with it.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Msg, NatsConnection } from '@nats-io/nats-core';
import type { Config } from '../config/schema.ts';
import { HEADERS, subjectToken } from '../contract/subjects.ts';
import type { Codec } from '../security/codec.ts';
import type { Last } from '../last/index.ts';
import { ProgressFollower } from './follow.ts';
import { decodeProgress, encodeProgress, type ProgressMessage } from './message.ts';
import { onReconnect, untilAnswered } from './reconnect.ts';
import { ProgressView, type ViewEvent } from './view.ts';

export type WatchConfig = Pick<Config, 'LAST_STREAM' | 'LAST_SUBJECT_PREFIX' | 'PROGRESS_STREAM' | 'PROGRESS_SUBJECT_PREFIX' | 'PROGRESS_LIVE_PREFIX'>;

export interface WatchJobOptions {
  nc: NatsConnection;
  jsm: Pick<JetStreamManager, 'streams'>;
  config: WatchConfig;
  codec: Codec;
  jobId: string;
  /** Follow only this publication of the job (its ALT sequence); default the newest. */
  altSeq?: number;
  /** What a person should see, as it comes. */
  onEvent(e: ViewEvent): void;
  /** Each message as the follower gave it (benchmarks). */
  onMessage?(m: ProgressMessage, seq: number): void;
  /** Stops the watch: it resolves with `last: null`. */
  signal?: AbortSignal;
  /** Keep the current attempt's text per task in the view. */
  keepText?: boolean;
  /** Called once when nothing of the job is stored yet (neither progress nor a .last): it waits. */
  onWaiting?(): void;
}

export interface WatchResult {
  /** The job's `.last`, or null when the watch was stopped first. */
  last: Last | null;
  /** Its ALT sequence. */
  altSeq: number | null;
  view: ProgressView;
  follower: ProgressFollower;
}

/**
 * Runs a made-up attempt through what handles a progress message (decode, view, `onEvent`) once,
 * before anything is awaited: a process that follows a job pays for compiling that code now, not
 * when the first text of the answer arrives (in a fresh process, that first message was the
 * slowest part of the time to first token).
 */
export function warmUp(codec: Codec, onEvent: (e: ViewEvent) => void): void {
  const head = { v: 1 as const, job: '', alt_seq: 0, deliveries: 1, task: 'warm-up', task_attempt: 1, http_attempt: 1, attempt: 'warm-up' };
  const view = new ProgressView();
  const messages: ProgressMessage[] = [{ ...head, type: 'chunk', index: 0, text: 'x' }, { ...head, type: 'end', index: 1, text: '', outcome: 'ok', failure: null, code: null, bytes: 1 }];
  for (const m of messages) {
    const decoded = decodeProgress(encodeProgress(m, codec, { set() {} }), codec);
    for (const e of view.apply(decoded!)) onEvent(e);
  }
}

/** Opens a stored `.last` body. */
function openLast(data: Uint8Array, codec: Codec): Last {
  return JSON.parse(Buffer.from(codec.open(data, 'last')).toString('utf8')) as Last;
}

export async function watchJob(o: WatchJobOptions): Promise<WatchResult> {
  const { nc, jsm, config, codec } = o;
  const view = new ProgressView({ altSeq: o.altSeq, keepText: o.keepText });
  let unreadable: Error | null = null;
  const follower = new ProgressFollower({
    nc, jsm, stream: config.PROGRESS_STREAM, prefix: config.PROGRESS_SUBJECT_PREFIX, livePrefix: config.PROGRESS_LIVE_PREFIX, jobId: o.jobId, codec,
    onMessage: (m, seq) => {
      o.onMessage?.(m, seq);
      for (const e of view.apply(m)) o.onEvent(e);
    },
    onUnreadable: (_seq, e) => {
      // A sealed message without its key stops the watch; a body that is not progress is skipped.
      if (!e) return;
      unreadable ??= e;
      wake?.();
    },
  });
  // .last results of the job: stored ones, and those stored from now on.
  const lasts = new Map<number, Uint8Array>();
  let wake: (() => void) | null = null;
  const lastSubject = `${config.LAST_SUBJECT_PREFIX}.${subjectToken(o.jobId)}`;
  let closed = false;
  let unwatch = () => {};
  const sub = nc.subscribe(lastSubject, {
    callback: (err, m: Msg) => {
      const seq = Number(m.headers?.get(HEADERS.altStreamSeq));
      if (err || !Number.isInteger(seq) || m.headers?.get(HEADERS.altId) !== o.jobId) return;
      lasts.set(seq, m.data);
      wake?.();
    },
  });
  try {
    await nc.flush();
    const readStored = async () => {
      const stored = await untilAnswered(() => jsm.streams.getMessage(config.LAST_STREAM, { last_by_subj: lastSubject }), () => o.signal?.aborted === true || closed);
      const storedSeq = Number(stored?.header?.get(HEADERS.altStreamSeq));
      if (stored && Number.isInteger(storedSeq) && stored.header.get(HEADERS.altId) === o.jobId) lasts.set(storedSeq, stored.data);
      wake?.();
    };
    await readStored();
    // A .last stored while the connection was down was never heard: read it after each reconnect.
    unwatch = onReconnect(nc, () => void readStored().catch(() => {}));
    await follower.start();
    if (view.run === undefined && lasts.size === 0) o.onWaiting?.();
    // The run followed: the one asked for, else the newest seen in progress or in a .last (both only grow).
    const target = () => o.altSeq ?? Math.max(view.run ?? 0, ...lasts.keys());
    const done = () => [...lasts.keys()].find((seq) => (o.altSeq === undefined ? seq >= target() : seq === o.altSeq));
    for (;;) {
      if (unreadable) throw unreadable;
      const seq = done();
      if (seq !== undefined && lasts.size > 0) {
        // Everything the run stored before its .last is read before the watch ends.
        await follower.catchUp();
        if (unreadable) throw unreadable;
        return { last: openLast(lasts.get(seq)!, codec), altSeq: seq, view, follower };
      }
      if (o.signal?.aborted) return { last: null, altSeq: null, view, follower };
      await new Promise<void>((resolve) => {
        const finish = () => {
          o.signal?.removeEventListener('abort', finish);
          wake = null;
          resolve();
        };
        o.signal?.addEventListener('abort', finish, { once: true });
        wake = finish;
      });
    }
  } finally {
    closed = true;
    unwatch();
    sub.unsubscribe();
    follower.stop();
  }
}
