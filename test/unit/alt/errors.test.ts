import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAlt } from '../../../src/alt/index.ts';
import { decodeErr, decodeOk, runnerDoc } from '../../helpers/alt.ts';
import { SAMPLES } from '../../helpers/paths.ts';

const enhancedText = readFileSync(join(SAMPLES, 'enhanced-2.0.alt.yaml'), 'utf8');

describe('decodeAlt error codes', () => {
  it('ALT_EMPTY for empty and blank payloads', () => {
    decodeErr('', 'ALT_EMPTY');
    decodeErr(' \n\t ', 'ALT_EMPTY');
    decodeErr(new Uint8Array([0xef, 0xbb, 0xbf]), 'ALT_EMPTY');
  });

  it('ALT_ENCODING for invalid UTF-8, naming the offset', () => {
    const e = decodeErr(new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), 'ALT_ENCODING');
    expect(e.context.offset).toBe(2);
  });

  it('tolerates a BOM', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(runnerDoc([{ id: 'a' }])))]);
    expect(decodeOk(bytes).job.id).toBe('job-1');
  });

  it('ALT_SYNTAX with line and column for JSON', () => {
    const e = decodeErr('{\n  "id": "x",\n  "tasks": [,]\n}', 'ALT_SYNTAX');
    expect(e.context).toMatchObject({ syntax: 'json', line: 3, column: 13 });
  });

  it('ALT_SYNTAX with line and column for YAML', () => {
    const e = decodeErr('id: x\ntasks:\n  - id: a\n   bad: [1, 2\n', 'ALT_SYNTAX');
    expect(e.context.syntax).toBe('yaml');
    expect(e.context.line).toEqual(expect.any(Number));
    expect(e.context.column).toEqual(expect.any(Number));
  });

  it('ALT_SYNTAX for custom YAML tags, duplicate keys and several documents', () => {
    decodeErr('id: !!js/function "x"\ntasks: []', 'ALT_SYNTAX');
    decodeErr('id: !custom x\ntasks: []', 'ALT_SYNTAX');
    decodeErr('id: a\nid: b\ntasks: []', 'ALT_SYNTAX');
    decodeErr('id: a\n---\nid: b\n', 'ALT_SYNTAX');
  });

  it('reads JSON when the hint says JSON even without a leading brace', () => {
    decodeErr('id: a', 'ALT_SYNTAX', { hint: 'application/json' });
  });

  it('ALT_UNKNOWN_FORMAT for non-objects and unknown shapes', () => {
    decodeErr('[1, 2]', 'ALT_UNKNOWN_FORMAT');
    decodeErr('"text"', 'ALT_UNKNOWN_FORMAT');
    decodeErr('just words', 'ALT_UNKNOWN_FORMAT');
    decodeErr({ id: 'x', steps: [] }, 'ALT_UNKNOWN_FORMAT');
  });

  it('ALT_UNSUPPORTED_VERSION names the supported versions', () => {
    const e = decodeErr(runnerDoc([], { version: '2.0' }), 'ALT_UNSUPPORTED_VERSION');
    expect(e.message).toContain('supported: 1.0');
    const s = decodeErr(enhancedText.replace("version: '2.0'", "version: '3.1'"), 'ALT_UNSUPPORTED_VERSION');
    expect(s.context.supported).toEqual(['1.0', '2.0']);
  });

  it('reads an unquoted YAML version number', () => {
    expect(decodeOk(enhancedText.replace("version: '2.0'", 'version: 2.0')).job.source.version).toBe('2.0');
  });

  it('ALT_SCHEMA lists every violation with its JSON pointer and a readable message', () => {
    const e = decodeErr({
      id: ' ', version: '1.0', created_at: 'yesterday', title: 'x', mode: 'turbo',
      tasks: [{ id: 'a', description: '' }, { id: 2, description: 'b', retry_count: 300, dependencies: 'a' }],
    }, 'ALT_SCHEMA');
    const byPointer = Object.fromEntries(e.problems.map((p) => [p.pointer, p.message]));
    expect(byPointer['/id']).toBe('must not be empty');
    expect(byPointer['/created_at']).toMatch(/RFC 3339/);
    expect(byPointer['/mode']).toMatch(/must be one of "normal", "dream", "explore", "chaos" \(or null\), got a string of 5 characters/);
    expect(byPointer['/tasks/0/description']).toBe('must not be empty');
    expect(byPointer['/tasks/1/id']).toBe('must be a string, got a whole number');
    expect(byPointer['/tasks/1/retry_count']).toMatch(/<= 255/);
    expect(byPointer['/tasks/1/dependencies']).toMatch(/must be a list or null/);
    expect(e.problems).toHaveLength(7);
  });

  it('ALT_SCHEMA names missing fields', () => {
    const e = decodeErr({ tasks: [{}] }, 'ALT_SCHEMA');
    expect(e.problems.map((p) => p.pointer)).toEqual(['/id', '/version', '/created_at', '/title', '/tasks/0/id', '/tasks/0/description']);
    expect(e.problems[0].message).toBe('missing required field "id"');
  });

  it('ALT_SCHEMA for a segmentation timestamp that is no date', () => {
    const text = readFileSync(join(SAMPLES, 'segmentation-0.alt.yaml'), 'utf8').replace("'2025-04-28T00:28:21.922739'", "'soon'");
    expect(decodeErr(text, 'ALT_SCHEMA').problems[0].pointer).toBe('/timestamp');
  });

  it('ALT_DUPLICATE_TASK', () => {
    const e = decodeErr(runnerDoc([{ id: 'a' }, { id: 'b' }, { id: 'a' }]), 'ALT_DUPLICATE_TASK');
    expect(e.problems).toEqual([{ pointer: '/tasks/2/id', message: 'Duplicate task ID: a (first at /tasks/0)' }]);
  });

  it('ALT_UNKNOWN_DEPENDENCY in the original wording', () => {
    const e = decodeErr(runnerDoc([{ id: 'a', dependencies: ['zz'] }]), 'ALT_UNKNOWN_DEPENDENCY');
    expect(e.problems).toEqual([{ pointer: '/tasks/0/dependencies/0', message: "Dependency 'zz' not found for task ID: a" }]);
  });

  it('ALT_SELF_DEPENDENCY', () => {
    const e = decodeErr(runnerDoc([{ id: 'a', dependencies: ['a'] }]), 'ALT_SELF_DEPENDENCY');
    expect(e.problems[0].pointer).toBe('/tasks/0/dependencies/0');
  });

  it('ALT_CYCLE names the tasks of one cycle', () => {
    const e = decodeErr(runnerDoc([{ id: 'x' }, { id: 'a', dependencies: ['c', 'x'] }, { id: 'b', dependencies: ['a'] }, { id: 'c', dependencies: ['b'] }]), 'ALT_CYCLE');
    expect([...(e.context.cycle as string[])].sort()).toEqual(['a', 'b', 'c']);
    expect(e.message).toMatch(/^Circular dependency detected involving task ID: [abc]/);
  });

  it('ALT_REFERENCE for unknown body ids and undefined functions', () => {
    const e = decodeErr(enhancedText.replace('if_body: [s-alert]', 'if_body: [nowhere]'), 'ALT_REFERENCE');
    expect(e.problems).toEqual([{ pointer: '/segments/3/condition/if_body/0', message: "segment 'nowhere' does not exist" }]);
    const f = decodeErr(enhancedText.replace('function_name: measure_trend', 'function_name: missing_fn'), 'ALT_REFERENCE');
    expect(f.problems).toEqual([{ pointer: '/segments/1/function_call/function_name', message: "function 'missing_fn' is not defined" }]);
  });

  it('ALT_SCHEMA for malformed conditions, loops, names and two constructs in one segment', () => {
    // and/or take conditions on both sides; a comparison's left side is a string or a condition.
    decodeErr(enhancedText.replace('left: {operator: gt, left: days, right: 0}', 'left: days'), 'ALT_SCHEMA');
    decodeErr(enhancedText.replace('{operator: gt, left: days, right: 0}', '{operator: not, left: {operator: eq, left: a, right: 1}, right: 2}'), 'ALT_SCHEMA');
    decodeErr(enhancedText.replace('{operator: gt, left: days, right: 0}', '{operator: gt, left: 3, right: 0}'), 'ALT_SCHEMA');
    decodeErr(enhancedText.replace('operator: and', 'operator: xor'), 'ALT_SCHEMA');
    const badName = decodeErr(enhancedText.replace('- name: days', '- name: 9days'), 'ALT_SCHEMA');
    expect(badName.problems[0]).toEqual({ pointer: '/global_variables/0/name', message: 'must be a name (a letter or _ then letters, digits or _), got a string of 5 characters' });
    const twice = decodeErr(enhancedText.replace('    result_variable: trend', '    result_variable: trend\n  loop: {type: while, condition: {operator: not, left: x}, body: [s-alert]}'), 'ALT_SCHEMA');
    expect(twice.problems.map((p) => p.message).join()).toMatch(/at most one of/);
  });

  it('ALT_LIMIT for each limit, naming the limit, the value and the cap', () => {
    const cases: [unknown, Record<string, number>, string][] = [
      [runnerDoc([{ id: 'a' }]), { maxBytes: 50 }, 'bytes'],
      [runnerDoc([{ id: 'a' }, { id: 'b' }, { id: 'c' }]), { maxTasks: 2 }, 'tasks'],
      [runnerDoc([{ id: 'a' }, { id: 'b', dependencies: ['a'] }, { id: 'c', dependencies: ['b'] }]), { maxDependencyDepth: 2 }, 'dependency_depth'],
      [runnerDoc([{ id: 'a', parameters: { prompt: 'x'.repeat(101) } }]), { maxStringLength: 100 }, 'string_length'],
      [runnerDoc([{ id: 'a', parameters: { a: { b: { c: { d: 1 } } } } }]), { maxNesting: 5 }, 'nesting'],
    ];
    for (const [doc, limits, name] of cases) {
      const e = decodeErr(doc, 'ALT_LIMIT', { limits });
      expect(e.context.limit).toBe(name);
      expect(e.context.cap).toBe(Object.values(limits)[0]);
      expect(e.context.value as number).toBeGreaterThan(e.context.cap as number);
    }
  });

  it('ALT_LIMIT keys and nodes in small JSON (checked after parsing), large JSON (scanned before) and YAML (its syntax tree)', () => {
    const wide = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i]));
    const many = Array.from({ length: 60 }, (_, i) => i);
    const pad = 'p'.repeat(20_000);
    for (const [extra, limits, name] of [[{ wide }, { maxKeys: 20 }, 'keys'], [{ many }, { maxNodes: 50 }, 'nodes']] as const) {
      const small = JSON.stringify({ ...(runnerDoc([{ id: 'a' }]) as object), metadata: extra });
      const large = JSON.stringify({ ...(runnerDoc([{ id: 'a' }]) as object), metadata: { ...extra, pad } });
      const yaml = `id: j\nversion: "1.0"\ntitle: t\ncreated_at: "2025-01-01T00:00:00Z"\ntasks: []\nmetadata: ${JSON.stringify(extra)}\n`;
      for (const [text, hint] of [[small, 'x.json'], [large, 'x.json'], [yaml, 'x.yaml']]) {
        const e = decodeErr(text, 'ALT_LIMIT', { limits: { ...limits, maxStringLength: 30_000 }, hint });
        expect([name, e.context.limit]).toEqual([name, name]);
      }
    }
  });

  it('the YAML lexeme guard refuses flow nesting and node counts while lexing, before any tree is built', async () => {
    const { Lexer } = await import('yaml');
    const { YamlLexemeGuard } = await import('../../../src/alt/bounded.ts');
    const { DEFAULT_DECODE_LIMITS } = await import('../../../src/alt/limits.ts');
    const run = (text: string) => {
      const guard = new YamlLexemeGuard(DEFAULT_DECODE_LIMITS);
      let seen = 0;
      try {
        for (const lexeme of new Lexer().lex(text)) {
          seen++;
          guard.see(lexeme);
        }
      } catch (e) {
        return { limit: (e as { context: { limit: string } }).context.limit, seen };
      }
      return { limit: null, seen };
    };
    expect(run(`x: ${'['.repeat(1000)}`)).toEqual({ limit: 'nesting', seen: 5 + 65 });
    expect(run(`x: ${'[1],'.repeat(10)} a[[[[b`).limit).toBeNull(); // brackets inside a plain scalar do not nest
    expect(run(`x: [${Array.from({ length: 100_001 }, (_, i) => `"${i}"`).join(", ")}]`).limit).toBe("nodes");
  });

  it('ALT_LIMIT stops a YAML alias bomb quickly', () => {
    const lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 12; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(',')}]`);
    lines.push('tasks: []');
    const started = process.hrtime.bigint();
    const e = decodeErr(lines.join('\n'), 'ALT_LIMIT');
    expect(e.context.limit).toBe('yaml_aliases');
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(2000);
  });

  it('ALT_LIMIT for deeply nested input instead of a stack overflow', () => {
    const deep = `{"tasks": [], "x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    expect(decodeErr(deep, 'ALT_LIMIT').context.limit).toBe('nesting');
    const deepYaml = `tasks: []\nx: ${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const r = decodeAlt(deepYaml);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(['ALT_LIMIT', 'ALT_SYNTAX']).toContain(r.error.code);
  });
});
