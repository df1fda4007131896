// Prints the run's totals as one plain line ("N passed, N failed, N skipped") and keeps a copy
// in .cache/test-summary.txt, so .ci/run can end with it after later steps.
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const line = `${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests + results.numTodoTests} skipped`;
    process.stdout.write(`\n${line}\n`);
    const dir = join(__dirname, '..', '..', '.cache');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'test-summary.txt'), `${line}\n`);
  }
}

module.exports = SummaryReporter;
