/**
 * Priority lanes and tenants in subjects (a leaf module: no I/O, no imports but the job's
 * priorities and the subject-token rule). With lanes on, a job travels on
 * `<prefix>.<lane>.<tenant>` (default prefix `alt`): the lane is ALT_LAS's own priority, the
 * tenant a subject token (`_` when the job names none). Every part reads a delivery's lane and
 * tenant from its subject with {@link laneOf} and {@link tenantOf}.
 */
import { PRIORITIES, type Priority } from '../alt/job.ts';
import { subjectToken } from '../contract/subjects.ts';

/** The lanes, highest first (ALT_LAS's priorities). */
export const LANES = PRIORITIES;
export type Lane = Priority;

/** The tenant token of a job that names no tenant. */
export const NO_TENANT = '_';

/** The lane a job without a priority travels in (the decoder's default). */
export const DEFAULT_LANE: Lane = 'medium';

const LANE_SET: ReadonlySet<string> = new Set(LANES);

/** True for a lane name. */
export const isLane = (s: unknown): s is Lane => typeof s === 'string' && LANE_SET.has(s);

/**
 * A tenant as one subject token: the job-id rule (every character outside A–Z, a–z, 0–9, `-`
 * and `_` becomes `_`, a hash appended when that changed it or it is longer than 128
 * characters); none, or an empty or blank one, is {@link NO_TENANT}.
 */
export function tenantToken(tenant: string | null | undefined): string {
  const t = tenant?.trim();
  return t ? subjectToken(t) : NO_TENANT;
}

/**
 * The lane prefix of a stream's subjects: `alt` for `alt.>` or `alt.*.*` (the first subject of
 * ALT_SUBJECTS that ends in one of those; `alt` when none does).
 */
export function lanePrefixOf(altSubjects: string): string {
  for (const s of altSubjects.split(',').map((x) => x.trim())) {
    const m = /^(.+?)\.(?:>|\*\.\*)$/.exec(s);
    if (m && !/[*>]/.test(m[1])) return m[1];
  }
  return 'alt';
}

/** The subject of a job of `lane` for `tenant`: `<prefix>.<lane>.<tenant token>`. */
export function laneSubject(prefix: string, lane: Lane, tenant?: string | null): string {
  return `${prefix}.${lane}.${tenantToken(tenant)}`;
}

/** The filter of one lane for every tenant: `<prefix>.<lane>.*`. */
export const laneFilter = (prefix: string, lane: Lane): string => `${prefix}.${lane}.*`;

/** The lane of a lane subject (`alt.high.acme` → `high`); null for any other subject (`alt.submit`). */
export function laneOf(subject: string): Lane | null {
  const t = subject.split('.');
  if (t.length < 3) return null;
  const lane = t[t.length - 2];
  return isLane(lane) ? lane : null;
}

/** Messages stored in one lane: in all, and for its tenants with the most (at most `top` of them). */
export interface LaneTotals {
  lane: Lane;
  stored: number;
  tenants: { tenant: string; stored: number }[];
}

/**
 * Per lane, highest first, the messages a stream stores on its lane subjects (a stream info's
 * `subjects` under `<prefix>.*.*`) and the `top` tenants with the most; other subjects are left out.
 */
export function laneTotals(subjects: Record<string, number>, top = 5): LaneTotals[] {
  const by = new Map<Lane, Map<string, number>>(LANES.map((l) => [l, new Map()]));
  for (const [subject, n] of Object.entries(subjects)) {
    const lane = laneOf(subject);
    if (lane) by.get(lane)!.set(tenantOf(subject)!, n);
  }
  return LANES.map((lane) => {
    const tenants = [...by.get(lane)!].map(([tenant, stored]) => ({ tenant, stored })).sort((a, b) => b.stored - a.stored || a.tenant.localeCompare(b.tenant));
    return { lane, stored: tenants.reduce((s, t) => s + t.stored, 0), tenants: tenants.slice(0, top) };
  });
}

/** The tenant token of a lane subject (`alt.high.acme` → `acme`, `alt.low._` → `_`); null for any other subject. */
export function tenantOf(subject: string): string | null {
  if (laneOf(subject) === null) return null;
  return subject.slice(subject.lastIndexOf('.') + 1) || null;
}
