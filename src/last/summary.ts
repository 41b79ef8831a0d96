/** The `.last` summary text (formats.md §4): a few plain lines a person reads first. */
import type { AltlasError } from '../errors.ts';

interface SummaryFacts {
  title: string;
  execution_id: string;
  alt_file_id: string;
  status: string;
  success_rate: number;
  execution_time_ms: number;
  mode: string;
  persona: string | null;
}

/** Summary of a job that ran. */
export function summaryText(f: SummaryFacts & { artifacts: number; counts: Record<'completed' | 'failed' | 'timeout' | 'cancelled', number> }): string {
  return [
    `Execution Summary: ${f.title}`,
    `Execution ID: ${f.execution_id}`,
    `ALT File ID: ${f.alt_file_id}`,
    `Status: ${f.status}`,
    `Success Rate: ${(f.success_rate * 100).toFixed(2)}%`,
    `Total Execution Time: ${f.execution_time_ms} ms`,
    `Tasks: ${f.counts.completed} successful, ${f.counts.failed} failed, ${f.counts.timeout} timed out, ${f.counts.cancelled} cancelled`,
    `Artifacts: ${f.artifacts}`,
    `Mode: ${f.mode}`,
    `Persona: ${f.persona ?? 'none'}`,
  ].join('\n');
}

/** Summary of a job that could not run; it starts "Execution Failed:" as in the original. */
export function failureSummary(f: SummaryFacts & { error: AltlasError }): string {
  return [
    `Execution Failed: ${f.error.code}: ${f.error.message}`,
    `Execution ID: ${f.execution_id}`,
    `ALT File ID: ${f.alt_file_id || 'unknown'}`,
    `Status: ${f.status}`,
    `Success Rate: 0.00%`,
    `Total Execution Time: ${f.execution_time_ms} ms`,
  ].join('\n');
}
