/**
 * Reading a job's history (`altlas history`, the dashboard): the events of its stored messages,
 * copies skipped, ordered by time, and each event as a line.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { IDENTITY_CODEC, isSealed, type Codec } from '../security/codec.ts';
import { FLEET, GONE, fleetHistorySubject, historySubject, type HistoryEvent, type HistoryMessage } from './history.ts';
import { storedMessages } from './store-access.ts';

/**
 * The events of one stored message, each whole: a job's message ({@link HistoryMessage}), or the
 * shapes stored before it and by the commands (an array of events, one event).
 */
export function eventsOf(body: unknown): HistoryEvent[] {
  if (Array.isArray(body)) return body as HistoryEvent[];
  const m = body as HistoryMessage | HistoryEvent;
  if (!('events' in m) || !Array.isArray(m.events)) return [m as HistoryEvent];
  const { alt_id: altId, at, events, ...shared } = m;
  const t0 = Date.parse(at);
  return events.map(({ type, ms, ...own }) => ({ type, at: ms ? new Date(t0 + ms).toISOString() : at, alt_id: altId, ...shared, ...own }));
}

export interface HistorySource {
  jsm: JetStreamManager;
  stream: string;
  prefix: string;
  codec?: Codec;
}

/** A job's events (or with `altId` {@link FLEET}, the fleet's), oldest first by their time (empty when it has none, or the stream does not exist). */
export async function readHistory(src: HistorySource, altId: string, limit = 10_000): Promise<HistoryEvent[]> {
  const info = await src.jsm.streams.info(src.stream).catch((e: Error) => {
    if (/stream not found/i.test(e.message)) return null;
    throw e;
  });
  if (!info || info.state.messages === 0) return [];
  const codec = src.codec ?? IDENTITY_CODEC;
  const out: HistoryEvent[] = [];
  const subject = altId === FLEET ? fleetHistorySubject(src.prefix) : historySubject(src.prefix, altId);
  // A message sent again after its PubAck was lost is stored twice: the copy is skipped.
  const seen = new Set<string>();
  for await (const m of storedMessages(src.jsm, src.stream, subject, info.state.first_seq, info.state.last_seq)) {
    try {
      const bytes = isSealed(m.data) ? codec.open(m.data, `history:${altId}`) : m.data;
      const text = new TextDecoder().decode(bytes);
      if (seen.has(text)) continue;
      seen.add(text);
      // Ids that share a subject token (cut long ids) are told apart by the id each event names.
      for (const e of eventsOf(JSON.parse(text))) if (e.alt_id === altId) out.push(e);
    } catch {
      // an event this process cannot read (another key) is left out
    }
    if (out.length >= limit) break;
  }
  // A worker sends a job's events in batches, an operator's action at once: the timeline is by time. An operator's
  // action is stamped before what it causes, so at the same millisecond it comes first; other ties in stored order.
  return out.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || Number(isAction(b)) - Number(isAction(a)));
}

/** An operator's action (a command's or the dashboard's), not a worker's event. */
const isAction = (e: HistoryEvent) => e.by !== undefined && e.worker_id === undefined;

/** The ids of a detail that lists them (a redelivery's tasks from checkpoints). */
const idsOf = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

/** One event as a line of `altlas history`: what happened, where and who. */
export function describeEvent(e: HistoryEvent): string {
  const on = e.worker_id ? ` on ${e.worker_id}` : '';
  const by = e.by ? ` by ${e.by}` : '';
  const code = e.code ? ` (${e.code}${e.error ? `: ${e.error}` : ''})` : e.error ? ` (${e.error})` : '';
  const d = e.detail ?? {};
  switch (e.type) {
    case 'delivered': return `delivered (delivery ${e.deliveries ?? '?'}, message ${e.alt_stream_seq ?? '?'}) to ${e.worker_id ?? 'a worker'}${d.held ? `, held: ${d.held}` : ''}`;
    case 'started': {
      const resumed = idsOf(d.from_checkpoints);
      const tasks = d.tasks !== undefined ? `${d.tasks} task${d.tasks === 1 ? '' : 's'}` : '';
      const from = resumed.length ? `${resumed.length} from checkpoints: ${resumed.join(', ')}` : '';
      return `started${on}${tasks || from ? ` (${[tasks, from].filter(Boolean).join('; ')})` : ''}`;
    }
    case 'claimed': return `claimed (delivery ${e.deliveries ?? '?'})${on}`;
    case 'resumed': return `resumed after ${d.reason === 'budget' ? 'its tenant\'s budget period turned' : 'approval'}${on}${d.completed !== undefined ? ` (${d.completed} tasks done before)` : ''}`;
    case 'attempt_failed': return `task ${e.task_id} attempt ${e.attempt} failed${code}${on}`;
    case 'task_finished': return `task ${e.task_id} ${e.status}${e.attempt && e.attempt > 1 ? ` after ${e.attempt} attempts` : ''}${code}${on}`;
    case 'checkpointed': return `checkpointed ${d.tasks ?? '?'} task(s)${on}`;
    case 'lease_lost': return `lease lost${on}${code}`;
    case 'handed_back': return `handed back${on}${code}`;
    case 'parked': return e.code === 'BUDGET_WAIT' ? `parked: its tenant's budget is spent until the period turns${on}` : `parked: waiting for a person${d.task ? ` at task ${d.task}` : ''}${on}`;
    case 'last_stored': return `.last stored (${e.status ?? '?'})${on}${e.code ? ` (${e.code})` : ''}`;
    case 'done_before': return `acked without running${on}: its .last was stored already, or a resume of its park holds it (an earlier ack was lost)`;
    case 'dead_lettered': return `dead-lettered${code}${on}`;
    case 'cancel_requested': return `cancel requested${by}${d.found === 'queued_or_unknown' ? ' (no state recorded yet: waiting in the stream, just started, or no such job)' : ''}`;
    case 'approved': return `task ${e.task_id} approved${by}${d.comment ? `: ${d.comment}` : ''}`;
    case 'rejected': return `task ${e.task_id} rejected${by}${d.comment ? `: ${d.comment}` : ''}`;
    case 'replayed': return `replay from task ${d.from ?? '?'} published${by} (message ${d.seq ?? '?'})`;
    case 'dlq_replayed': return `dead letter ${d.dlq_seq ?? '?'} replayed${by}`;
    case 'paused': return `intake paused${by}${d.worker ? ` on ${d.worker}` : ' on every worker'}`;
    case 'unpaused': return `intake resumed${by}${d.worker ? ` on ${d.worker}` : ' on every worker'}`;
    case 'drain_requested': return `drain of ${d.worker ?? '?'} requested${by}`;
    case 'drained': return `${d.worker ?? e.worker_id ?? '?'} drained: it finished what it held and exits`;
    case 'drain_gone': return `${d.worker ?? '?'}, asked to drain${by}, ${GONE}`;
    case 'concurrency_set': return `concurrency of ${d.worker ?? '?'} set to ${d.concurrency ?? '?'}${by}${e.worker_id ? ' (applied)' : ''}`;
    default: return `${e.type}${on}${by}${code}`;
  }
}
