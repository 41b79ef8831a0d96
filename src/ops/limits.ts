/**
 * The live rate limits of the models (`altlas limits`, the dashboard's Limits view): each entry of
 * AI_LIMITS_BUCKET read once, without a consumer: the fleet's limit per minute (the tighter of
 * configured and learned, as its last writer knew it), the learned limit, and how the minute is
 * divided now: the live workers' slices, and what departed workers' spending still holds.
 */
import { parseLimitKey } from '../flow/model-limits.ts';
import { parseEntry } from '../flow/slices.ts';
import { latestEntries, type BucketSource } from './jobs.ts';

/** One model's limit in one unit, live. */
export interface LiveLimit {
  provider: string;
  /** The model as a subject token (as the key names it). */
  model: string;
  unit: 'tokens' | 'requests';
  /** Per minute; null: none known. */
  limit: number | null;
  learned: number | null;
  learned_at: string | null;
  /** The live workers' slices now. */
  slices: { worker: string; amount: number; want: number; until: string }[];
  /** Held by the live workers' slices. */
  sliced: number;
  /** Held by spending of workers that left or died, until it leaves the minute (0 while no limit is known). */
  held_by_gone: number;
  /** Not leased by any worker (null: no limit known). */
  free: number | null;
}

/** Every model's limits in the bucket, by provider, model and unit; `now` decides which leases and tails are live. */
export async function readLimits(src: BucketSource, now = Date.now()): Promise<LiveLimit[]> {
  const out: LiveLimit[] = [];
  for (const e of await latestEntries(src, 'model.>')) {
    const key = parseLimitKey(e.key);
    const entry = parseEntry(e.value);
    if (!key || !entry) continue;
    const slices = Object.entries(entry.slices).filter(([, s]) => s.until > now)
      .map(([worker, s]) => ({ worker, amount: s.amount, want: s.want, until: new Date(s.until).toISOString() }))
      .sort((a, b) => a.worker.localeCompare(b.worker));
    const sliced = slices.reduce((n, s) => n + s.amount, 0);
    const gone = entry.tails.filter((t) => t.free_at > now && !slices.some((s) => s.worker === t.of)).reduce((n, t) => n + t.amount, 0);
    const tails = entry.tails.filter((t) => t.free_at > now).reduce((n, t) => n + t.amount, 0);
    const limit = entry.limit ?? null;
    out.push({
      provider: key.provider, model: key.model, unit: key.unit, limit, learned: entry.learned,
      learned_at: entry.learned_at === null ? null : new Date(entry.learned_at).toISOString(),
      slices, sliced, held_by_gone: limit === null ? 0 : gone, free: limit === null ? null : Math.max(0, limit - sliced - tails),
    });
  }
  return out.sort((a, b) => a.provider.localeCompare(b.provider) || a.model.localeCompare(b.model) || a.unit.localeCompare(b.unit));
}
