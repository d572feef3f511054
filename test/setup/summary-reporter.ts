import type { Reporter, TestModule } from "vitest/node";

/**
 * Ends the run with one plain line, `Tests: N passed, N failed, N skipped`, which CI systems that do not know
 * vitest's own summary can read. Counts come from the run itself; a file that failed to load counts as failed.
 * With COUCHGEN_TEST_TIMINGS=1 it first lists the slowest files, with the seconds each spent importing (collect) and
 * in its tests and hooks, so the suite's time budget can be spent knowingly.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    for (const module of testModules) {
      if (module.state() === "failed" && [...module.children.allTests()].length === 0) failed += 1;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") passed += 1;
        else if (state === "failed") failed += 1;
        else skipped += 1;
      }
    }
    if (process.env.COUCHGEN_TEST_TIMINGS) process.stdout.write(timings(testModules));
    process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}

const SLOWEST_FILES = 25;

function timings(testModules: ReadonlyArray<TestModule>): string {
  const seconds = (ms: number) => (ms / 1000).toFixed(1).padStart(6);
  const rows = testModules
    .map((module) => {
      const { prepareDuration, setupDuration, collectDuration, duration } = module.diagnostic();
      const importing = prepareDuration + setupDuration + collectDuration;
      return { file: module.moduleId.replace(`${process.cwd()}/`, ""), importing, running: duration };
    })
    .sort((a, b) => b.importing + b.running - (a.importing + a.running));
  const total = rows.reduce((sum, row) => sum + row.importing + row.running, 0);
  const imports = rows.reduce((sum, row) => sum + row.importing, 0);
  const lines = rows
    .slice(0, SLOWEST_FILES)
    .map(
      (row) => `${seconds(row.importing + row.running)} ${seconds(row.importing)} ${seconds(row.running)}  ${row.file}`,
    );
  return [
    "",
    `Worker time: ${seconds(total).trim()} s in ${rows.length} files, of which ${seconds(imports).trim()} s importing`,
    "  total import  tests  file (slowest first)",
    ...lines,
    "",
  ].join("\n");
}
