import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AltlasError } from '../../../src/errors.ts';
import { costNanos, fromNanos, loadPrices, priceOf, worstCaseNanos, type ModelPrice } from '../../../src/usage/prices.ts';

const dir = mkdtempSync(join(tmpdir(), 'altlas-prices-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

/** The CONFIG_INVALID problems of loading a table. */
function problems(text: string, name = 'p.yaml'): string[] {
  try {
    loadPrices(file(name, text));
  } catch (e) {
    expect(e).toBeInstanceOf(AltlasError);
    expect((e as AltlasError).code).toBe('CONFIG_INVALID');
    return (e as AltlasError).problems.map((p) => `${p.pointer}: ${p.message}`);
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('price table (AI_PRICES)', () => {
  it('reads YAML and JSON', () => {
    const yaml = loadPrices(file('a.yaml', 'currency: USD\ndate: 2026-12-01\nmodels:\n  gpt-x: {input: 2.5, output: 10, cached_input: 1.25}\n  small: {input: 0.15, output: 0.6}\n'));
    expect(yaml).toEqual({ currency: 'USD', date: '2026-12-01', models: { 'gpt-x': { input: 2.5, output: 10, cached_input: 1.25 }, small: { input: 0.15, output: 0.6 } } });
    const json = loadPrices(file('a.json', JSON.stringify({ currency: 'EUR', models: { m: { input: 1, output: 2 } } })));
    expect(priceOf(json, 'm')).toEqual({ input: 1, output: 2 });
    expect(priceOf(json, 'other')).toBeNull();
    expect(priceOf(json, 'constructor')).toBeNull();
    expect(priceOf(null, 'm')).toBeNull();
  });

  it('refuses a table that is not one, naming every problem with its pointer', () => {
    expect(problems('currency: dollars\ndate: tomorrow\nmodels:\n  a: {input: -1, output: 2}\n  b: {input: 1}\n  c: {input: 1, output: 1, per: token}\n')).toEqual([
      'AI_PRICES/currency: must match ^[A-Z]{3}$, got a string of 7 characters',
      'AI_PRICES/date: must be a valid date, got a string of 8 characters',
      'AI_PRICES/models/a/input: must be >= 0, got a whole number',
      'AI_PRICES/models/b/output: missing required field "output"',
      'AI_PRICES/models/c: has an unknown field "per"',
    ]);
    expect(problems('models: {}\n')).toEqual(['AI_PRICES/currency: missing required field "currency"']);
    expect(problems('currency: USD\nmodels: {a: {input: "1", output: 1}}\n')).toEqual(['AI_PRICES/models/a/input: must be a number, got a string of 1 character']);
  });

  it('refuses a file that cannot be read or parsed, and duplicate keys', () => {
    expect(() => loadPrices(join(dir, 'missing.yaml'))).toThrow(/AI_PRICES=.*missing\.yaml: cannot be read \(ENOENT\)/);
    expect(problems('currency: [USD\n')[0]).toMatch(/^AI_PRICES: is not well-formed JSON or YAML/);
    expect(problems('{"currency": "USD",')[0]).toMatch(/^AI_PRICES: is not well-formed JSON or YAML/, );
    expect(problems('currency: USD\ncurrency: EUR\nmodels: {}\n')[0]).toMatch(/^AI_PRICES: is not well-formed JSON or YAML/);
  });
});

describe('cost of a call', () => {
  const price: ModelPrice = { input: 2.5, output: 10, cached_input: 1.25 };

  it('prices uncached input, cached input and output per million tokens, in nano-units', () => {
    expect(costNanos(price, { input: 1_000, output: 500, cached_input: 200 })).toBe(800 * 2_500 + 200 * 1_250 + 500 * 10_000);
    expect(fromNanos(costNanos(price, { input: 1_000_000, output: 0, cached_input: 0 })!)).toBe(2.5);
    // No cached price: cached input is input; no cached count: nothing was cached.
    expect(costNanos({ input: 1, output: 2 }, { input: 10, output: 10, cached_input: 5 })).toBe(10 * 1_000 + 10 * 2_000);
    expect(costNanos(price, { input: 10, output: 10, cached_input: null })).toBe(10 * 2_500 + 10 * 10_000);
  });

  it('is unknown when the model is unpriced or a count is unknown: never 0', () => {
    expect(costNanos(null, { input: 1, output: 1, cached_input: 0 })).toBeNull();
    expect(costNanos(price, { input: null, output: 1, cached_input: 0 })).toBeNull();
    expect(costNanos(price, { input: 1, output: null, cached_input: 0 })).toBeNull();
    expect(costNanos(price, null)).toBeNull();
  });

  it('never exceeds the worst case of a call whose tokens stay within it (property)', () => {
    const priceArb = fc.record({ input: fc.double({ min: 0, max: 100, noNaN: true }), output: fc.double({ min: 0, max: 100, noNaN: true }), cached_input: fc.option(fc.double({ min: 0, max: 100, noNaN: true }), { nil: undefined }) });
    fc.assert(fc.property(priceArb, fc.nat(100_000), fc.nat(100_000), fc.nat(100_000), fc.nat(100_000), fc.nat(100_000), (p, maxIn, maxOut, inp, out, cached) => {
      const input = Math.min(inp, maxIn);
      const output = Math.min(out, maxOut);
      // A cached price above the input price is allowed by the table; the worst case then is not a bound, so it is not a case here.
      const q = p.cached_input !== undefined && p.cached_input > p.input ? { ...p, cached_input: p.input } : p;
      return costNanos(q, { input, output, cached_input: Math.min(cached, input) })! <= worstCaseNanos(q, maxIn, maxOut);
    }));
  });
});
