/** The `.last` of a job stopped by a budget: what it completed is kept, the rest is cancelled with BUDGET_EXCEEDED. */
import { redactText } from '../security/redact.ts';
import { buildLast, type BuildLastInput, type LastIds } from './build.ts';
import type { Last } from './schema.ts';

/**
 * Its status follows the original's rule over its results (`partialsuccess` when some task
 * completed, `failure` when none did); `metadata.error_code` is BUDGET_EXCEEDED, `metadata.error`
 * says which budget, and the summary adds a line. A task stopped by a tenant's wait on the job's
 * last delivery is reported as BUDGET_EXCEEDED too: the job ends here.
 */
export function buildBudgetLast(input: BuildLastInput, ids: LastIds): Last {
  const run = {
    ...input.run,
    results: input.run.results.map((r) => (r.error_code === 'BUDGET_WAIT' ? { ...r, error_code: 'BUDGET_EXCEEDED' as const } : r)),
  };
  const last = buildLast({ ...input, run }, ids);
  const message = redactText(input.run.stopped?.message ?? 'the job\'s budget is spent');
  return {
    ...last,
    metadata: { ...last.metadata, error: `BUDGET_EXCEEDED: ${message}`, error_code: 'BUDGET_EXCEEDED' },
    summary: `${last.summary}\n- Budget Exceeded: ${message}`,
  };
}
