import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { LANES, NO_TENANT, laneTotals, laneFilter, laneOf, lanePrefixOf, laneSubject, tenantOf, tenantToken } from '../../../src/flow/lanes.ts';

describe('lane subjects', () => {
  it('puts lane and tenant in the last two tokens and reads them back', () => {
    expect(laneSubject('alt', 'critical', 'acme')).toBe('alt.critical.acme');
    expect(laneSubject('jobs.in', 'low', null)).toBe('jobs.in.low._');
    expect([laneOf('alt.high.acme'), tenantOf('alt.high.acme')]).toEqual(['high', 'acme']);
    expect([laneOf('alt.low._'), tenantOf('alt.low._')]).toEqual(['low', NO_TENANT]);
    expect(laneFilter('alt', 'medium')).toBe('alt.medium.*');
  });

  it('reads no lane or tenant from any other subject', () => {
    for (const s of ['alt.submit', 'alt', 'alt.urgent.acme', 'high.acme', 'alt.high']) {
      expect([s, laneOf(s), tenantOf(s)]).toEqual([s, null, null]);
    }
  });

  it('makes any tenant one subject token (the job-id rule); none or blank is _', () => {
    expect(tenantToken('acme-01')).toBe('acme-01');
    expect(tenantToken('a.b')).toMatch(/^a_b-[0-9a-f]{8}$/);
    expect([tenantToken(''), tenantToken('  '), tenantToken(null), tenantToken(undefined)]).toEqual(['_', '_', '_', '_']);
    fc.assert(fc.property(fc.string(), fc.constantFrom(...LANES), (tenant, lane) => {
      const s = laneSubject('alt', lane, tenant);
      return s.split('.').length === 3 && laneOf(s) === lane && tenantOf(s) === tenantToken(tenant) && !/[\s*>]/.test(s);
    }));
  });

  it('finds the prefix of the stream subjects', () => {
    expect(lanePrefixOf('alt.>')).toBe('alt');
    expect(lanePrefixOf('x.y, jobs.*.*')).toBe('jobs');
    expect(lanePrefixOf('a.*.>')).toBe('alt');
  });

  it('adds up a stream\'s lane subjects per lane, highest first, with the tenants that store the most', () => {
    const totals = laneTotals({ 'alt.low.a': 3, 'alt.low.b': 5, 'alt.low.c': 1, 'alt.critical._': 2, 'alt.submit': 9, 'alt.urgent.x': 4 }, 2);
    expect(totals).toEqual([
      { lane: 'critical', stored: 2, tenants: [{ tenant: '_', stored: 2 }] },
      { lane: 'high', stored: 0, tenants: [] },
      { lane: 'medium', stored: 0, tenants: [] },
      { lane: 'low', stored: 9, tenants: [{ tenant: 'b', stored: 5 }, { tenant: 'a', stored: 3 }] },
    ]);
  });
});
