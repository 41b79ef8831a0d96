/** The statuses of a `.last` (its schema, src/last/schema.ts, is built from this list). */
export const LAST_STATUSES = ['success', 'partialsuccess', 'failure'] as const;
export type LastStatus = (typeof LAST_STATUSES)[number];
