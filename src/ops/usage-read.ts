/**
 * Reads the usage records of a window from the usage stream and adds them up, by plain message
 * gets (a reader creates no consumer): the window's first record by a binary search on the
 * stream's times, then every record after it in parallel batches. `altlas usage` and the
 * dashboard use it.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { firstSeqSince, storedMessages } from '../status/store-access.ts';
import type { UsageRecord } from '../usage/record.ts';
import { UsageWindow, type Grouping, type UsageSummary } from '../usage/window.ts';

const dec = new TextDecoder();

export interface ReadUsageOptions {
  stream: string;
  since: Date;
  until: Date;
  by: Grouping | null;
  /** Called with the number of records to read, then once per record read. */
  onProgress?: (total: number) => () => void;
}

export async function readUsage(jsm: JetStreamManager, o: ReadUsageOptions): Promise<UsageSummary> {
  const window = new UsageWindow(o.since, o.until, o.by);
  const { first_seq: first, last_seq: last, messages } = (await jsm.streams.info(o.stream)).state;
  if (messages === 0) return window.summary();
  const from = await firstSeqSince(jsm, o.stream, first, last, o.since);
  const tick = o.onProgress?.(last - from + 1);
  for await (const m of storedMessages(jsm, o.stream, '>', from, last, true)) {
    tick?.();
    let r: UsageRecord;
    try {
      r = JSON.parse(dec.decode(m.data)) as UsageRecord;
    } catch {
      continue; // not a record of ours
    }
    // Records are stored in settlement order, to within a PubAck: stop once well past the window.
    if (!window.add(r) && m.time.getTime() > o.until.getTime() + 60_000) break;
  }
  return window.summary();
}
