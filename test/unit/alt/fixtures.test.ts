import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { decodeAlt } from '../../../src/alt/index.ts';
import { FIXTURES, SAMPLES, fixtureFiles } from '../../helpers/paths.ts';

describe('decodeAlt on the real ALT_LAS files', () => {
  it('decodes every fixture', () => {
    const files = fixtureFiles();
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const file of files) {
      const r = decodeAlt(readFileSync(file), { hint: basename(file) });
      expect({ file, ok: r.ok, error: r.ok ? null : r.error.toJSON() }).toEqual({ file, ok: true, error: null });
    }
  });

  it('reads the runner example as three chained tasks with metadata fall-backs', () => {
    const r = decodeAlt(readFileSync(join(FIXTURES, 'runner-example.alt.json')));
    if (!r.ok) throw r.error;
    const { job } = r;
    expect(job.source).toEqual({ form: 'runner', version: '1.0' });
    expect(job.tasks.map((t) => [t.id, t.dependencies])).toEqual([['task_001', []], ['task_002', ['task_001']], ['task_003', ['task_002']]]);
    expect(job.priority).toBe('high');
    expect(job.tags).toEqual(['example', 'test', 'documentation']);
    expect(job.expected_completion_time).toBe(300);
    expect(job.tasks.map((t) => [t.timeout_seconds, t.retry_count])).toEqual([[30, 3], [60, 2], [120, 1]]);
    expect(job.mode).toBe('normal');
    expect(job.created_at).toBe('2025-04-26T19:32:00.000Z');
    expect(r.warnings).toEqual([]);
  });

  it('decodes the Turkish text of the segmentation files exactly', () => {
    const r = decodeAlt(readFileSync(join(FIXTURES, 'segmentation-0.alt.yaml')), { hint: 'application/yaml' });
    if (!r.ok) throw r.error;
    expect(r.job.tasks[0].text).toBe('Dosyaları sırala');
    expect(r.job.tasks[1].text).toBe('en büyük 10 tanesini göster');
    expect(r.job.command).toBe('Dosyaları sırala ve en büyük 10 tanesini göster');
    expect(r.job.mode).toBe('dream');
    expect(r.job.language).toBe('tr');
    expect(r.job.created_at).toBe('2025-04-28T00:28:21.922Z');
    expect(r.job.tasks[0].parameters).toEqual({ content: 'Dosyaları sırala' });
    expect(r.job.tasks[0].kind).toBe('execute');
  });

  it('keeps a folded double-quoted YAML line as one string', () => {
    const r = decodeAlt(readFileSync(join(FIXTURES, 'segmentation-1.alt.yaml')));
    if (!r.ok) throw r.error;
    expect(r.job.command).toBe('Tüm .jpg dosyalarını bir klasöre taşı ve sıkıştır');
    expect(r.job.chaos_level).toBe(5);
    expect(r.job.mode).toBe('chaos');
  });

  it('decodes the shipped 2.0 sample with its control flow intact', () => {
    const r = decodeAlt(readFileSync(join(SAMPLES, 'enhanced-2.0.alt.yaml')));
    if (!r.ok) throw r.error;
    expect(r.job.source).toEqual({ form: 'enhanced', version: '2.0' });
    expect(r.job.tasks.find((t) => t.id === 's-check')?.control?.condition).toMatchObject({ if_body: ['s-alert'], else_body: ['s-summary'] });
    expect(r.job.tasks.find((t) => t.id === 's-measure')?.control?.function_call).toMatchObject({ function_name: 'measure_trend', result_variable: 'trend' });
    expect(r.job.functions).toHaveLength(1);
    expect(r.job.global_variables).toEqual([{ name: 'days', type: 'number', value: 7 }, { name: 'trend', type: 'string', value: '' }]);
    expect(r.job.priority).toBe('high');
  });
});
