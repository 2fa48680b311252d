import { writeSync } from 'node:fs';
import { relative } from 'node:path';
import type { Reporter, SerializedError, TestModule, TestRunEndReason } from 'vitest/node';

/**
 * Ends the run with one plain line, `N passed, N failed[, N skipped]`, which
 * CI logs and humans read the same way whatever reporter is in front. It
 * counts tests, as vitest's own "Tests" line does; files that fail outside
 * any test (an import that throws, a failing hook) and unhandled errors are
 * named on the line before it, and they fail the run through vitest's exit code.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>, _reason: TestRunEndReason): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const brokenFiles: string[] = [];
    for (const m of modules) {
      let failedHere = 0;
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === 'passed') passed++;
        else if (s === 'failed') failedHere++;
        else skipped++;
      }
      failed += failedHere;
      if (m.state() === 'failed' && failedHere === 0) brokenFiles.push(relative(m.project.config.root, m.moduleId));
    }
    const notes: string[] = [];
    if (brokenFiles.length) notes.push(`${brokenFiles.length} test file(s) failed outside any test: ${brokenFiles.join(', ')}`);
    if (unhandledErrors.length) notes.push(`${unhandledErrors.length} unhandled error(s)`);
    const line = `\n${notes.map((n) => `${n}\n`).join('')}${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`;
    // The default reporter prints its summary after this hook returns: write at exit so this line is the last.
    process.once('exit', () => writeSync(1, line));
  }
}
