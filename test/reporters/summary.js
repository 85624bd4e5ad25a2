// Prints one plain closing line, "jest: N passed, N failed, N skipped", as the very last line of the run, for
// CI systems that read the verdict from the closing line (jest's own summary is not in their format).
const { writeSync } = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n`;
    process.once('exit', () => writeSync(1, `\n${line}`));
  }
}
module.exports = SummaryReporter;
