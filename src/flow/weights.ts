/**
 * Tenants' weights for fair sharing (RUNNER_TENANT_WEIGHTS): `tenant=weight` pairs,
 * comma-separated, `*` for every tenant not named (default 1). A tenant is matched by its subject
 * token (the job-id rule), so `acme.eu=2` weighs the jobs published for `acme.eu`.
 */
import { tenantToken } from './lanes.ts';

/** A weight per tenant token; unknown tenants weigh `*` (default 1). A weight of 0 counts as 0.001. */
export function parseTenantWeights(spec: string | undefined): (tenant: string) => number {
  const weights = new Map<string, number>();
  let rest = 1;
  for (const pair of (spec ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const w = Math.max(0.001, Number(pair.slice(eq + 1)));
    if (!Number.isFinite(w)) continue;
    if (name === '*') rest = w;
    else weights.set(tenantToken(name), w);
  }
  return (tenant) => weights.get(tenant) ?? rest;
}
