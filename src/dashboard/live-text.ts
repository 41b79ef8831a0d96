/**
 * The live text of the jobs the dashboard's pages show: one progress follower per job, shared by
 * every browser that has the job open (started by the first, stopped after the last), served as
 * Server-Sent Events: first each task's current attempt with its text so far (`snapshot`), then
 * every change as the follower sees it (`progress`: a new run or attempt, text, an end, a gap).
 */
import type { ServerResponse } from 'node:http';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Config } from '../config/schema.ts';
import { ProgressFollower } from '../progress/follow.ts';
import { ProgressView, type ViewEvent } from '../progress/view.ts';
import type { Codec } from '../security/codec.ts';

export interface LiveTextOptions {
  nc: NatsConnection;
  jsm: Pick<JetStreamManager, 'streams'>;
  config: Pick<Config, 'PROGRESS_STREAM' | 'PROGRESS_SUBJECT_PREFIX' | 'PROGRESS_LIVE_PREFIX'>;
  codec: Codec;
  /** An SSE frame of an event and its body (the server's shaper: redaction included). */
  frame(event: string, data: unknown): string;
  /** Writes frames to one page (one that cannot keep up is dropped). */
  send(to: ServerResponse, text: string): void;
}

interface Followed {
  follower: ProgressFollower;
  view: ProgressView;
  /** Pages, each true once it got the snapshot (changes go to those only). */
  pages: Map<ServerResponse, boolean>;
  started: Promise<void>;
}

export class LiveText {
  readonly #o: LiveTextOptions;
  readonly #jobs = new Map<string, Followed>();

  constructor(options: LiveTextOptions) {
    this.#o = options;
  }

  /** Adds a page (an SSE response already open) to a job's live text; it leaves when its request closes. */
  async add(jobId: string, page: ServerResponse, closed: Promise<void>): Promise<void> {
    const job = this.#follow(jobId);
    job.pages.set(page, false);
    void closed.then(() => this.#leave(jobId, job, page));
    try {
      await job.started;
    } catch (e) {
      this.#o.send(page, this.#o.frame('error', { error: (e as Error).message }));
      page.end();
      return;
    }
    if (!job.pages.has(page)) return;
    // The state so far, then every change: nothing falls between (both in this turn).
    this.#o.send(page, this.#o.frame('snapshot', { run: job.view.run ?? null, tasks: job.view.tasks() }));
    job.pages.set(page, true);
  }

  /** Stops every follower. */
  close(): void {
    for (const job of this.#jobs.values()) job.follower.stop();
    this.#jobs.clear();
  }

  #follow(jobId: string): Followed {
    const known = this.#jobs.get(jobId);
    if (known) return known;
    const { nc, jsm, config, codec } = this.#o;
    const view = new ProgressView({ keepText: true });
    const pages = new Map<ServerResponse, boolean>();
    const follower = new ProgressFollower({
      nc, jsm, stream: config.PROGRESS_STREAM, prefix: config.PROGRESS_SUBJECT_PREFIX, livePrefix: config.PROGRESS_LIVE_PREFIX, jobId, codec,
      onMessage: (m) => {
        const events: ViewEvent[] = view.apply(m);
        if (!events.length || !pages.size) return;
        const text = events.map((e) => this.#o.frame('progress', e)).join('');
        for (const [p, ready] of pages) if (ready) this.#o.send(p, text);
      },
    });
    const job: Followed = { follower, view, pages, started: follower.start() };
    this.#jobs.set(jobId, job);
    return job;
  }

  #leave(jobId: string, job: Followed, page: ServerResponse): void {
    job.pages.delete(page);
    if (job.pages.size || this.#jobs.get(jobId) !== job) return;
    job.follower.stop();
    this.#jobs.delete(jobId);
  }
}
