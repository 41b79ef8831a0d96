/** What one run carries to the observers registered once on the engine, and to the AI task body: the engine's context type (Engine<RunContext>). */
import type { DeliveryRecord } from '../status/recorder.ts';
import type { ContextLogger } from '../telemetry/logger.ts';
import type { TaskTrace } from '../telemetry/tracing.ts';

export interface RunContext {
  /** Status, checkpoints and claims of this delivery. */
  record?: DeliveryRecord;
  /** The job span's task events, when the delivery's span records. */
  taskTrace?: TaskTrace;
  /** The job's logger (alt_id, alt_stream_seq, deliveries on every line). */
  log: ContextLogger;
  /** The job's tenant (a subject token), from its delivery's subject; null when it names none. */
  tenant?: string | null;
  /** The delivery this run belongs to: the ALT stream sequence of the job's message and its delivery count. */
  delivery?: { seq: number; deliveries: number };
  /**
   * Checked synchronously immediately before each AI request is written (the lease against the
   * clock): an error stops the call before any byte of it is sent.
   */
  guard?: () => Error | null;
  /** The decisions of a resumed job's approval tasks, by task key (a parked job's resume). */
  approvals?: ReadonlyMap<string, import('../approval/kind.ts').Decision>;
}

