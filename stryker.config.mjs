/**
 * Mutation testing of the modules that hold the README's promises (`npm run mutate`; not part of
 * `npm test`). Each module group names its source files and the fast unit tests that cover them,
 * so one group runs in minutes on two shared cores. `MUTATE_MODULE=<group>` picks one group
 * (scripts/mutate.ts runs them one after another); without it every group's files are mutated
 * against every group's tests at once.
 *
 * Jest runs ESM here (`--experimental-vm-modules`, @swc/jest), so the test runner child process
 * gets that flag, and the jest runner's own environment records which test covers which mutant
 * (`coverageAnalysis: 'perTest'`): each mutant runs only the tests that reach it. Jest still loads
 * every test file of the group for each mutant, so a group names few, fast files.
 */
import { readFileSync } from 'node:fs';

/** The lines of `file` from the one containing `marker` on, `count` of them or to the end (`file:from-to`, as Stryker takes a range). */
function linesOf(file, marker, count = Number.POSITIVE_INFINITY) {
  const lines = readFileSync(new URL(file, import.meta.url), 'utf8').split('\n');
  const at = lines.findIndex((l) => l.includes(marker));
  if (at < 0) throw new Error(`${file}: no line contains ${marker}`);
  return `${file}:${at + 1}-${Math.min(lines.length, at + count)}`;
}

export const groups = {
  leases: {
    mutate: ['src/messaging/leases.ts', 'src/messaging/lease-timing.ts'],
    tests: ['test/unit/messaging/leases.test.ts', 'test/unit/messaging/lease-states.test.ts'],
  },
  // The claim (compare-and-set), checkpoint batches and their budget.
  claims: {
    mutate: ['src/status/checkpoints.ts'],
    tests: ['test/unit/status/checkpoints.test.ts', 'test/unit/usage/checkpoint-money.test.ts'],
  },
  // A delivery's record: its claim, "no newer delivery holds it", what its end removes.
  recorder: {
    mutate: ['src/status/recorder.ts'],
    tests: ['test/unit/status/recorder.test.ts'],
  },
  // A job history group not confirmed: tried again (waits, their cap, none while the connection is
  // lost, at once when it is back) or dropped and counted.
  'history-retry': {
    mutate: [linesOf('src/status/history.ts', '  #failed(covered: Batch[]', 39), linesOf('src/messaging/stream-publish.ts', '  failPending(reason', 4)],
    tests: ['test/unit/status/history.test.ts', 'test/unit/messaging/stream-publish.test.ts'],
  },
  settler: {
    mutate: ['src/messaging/settler.ts'],
    tests: ['test/unit/messaging/settler.test.ts', 'test/unit/messaging/settler-lines.test.ts'],
  },
  // The fate table and the pure settlement rules.
  fate: {
    mutate: ['src/messaging/settle.ts', 'src/messaging/fate.ts'],
    tests: ['test/unit/messaging/settle.test.ts', 'test/unit/messaging/fate.test.ts'],
  },
  // The redaction policies' entry points: the pre-check that spares ordinary texts, the two
  // policies on a text, and the walk through objects (secret keys, secrets used as keys, depth).
  // The patterns and the credential formats before them are held whole by the corpus of planted
  // secrets and ordinary texts (redact-corpus.test.ts): mutant by mutant (about 900, most of
  // them regex mutants) they are more than this machine runs in an hour.
  redaction: {
    mutate: [linesOf('src/security/redact.ts', ' * Quick pre-check')],
    tests: ['test/unit/security/redact.test.ts', 'test/unit/security/redact-policies.test.ts', 'test/unit/security/redact-corpus.test.ts'],
    excludedMutations: ['Regex'],
  },
  // The lease check before each AI attempt (only those lines of the engine).
  'engine-guard': {
    mutate: [linesOf('src/engine/engine.ts', 'const refused = this.#in.guard?.()', 5)],
    tests: ['test/unit/engine/lease-guard.test.ts'],
  },
  // A fleet control counts only in the exact shape the commands write, naming this worker where
  // it is one worker's; the worker's watch of the control bucket (pause, drain, concurrency).
  control: {
    mutate: ['src/status/control.ts'],
    tests: ['test/unit/status/control.test.ts'],
  },
  // A status entry is its key's: the shape readers use, the job it names against its key, and the
  // listing of the jobs skipping what is not an entry of its key.
  'entry-key': {
    mutate: [linesOf('src/status/status.ts', 'const isObject = ', 43), linesOf('src/ops/jobs.ts', 'for (const e of await latestEntries(src))', 9)],
    tests: ['test/unit/status/entry-key.test.ts'],
  },
  // A `.last` found on a job's subject is that job's only when it names that job.
  'last-lookup': {
    mutate: ['src/last/lookup.ts'],
    tests: ['test/unit/last/lookup.test.ts'],
  },
  // Approval decisions carry their job's id, and a value under a decision's key that is no decision
  // of that task of that job decides nothing and blocks nobody: the check, the worker's read of the
  // decisions, the decision's compare-and-set over such a value, and the sweep passing over it.
  approvals: {
    mutate: [
      'src/approval/kind.ts',
      linesOf('src/approval/park.ts', 'export async function readDecisions', 17),
      linesOf('src/approval/park.ts', 'const key = decisionKey(input.altId, input.task);', 25),
      linesOf('src/approval/sweep.ts', 'const parsed = (bytes: Uint8Array)', 27),
    ],
    tests: ['test/unit/approval/kind.test.ts', 'test/unit/approval/decisions.test.ts'],
  },
  // The budget park: a call its tenant's budget refuses stops the job with BUDGET_WAIT unless no
  // period can hold it (BUDGET_EXCEEDED); the job parks until the period turns; a redelivery of a
  // message whose park was stored is acked without running.
  'budget-park': {
    mutate: [
      'src/messaging/budget-park.ts',
      linesOf('src/budget/steps.ts', '    if (tenant) {', 20),
      linesOf('src/budget/job-budgets.ts', 'export const final = ', 1),
      linesOf('src/messaging/job-flow.ts', 'const exhausted = budgets?.tenantExceeded', 6),
      linesOf('src/messaging/job-flow.ts', "if (stopped?.code === 'BUDGET_WAIT' && deps.parks)", 5),
    ],
    tests: ['test/unit/budget/budget-wait.test.ts', 'test/unit/messaging/budget-flow.test.ts'],
  },
  // The reservation arithmetic of the AI limits: reserve before a call, settle after with the
  // reported usage, never over the limit; a worker's slice of a model's limit.
  'ai-limits': {
    mutate: ['src/flow/ledger.ts', 'src/flow/slices.ts'],
    tests: ['test/unit/flow/ledger.test.ts', 'test/unit/flow/slices.test.ts', 'test/unit/flow/ledger-edges.test.ts', 'test/unit/flow/slices-edges.test.ts'],
  },
  kinds: {
    // src/alt/confusables.ts is generated data, held whole by confusables.test.ts.
    mutate: ['src/alt/kinds.ts'],
    tests: ['test/unit/alt/kinds.test.ts', 'test/unit/alt/kind-check.test.ts', 'test/unit/alt/confusables.test.ts'],
  },
};

const name = process.env.MUTATE_MODULE;
if (name && !groups[name]) throw new Error(`MUTATE_MODULE=${name}: not a group (${Object.keys(groups).join(', ')})`);
const chosen = name ? [groups[name]] : Object.values(groups);
const dir = name ? `reports/mutation/${name}` : 'reports/mutation/all';

export default {
  packageManager: 'npm',
  testRunner: 'jest',
  testRunnerNodeArgs: ['--experimental-vm-modules', '--disable-warning=ExperimentalWarning'],
  jest: {
    projectType: 'custom',
    configFile: 'jest.config.js',
    config: {
      testMatch: [...new Set(chosen.flatMap((g) => g.tests))].map((t) => `<rootDir>/${t}`),
      maxWorkers: 1,
    },
    enableFindRelatedTests: false,
  },
  mutate: chosen.flatMap((g) => g.mutate),
  mutator: { excludedMutations: [...new Set(chosen.flatMap((g) => g.excludedMutations ?? []))] },
  coverageAnalysis: 'perTest',
  // Two cores shared with other work: one test runner (two with MUTATE_CONCURRENCY=2).
  concurrency: Number(process.env.MUTATE_CONCURRENCY ?? 1),
  // Jest's ESM module registries are not freed between runs: a fresh test runner every 25 mutants
  // keeps its memory (and its collector's time) down.
  maxTestRunnerReuse: 25,
  timeoutMS: 20_000,
  timeoutFactor: 3,
  thresholds: { high: 90, low: 85, break: null },
  reporters: ['clear-text', 'progress-append-only', 'json'],
  jsonReporter: { fileName: `${dir}/mutation.json` },
  // A run after a change tests again only the mutants whose code or covering tests changed
  // (MUTATE_FULL=1: all of them).
  incremental: process.env.MUTATE_FULL !== '1',
  incrementalFile: `${dir}/incremental.json`,
  // One sandbox folder per group, so two groups can run at once; removed after each run.
  tempDirName: `.stryker-tmp/${name ?? 'all'}`,
  cleanTempDir: 'always',
  disableTypeChecks: 'src/**/*.ts',
  // The sandbox needs no tsconfig.json (@swc/jest transforms without it), and Stryker's rewrite of
  // it calls the TypeScript JS API, which TypeScript 7 (the native compiler) does not have.
  ignorePatterns: ['tsconfig.json', '.stryker-tmp', '.chaos', '.bench', '.scratch', '.ci-tmp', 'reports', 'coverage', 'bench', 'docs', 'deploy', 'samples/large'],
};
