/**
 * The `.last` summary text, line by line as the original runner writes it (formats.md §4), then
 * the lines this runner adds. Status and mode use Rust's Debug spelling (PartialSuccess, Normal).
 */
import type { LastStatus } from './schema.ts';

const DEBUG_STATUS: Record<LastStatus, string> = { success: 'Success', partialsuccess: 'PartialSuccess', failure: 'Failure' };
const debugMode = (mode: string) => mode.charAt(0).toUpperCase() + mode.slice(1);

export interface SummaryFacts {
  title: string;
  execution_id: string;
  alt_file_id: string;
  status: LastStatus;
  success_rate: number;
  execution_time_ms: number;
  mode: string;
  persona: string | null;
  artifacts: number;
  counts: Record<'total' | 'completed' | 'failed' | 'timeout' | 'cancelled', number>;
  /** Lines of ours, after the original's. */
  extra?: string[];
}

/** Summary of a job that ran. */
export function summaryText(f: SummaryFacts): string {
  return [
    'Execution Summary:',
    `- Title: ${f.title}`,
    `- Execution ID: ${f.execution_id}`,
    `- ALT File ID: ${f.alt_file_id}`,
    `- Status: ${DEBUG_STATUS[f.status]}`,
    `- Success Rate: ${(f.success_rate * 100).toFixed(2)}%`,
    `- Total Time: ${f.execution_time_ms} ms`,
    `- Total Tasks: ${f.counts.total}`,
    `- Successful Tasks: ${f.counts.completed}`,
    `- Failed Tasks: ${f.counts.failed}`,
    `- Timed Out Tasks: ${f.counts.timeout}`,
    `- Cancelled Tasks: ${f.counts.cancelled}`,
    `- Artifacts: ${f.artifacts}`,
    `- Mode: ${debugMode(f.mode)}`,
    `- Persona: ${f.persona ?? 'N/A'}`,
    ...(f.extra ?? []),
  ].join('\n');
}

/** Summary of a job that could not run (the original's failure form). */
export function failureSummary(f: { title: string; execution_id: string; error: string; time: string }): string {
  return ['Execution Failed:', `- ALT File: ${f.title}`, `- Execution ID: ${f.execution_id}`, `- Error: ${f.error}`, `- Time: ${f.time}`].join('\n');
}
