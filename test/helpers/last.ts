/** Normalises a `.last` for comparison: uuids and times become placeholders, durations 0. */
import type { Last } from '../../src/last/index.ts';

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g;

export function normalizeLast(last: Last): unknown {
  const text = JSON.stringify(last, (key, value) => {
    if (['duration_ms', 'execution_time_ms', 'total_task_duration_ms', 'processing_time_ms'].includes(key) && typeof value === 'number') return 0;
    return value;
  });
  return JSON.parse(text.replace(UUID, '<uuid>').replace(TIME, '<time>').replace(/Total Time: \d+ ms/, 'Total Time: <n> ms'));
}
