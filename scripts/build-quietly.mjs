#!/usr/bin/env node
// Builds what the commands need (the WebAssembly kernels, the dashboard bundle) through
// turbo, printing nothing unless the build fails: `pnpm start` should open with Convoy's
// own output, not turbo's banner. A cached build takes well under a second.
import { spawnSync } from 'node:child_process';

const build = spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], {
  encoding: 'utf8',
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', TURBO_NO_UPDATE_NOTIFIER: '1' },
});
if (build.status !== 0) {
  process.stderr.write(build.stdout + build.stderr);
  process.stderr.write(`build failed (exit ${build.status ?? build.signal}); fix the error above, or run: pnpm build\n`);
  process.exit(build.status || 1);
}
