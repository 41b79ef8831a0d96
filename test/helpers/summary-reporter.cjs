// Prints one plain closing line, "tests: N passed, N failed, N skipped", after all of jest's output.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests: passed, numFailedTests: failed, numPendingTests: skipped, numRuntimeErrorTestSuites: broken } = results;
    process.once('exit', () => process.stderr.write(`\ntests: ${passed} passed, ${failed + broken} failed, ${skipped} skipped\n`));
  }
}
module.exports = SummaryReporter;
