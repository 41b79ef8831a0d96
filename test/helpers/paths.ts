/** Paths of the repository and of the shared ALT_LAS fixtures (beside the checkout, or the copies in samples/). */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shared = join(ROOT, '..', 'shared', 'fixtures', 'altlas');
export const FIXTURES = existsSync(shared) ? shared : join(ROOT, 'samples');
export const SAMPLES = join(ROOT, 'samples');

/** The real ALT_LAS fixture files. */
export function fixtureFiles(): string[] {
  return readdirSync(FIXTURES).filter((f) => /^(runner|segmentation)-.*\.alt\.(json|yaml)$/.test(f)).sort().map((f) => join(FIXTURES, f));
}

/** The control-flow examples with their expected traces (shared/fixtures/control-flow, copied here for a fresh clone). */
export const CONTROL_FLOW = existsSync(join(ROOT, '..', 'shared', 'fixtures', 'control-flow')) ? join(ROOT, '..', 'shared', 'fixtures', 'control-flow') : join(ROOT, 'test', 'fixtures', 'control-flow');
