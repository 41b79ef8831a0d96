import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SCHEMA_FILES, renderSchema } from '../../src/schema-files.ts';
import { newAjv } from '../../src/alt/schema-check.ts';
import { ROOT } from '../helpers/paths.ts';
import { decodeAlt } from '../../src/alt/index.ts';
import { buildLast } from '../../src/last/index.ts';
import { lastIds } from '../../src/messaging/settle.ts';
import { ENGINE } from '../helpers/engine.ts';
import { runJob } from '../../src/engine/run-job.ts';

describe('schemas/', () => {
  it('holds exactly the files generated from the TypeBox definitions (run npm run schemas)', () => {
    const dir = join(ROOT, 'schemas');
    expect(readdirSync(dir).filter((f) => f.endsWith('.json')).sort()).toEqual(SCHEMA_FILES.map((s) => s.file).sort());
    for (const { file, schema } of SCHEMA_FILES) {
      expect({ file, text: readFileSync(join(dir, file), 'utf8') }).toEqual({ file, text: renderSchema(schema) });
    }
  });

  it('every committed file has an $id, a title and compiles as a standalone JSON Schema', () => {
    for (const { file } of SCHEMA_FILES) {
      const doc = JSON.parse(readFileSync(join(ROOT, 'schemas', file), 'utf8'));
      expect(doc.$id).toMatch(/^urn:altlas:schema:/);
      expect(typeof doc.title).toBe('string');
      const { $schema: _ignored, ...schema } = doc;
      expect(() => newAjv().compile(schema)).not.toThrow();
    }
  });

  it('every schema the runner compiles (the .alt forms, the .last, the configuration and its files) is valid against the JSON Schema meta-schema', () => {
    // The runner's ajv instances skip this check at start-up; it is made here instead.
    const meta = newAjv({ validateSchema: true });
    for (const { file, schema } of SCHEMA_FILES) {
      expect([file, meta.validateSchema(schema), meta.errors ?? null]).toEqual([file, true, null]);
    }
    expect(meta.validateSchema({ type: 'object', properties: { a: { type: 'strng' } } })).toBe(false);
  });

  it('the committed .last schema accepts the .last of the runner example, whose every edge names a node', async () => {
    const { $schema: _ignored, ...schema } = JSON.parse(readFileSync(join(ROOT, 'schemas', 'last-1.0.schema.json'), 'utf8'));
    const decoded = decodeAlt(readFileSync(join(ROOT, 'samples', 'runner-example.alt.json')));
    if (!decoded.ok) throw decoded.error;
    const run = await runJob(decoded.job, async (task) => ({ text: `answer to ${task.id}`, model_used: 'm', tokens_used: 1, processing_time_ms: 0 }), ENGINE);
    const last = buildLast({ job: decoded.job, run, warnings: decoded.warnings }, lastIds(Date.now()));
    const validate = newAjv().compile(schema);
    expect([validate(last), validate.errors ?? null]).toEqual([true, null]);
    const nodes = new Set(last.execution_graph!.nodes.map((n) => n.id));
    expect(last.execution_graph!.edges.length).toBe(2);
    for (const e of last.execution_graph!.edges) expect([nodes.has(e.source), nodes.has(e.target)]).toEqual([true, true]);
  });

  it('the worker compiles these files and loads no TypeBox (start-up): no file of ours imports it at run time', () => {
    // Every file of ours that resolves TypeBox while the worker's modules load (src/main.ts, the command).
    const script = `
      import { registerHooks } from 'node:module';
      const from = new Set();
      registerHooks({ resolve(specifier, context, next) {
        if (specifier.startsWith('@sinclair/typebox') && context.parentURL && !context.parentURL.includes('/node_modules/')) from.add(context.parentURL);
        return next(specifier, context);
      } });
      await import(${JSON.stringify(join(ROOT, 'src', 'main.ts'))});
      await import(${JSON.stringify(join(ROOT, 'src', 'cli', 'main.ts'))});
      console.log(JSON.stringify([...from].map((u) => u.slice(u.indexOf('/src/') + 1))));`;
    const out = execFileSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual([]);
  });
});
