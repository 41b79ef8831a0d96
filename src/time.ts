/** RFC 3339 timestamps in UTC with milliseconds, as every record of the runner writes them. */

let lastMs = Number.NaN;
let lastText = '';

/**
 * `new Date(ms).toISOString()`, remembering the last one: a job's events, status and `.last`
 * stamp the same millisecond many times, and formatting a date is not free.
 */
export function iso(ms: number): string {
  if (ms !== lastMs) {
    lastText = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastText;
}
