/**
 * `npm run bench:decode`: decode throughput of a ~1 KB runner-form JSON file and a ~1 KB
 * segmentation YAML file, each as a ratio against the bare parse of the same bytes in this run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { decodeAlt } from '../src/alt/index.ts';
import { measure, report } from './harness.ts';

const samples = join(import.meta.dirname, '..', 'samples');
const json = readFileSync(join(samples, 'runner-example.alt.json'));
const yaml = readFileSync(join(samples, 'segmentation-1.alt.yaml'));
const jsonText = json.toString('utf8');
const yamlText = yaml.toString('utf8');

for (const [name, bytes] of [['runner JSON', json], ['segmentation YAML', yaml]] as const) {
  const r = decodeAlt(bytes);
  if (!r.ok) throw r.error;
  console.log(`${name}: ${bytes.length} bytes, ${r.job.tasks.length} tasks`);
}
console.log('');

report(measure('decodeAlt(runner JSON)', () => decodeAlt(json)), measure('JSON.parse (same bytes)', () => JSON.parse(jsonText)), 0.35);
report(measure('decodeAlt(segmentation YAML)', () => decodeAlt(yaml)), measure('yaml.parse (same bytes)', () => parseYaml(yamlText)));
