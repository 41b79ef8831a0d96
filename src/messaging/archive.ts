/**
 * The ALT_LAS archive hand-off: after a `.last` is stored (its PubAck came), a core NATS message
 * `{id, file_path, success_rate, timestamp, metadata}` on ARCHIVE_NOTIFY_SUBJECT for the archive
 * service (queue group `archive-service`), which tags records from `metadata.tags`,
 * `metadata.command_type` and `metadata.success_rate`. `file_path` is the `.last`'s URL.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { Last } from '../last/index.ts';
import type { Publisher } from './publisher.ts';

export interface ArchiveNotification {
  id: string;
  file_path: string;
  success_rate: number;
  timestamp: string;
  metadata: {
    tags: string[];
    status: string;
    alt_file_id: string;
    execution_id: string;
    command_type?: string;
    success_rate: number;
  };
}

/** The notification of a stored `.last`. */
export function archiveNotification(last: Last, filePath: string): ArchiveNotification {
  const commandType = typeof last.metadata.alt_command_type === 'string' ? last.metadata.alt_command_type : undefined;
  return {
    id: last.id,
    file_path: filePath,
    success_rate: last.success_rate,
    timestamp: last.end_time,
    metadata: {
      tags: last.tags, status: last.status, alt_file_id: last.alt_file_id, execution_id: last.execution_id,
      ...(commandType ? { command_type: commandType } : {}), success_rate: last.success_rate,
    },
  };
}

export class ArchiveNotifier {
  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #publisher: Publisher;

  constructor(nc: NatsConnection, subject: string, publisher: Publisher) {
    this.#nc = nc;
    this.#subject = subject;
    this.#publisher = publisher;
  }

  notify(last: Last): void {
    this.#nc.publish(this.#subject, JSON.stringify(archiveNotification(last, this.#publisher.lastUrl(last.alt_file_id, last.execution_id))));
  }
}
