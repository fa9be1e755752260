#!/usr/bin/env node
// Runs the whole test suite (vitest) and ends with one plain summary line,
// "tests: N passed, N failed[, N skipped]", taken from vitest's JSON report.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const report = join('.tmp', 'vitest-report.json');
mkdirSync('.tmp', { recursive: true });
rmSync(report, { force: true });

const run = spawnSync(
  'pnpm',
  ['exec', 'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: 'inherit', env: { ...process.env, NO_COLOR: '1' } },
);

let summary = 'tests: no report was written';
let failedCount = 0;
try {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0);
  failedCount = json.numFailedTests ?? 0;
  summary = `tests: ${json.numPassedTests} passed, ${failedCount} failed` + (skipped ? `, ${skipped} skipped` : '');
} catch {
  failedCount = 1;
}
console.log(summary);
process.exit(run.status === 0 && failedCount === 0 ? 0 : run.status || 1);
