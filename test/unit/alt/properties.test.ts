import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { decodeAlt } from '../../../src/alt/index.ts';
import { ERROR_CODES } from '../../../src/errors.ts';
import { runnerDoc } from '../../helpers/alt.ts';
import { fixtureFiles } from '../../helpers/paths.ts';

/** A random DAG: task i may depend only on tasks before it. */
const dag = fc.integer({ min: 1, max: 40 }).chain((n) =>
  fc.tuple(...Array.from({ length: n }, (_, i) => fc.uniqueArray(fc.nat({ max: Math.max(0, i - 1) }), { maxLength: i === 0 ? 0 : Math.min(i, 4) })))
    .map((deps) => deps.map((d, i) => ({ id: `t${i}`, dependencies: d.map((j) => `t${j}`) }))));

const DECODE_CODES = Object.keys(ERROR_CODES).filter((c) => c.startsWith('ALT_'));

/**
 * A payload decodes to a job or a typed decode error; when the document is known, a job holds
 * exactly its tasks (or segments), under its id.
 */
function expectDecodeOutcome(input: Uint8Array | string, hint?: string, doc?: Record<string, unknown>): void {
  const r = decodeAlt(input, { hint });
  if (!r.ok) {
    expect([...DECODE_CODES, 'TASK_KIND_FORBIDDEN']).toContain(r.error.code);
    return;
  }
  expect(r.job.tasks.every((t) => typeof t.id === 'string' && t.id.length > 0)).toBe(true);
  if (doc) {
    const list = (r.job.source.form === 'runner' ? doc.tasks : doc.segments) as unknown[];
    expect(r.job.tasks).toHaveLength(list.length);
    if (typeof doc.id === 'string') expect(r.job.id).toBe(doc.id);
  }
}

describe('decoder properties', () => {
  it('accepts every random acyclic graph', () => {
    fc.assert(fc.property(dag, (tasks) => {
      const r = decodeAlt(JSON.stringify(runnerDoc(tasks)));
      expect(r.ok).toBe(true);
    }), { numRuns: 500 });
  });

  it('rejects the same graph with one back edge as ALT_CYCLE naming tasks of a real cycle', () => {
    const withBackEdge = dag.filter((t) => t.length >= 2).chain((tasks) =>
      fc.tuple(fc.constant(tasks), fc.integer({ min: 0, max: tasks.length - 1 }), fc.integer({ min: 0, max: tasks.length - 1 }))
        .filter(([, a, b]) => a < b));
    fc.assert(fc.property(withBackEdge, ([tasks, a, b]) => {
      // Make b reachable from a: a chain a <- ... <- b, then the back edge a depends on b.
      const copy = tasks.map((t) => ({ ...t, dependencies: [...t.dependencies] }));
      for (let i = a + 1; i <= b; i++) if (!copy[i].dependencies.includes(`t${i - 1}`)) copy[i].dependencies.push(`t${i - 1}`);
      copy[a].dependencies.push(`t${b}`);
      const r = decodeAlt(JSON.stringify(runnerDoc(copy)));
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error.code).toBe('ALT_CYCLE');
      const cycle = r.error.context.cycle as string[];
      const deps = new Map(copy.map((t) => [t.id, t.dependencies]));
      cycle.forEach((id, k) => expect(deps.get(id)).toContain(cycle[(k + 1) % cycle.length]));
    }), { numRuns: 500 });
  });

  it('gives only a job or a typed decode error for random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), fc.constantFrom(undefined, 'x.json', 'x.yaml'), (bytes, hint) => {
      expectDecodeOutcome(bytes, hint);
    }), { numRuns: 4000 });
  });

  it('gives only a job or a typed decode error for mutated real files', () => {
    const files = fixtureFiles().map((f) => readFileSync(f));
    const mutated = fc.tuple(fc.constantFrom(...files), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 8 }))
      .map(([file, edits]) => {
        const bytes = [...file];
        for (const [pos, value, op] of edits) {
          const at = pos % (bytes.length + 1);
          if (op === 'set') bytes[at] = value;
          else if (op === 'insert') bytes.splice(at, 0, value);
          else bytes.splice(at, 1);
        }
        return Uint8Array.from(bytes);
      });
    fc.assert(fc.property(mutated, (bytes) => expectDecodeOutcome(bytes)), { numRuns: 5000 });
  });

  it('gives only a job or a typed decode error for structurally mutated documents', () => {
    const values = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.boolean(), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }));
    const keys = ['id', 'version', 'created_at', 'title', 'tasks', 'mode', 'priority', 'metadata', 'segments', 'timestamp', 'command'];
    // Every real file, JSON or YAML, parsed to its document (none of them may be empty).
    const docs = fixtureFiles().map((f) => (f.endsWith('.json') ? JSON.parse(readFileSync(f, 'utf8')) : parseYaml(readFileSync(f, 'utf8'))) as Record<string, unknown>);
    for (const d of docs) expect(Object.keys(d).length).toBeGreaterThan(5);
    fc.assert(fc.property(fc.constantFrom(...docs), fc.constantFrom(...keys), values, (original, key, value) => {
      const doc = structuredClone(original);
      doc[key] = value;
      expectDecodeOutcome(JSON.stringify(doc), undefined, doc);
    }), { numRuns: 1000 });
  });
});
