#!/usr/bin/env node
// Builds what the commands need (the WebAssembly kernels, the dashboard bundle) through
// turbo, printing nothing unless the build fails: `pnpm start` should open with Convoy's
// own output, not turbo's banner. A cached build takes well under a second.
//
// turbo's own executable is run directly when it can be found: `pnpm exec turbo` starts pnpm
// and then turbo's Node wrapper (bin/turbo) before the real program, and those two Node
// start-ups cost several times what the cached build itself does, on the path of every
// `pnpm start`. The lookup follows turbo's wrapper (@turbo/<os>-<arch>, x64 named 64);
// anything it does not find falls back to `pnpm exec turbo`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

function turboExecutable() {
  try {
    const require = createRequire(import.meta.url);
    // The platform package is turbo's optional dependency: resolved from turbo's own folder (pnpm does not hoist it).
    const fromTurbo = createRequire(require.resolve('turbo/package.json'));
    const os = process.platform === 'win32' ? 'windows' : process.platform;
    const arch = process.arch === 'x64' ? '64' : process.arch;
    const name = `@turbo/${os}-${arch}`;
    const binary = join(dirname(fromTurbo.resolve(`${name}/package.json`)), 'bin', os === 'windows' ? 'turbo.exe' : 'turbo');
    return existsSync(binary) ? { command: binary, args: [] } : null;
  } catch {
    return null;
  }
}

const turbo = turboExecutable() ?? { command: 'pnpm', args: ['exec', 'turbo'] };
const build = spawnSync(turbo.command, [...turbo.args, 'run', 'build', '--output-logs=errors-only'], {
  encoding: 'utf8',
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', TURBO_NO_UPDATE_NOTIFIER: '1' },
});
if (build.status !== 0) {
  process.stderr.write((build.stdout ?? '') + (build.stderr ?? '') + (build.error ? `${build.error.message}\n` : ''));
  process.stderr.write(`build failed (exit ${build.status ?? build.signal}); fix the error above, or run: pnpm build\n`);
  process.exit(build.status || 1);
}
