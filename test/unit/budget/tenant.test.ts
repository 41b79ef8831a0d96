import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AltlasError } from '../../../src/errors.ts';
import { MONTH, PERIOD_WINDOWS, TenantBudgets, limitsOf, loadTenantBudgets } from '../../../src/budget/tenant-budgets.ts';

const dir = mkdtempSync(join(tmpdir(), 'altlas-tenants-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (text: string) => {
  const p = join(dir, `${Math.random()}.yaml`);
  writeFileSync(p, text);
  return p;
};

describe('tenant budgets file (BUDGET_TENANTS)', () => {
  it('reads a default and tenants by their subject token', () => {
    const doc = loadTenantBudgets(file('default: {day: {cost: 5}}\ntenants:\n  acme: {hour: {tokens: 1000}, month: {cost: 100, tokens: 5000000}}\n'));
    expect(limitsOf(doc, 'acme')).toEqual({ hour: { tokens: 1000 }, month: { cost: 100, tokens: 5_000_000 } });
    expect(limitsOf(doc, 'other')).toEqual({ day: { cost: 5 } });
    expect(limitsOf({ tenants: { a: {} } }, 'b')).toBeNull();
  });

  it('refuses what it cannot hold, naming every problem', () => {
    try {
      loadTenantBudgets(file('tenants:\n  "a.b": {day: {cost: -1}}\n  ok: {week: {tokens: 1}, day: {tokens: 1.5}}\n'));
      throw new Error('expected CONFIG_INVALID');
    } catch (e) {
      expect((e as AltlasError).code).toBe('CONFIG_INVALID');
      expect((e as AltlasError).problems.map((p) => p.pointer)).toEqual(['BUDGET_TENANTS/tenants', 'BUDGET_TENANTS/tenants/ok', 'BUDGET_TENANTS/tenants/ok/day/tokens']);
    }
  });
});

describe('tenant budgets per period (one worker, no fleet)', () => {
  const HOUR = 3_600_000;
  it('holds worst cases until the period\'s limit, lets a call wait for the calls in flight, refuses what cannot fit, and is whole again when the period turns', async () => {
    let now = Date.UTC(2026, 4, 1, 10, 30);
    const t = new TenantBudgets({ doc: { tenants: { acme: { hour: { tokens: 1_000 } } } }, holdTtlMs: 60_000, now: () => now });
    expect(t.applies('acme')).toBe(true);
    expect(t.applies('other')).toBe(false);
    expect(t.applies(null)).toBe(false);
    expect(await t.reserve('acme', 'a', { tokens: 600, costNanos: null })).toBeNull();
    t.settle('acme', 'a', { tokens: 500, costNanos: null });
    expect(await t.reserve('acme', 'b', { tokens: 500, costNanos: null })).toBeNull();
    // 500 spent and 500 held: a call of 100 could fit once b gave back; it waits for b.
    let waited: unknown = 'waiting';
    const c = t.reserve('acme', 'c', { tokens: 100, costNanos: null }).then((r) => (waited = r));
    await new Promise((r) => setImmediate(r));
    expect(waited).toBe('waiting');
    t.settle('acme', 'b', { tokens: 300, costNanos: null });
    await c;
    expect(waited).toBeNull();
    // 800 spent, 100 held: a call of 201 can never fit this hour.
    const refused = await t.reserve('acme', 'd', { tokens: 201, costNanos: null });
    expect(refused).toMatchObject({ tenant: 'acme', period: 'hour', unit: 'tokens', limit: 1_000, capacity: 1_000, spent: 800, held: 100, need: 201, turnsAt: Date.UTC(2026, 4, 1, 11) });
    expect(t.exhaustedUntil('acme')).toBe(Date.UTC(2026, 4, 1, 11));
    // The settled calls' charges count until the end of their hour; c is settled in the next one.
    now += HOUR;
    expect(t.exhaustedUntil('acme')).toBeNull();
    t.settle('acme', 'c', { tokens: 100, costNanos: null });
    expect(await t.reserve('acme', 'e', { tokens: 900, costNanos: null })).toBeNull();
    t.settle('acme', 'e', { tokens: 900, costNanos: null });
    expect(await t.reserve('acme', 'f', { tokens: 1, costNanos: null })).toMatchObject({ spent: 1_000, held: 0, need: 1 });
  });

  it('turns with UTC hours, days and calendar months', () => {
    expect(PERIOD_WINDOWS.day.dropsAt(Date.UTC(2026, 1, 28, 23, 59))).toBe(Date.UTC(2026, 2, 1));
    expect(MONTH.dropsAt(Date.UTC(2026, 1, 3))).toBe(Date.UTC(2026, 2, 1));
    expect(MONTH.dropsAt(Date.UTC(2026, 11, 31, 23))).toBe(Date.UTC(2027, 0, 1));
    expect(PERIOD_WINDOWS.hour.dropsAt(Date.UTC(2026, 0, 1, 5, 0))).toBe(Date.UTC(2026, 0, 1, 6));
  });

  it('needs every period\'s budget to fit: the tightest refuses', async () => {
    const t = new TenantBudgets({ doc: { default: { hour: { cost: 10 }, day: { cost: 12 } } }, holdTtlMs: 60_000, now: () => Date.UTC(2026, 0, 1, 1) });
    expect(await t.reserve(null, 'a', { tokens: 5, costNanos: 9e9 })).toBeNull();
    t.settle(null, 'a', { tokens: 5, costNanos: 9e9 });
    expect(await t.reserve(null, 'b', { tokens: 5, costNanos: 2e9 })).toMatchObject({ tenant: '_', period: 'hour', unit: 'cost' });
    expect(await t.reserve(null, 'c', { tokens: 5, costNanos: null })).toMatchObject({ unit: 'cost', need: null });
  });
});
