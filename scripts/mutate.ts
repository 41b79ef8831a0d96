/**
 * `npm run mutate [group ...]`: Stryker on the modules that hold the README's promises, one group
 * at a time (stryker.config.mjs names each group's files and the tests that cover them), then one
 * table of the scores per file. A group's run takes about a minute here. MUTATE_CONCURRENCY=2 uses
 * both cores. Each group's report: reports/mutation/<group>/mutation.json. The last line is the
 * scores as JSON.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { groups } = (await import(join(root, 'stryker.config.mjs'))) as { groups: Record<string, { mutate: string[]; tests: string[] }> };

// `--report`: no run, the table of each group's last report.
const reportOnly = process.argv.includes('--report');
const asked = process.argv.slice(2).filter((a) => a !== '--report');
for (const g of asked) if (!groups[g]) throw new Error(`unknown group ${g}: one of ${Object.keys(groups).join(', ')}`);
const names = asked.length ? asked : Object.keys(groups);

interface Mutant { status: string }
interface Report { files: Record<string, { mutants: Mutant[] }> }

const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

const rows: { group: string; file: string; killed: number; survived: number; score: number }[] = [];
let failed = false;
for (const group of names) {
  const file = join(root, 'reports/mutation', group, 'mutation.json');
  if (reportOnly) {
    if (existsSync(file)) rows.push(...scores(group, file));
    continue;
  }
  console.log(`\n== mutate ${group}: ${groups[group].mutate.join(', ')}`);
  const r = spawnSync(process.execPath, [join(root, 'node_modules/@stryker-mutator/core/bin/stryker.js'), 'run', 'stryker.config.mjs'], {
    cwd: root, stdio: 'inherit', env: { ...process.env, MUTATE_MODULE: group },
  });
  // Stryker removes its sandbox itself (cleanTempDir); a run that was killed may not have.
  rmSync(join(root, '.stryker-tmp', group), { recursive: true, force: true });
  try {
    rmdirSync(join(root, '.stryker-tmp'));
  } catch {
    // Another group's run still has its sandbox there.
  }
  if (r.status !== 0 || !existsSync(file)) {
    console.error(`mutate ${group}: stryker exited ${r.status}`);
    failed = true;
    continue;
  }
  rows.push(...scores(group, file));
}

/** Killed (or timed out) against survived (or not covered) per file of a group's report; ignored and erroneous mutants count for neither. */
function scores(group: string, file: string) {
  const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
  return Object.entries(report.files).map(([path, { mutants }]) => {
    const killed = mutants.filter((m) => DETECTED.has(m.status)).length;
    const survived = mutants.filter((m) => UNDETECTED.has(m.status)).length;
    return { group, file: path.replace(/^.*?(src\/)/, '$1'), killed, survived, score: killed + survived ? (100 * killed) / (killed + survived) : 100 };
  });
}

console.log('\n| group | file | killed | survived | score |\n|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.group} | \`${r.file}\` | ${r.killed} | ${r.survived} | ${r.score.toFixed(1)} % |`);
const killed = rows.reduce((n, r) => n + r.killed, 0);
const survived = rows.reduce((n, r) => n + r.survived, 0);
const total = killed + survived ? (100 * killed) / (killed + survived) : 100;
console.log(`| all | | ${killed} | ${survived} | ${total.toFixed(1)} % |`);
console.log(JSON.stringify({ groups: names, killed, survived, score: Number(total.toFixed(1)), files: rows.map((r) => ({ file: r.file, score: Number(r.score.toFixed(1)) })) }));
process.exit(failed ? 1 : 0);
