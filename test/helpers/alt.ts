/** Builders of `.alt` documents for tests. */
import { expect } from '@jest/globals';
import { decodeAlt, type DecodeOptions, type Job } from '../../src/alt/index.ts';
import type { AltlasError } from '../../src/errors.ts';

export interface TaskSpec {
  id: string;
  dependencies?: string[];
  [key: string]: unknown;
}

/** A valid runner-form document with the given tasks (description filled in). */
export function runnerDoc(tasks: TaskSpec[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'job-1',
    version: '1.0',
    created_at: '2025-04-26T19:32:00Z',
    title: 'Test job',
    tasks: tasks.map((t) => ({ description: `do ${t.id}`, ...t })),
    ...extra,
  };
}

/** Decodes and expects success. */
export function decodeOk(input: unknown, options?: DecodeOptions): { job: Job; warnings: { code: string; pointer: string }[] } {
  const r = decodeAlt(typeof input === 'string' || input instanceof Uint8Array ? input : JSON.stringify(input), options);
  if (!r.ok) throw new Error(`expected a job, got ${r.error.code}: ${r.error.message}`);
  return r;
}

/** Decodes and expects a decode error of the given code. */
export function decodeErr(input: unknown, code: string, options?: DecodeOptions): AltlasError {
  const r = decodeAlt(typeof input === 'string' || input instanceof Uint8Array ? input : JSON.stringify(input), options);
  if (r.ok) throw new Error(`expected ${code}, got a job`);
  expect(r.error.code).toBe(code);
  return r.error;
}
