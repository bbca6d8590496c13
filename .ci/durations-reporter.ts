/**
 * A vitest reporter beside the default one: at the end of a run it prints every test file's
 * time, slowest first, so a file that grows slow is seen in every CI log, and a plain closing
 * line ("tests: N passed, N failed, N skipped") that any CI reads without knowing vitest.
 */
import type { Reporter, TestModule } from 'vitest/node';

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1).padStart(6)} s`;
}

export default class DurationsReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const rows = modules.map((m) => {
      const d = m.diagnostic();
      const tests = [...m.children.allTests()];
      return {
        file: m.relativeModuleId,
        // Importing the file, setting up, then its tests and hooks: the file's share of the run.
        ms: d.environmentSetupDuration + d.prepareDuration + d.collectDuration + d.setupDuration + d.duration,
        state: m.state(),
        tests: tests.length,
        passed: tests.filter((t) => t.result().state === 'passed').length,
        failed: tests.filter((t) => t.result().state === 'failed').length,
        skipped: tests.filter((t) => t.result().state === 'skipped').length,
      };
    });
    rows.sort((a, b) => b.ms - a.ms);
    const lines = ['', 'Time per test file, slowest first:'];
    for (const r of rows) lines.push(`${seconds(r.ms)}  ${r.state === 'failed' ? 'FAIL' : r.state === 'passed' ? 'ok  ' : r.state.padEnd(4)}  ${r.file} (${r.tests} tests)`);
    const total = (k: 'passed' | 'failed' | 'skipped') => rows.reduce((n, r) => n + r[k], 0);
    // A file that failed to load has no tests but must still count as a failure.
    const failedFiles = rows.filter((r) => r.state === 'failed' && r.failed === 0).length;
    lines.push('', `tests: ${total('passed')} passed, ${total('failed') + failedFiles} failed, ${total('skipped')} skipped`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
