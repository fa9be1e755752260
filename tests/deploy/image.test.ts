/**
 * deploy/Dockerfile built and run, where a container engine exists (docker or podman on
 * the PATH, its daemon answering). Skipped elsewhere, CI included: the engine is not a
 * requirement of the suite (docs/deploy.md says what was run where).
 *
 * Run as the manifests run it: a read-only root file system with a writable /tmp, the
 * image's own user. The worker's command answers --help with its flags; the kernels
 * chosen by `--kernels auto` are built in the image (a native or wasm backend loads
 * without writing anything).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/processes.js';

const TAG = 'convoy-image-test:local';

function engine(): string | null {
  for (const candidate of ['docker', 'podman']) {
    if (spawnSync(candidate, ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0) return candidate;
  }
  return null;
}

const found = engine();
if (found === null) console.warn('SKIPPED the image build: no container engine (docker or podman) answers here');

function inImage(command: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(found!, ['run', '--rm', '--read-only', '--tmpfs', '/tmp', TAG, ...command], { encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe.skipIf(found === null)('the image (deploy/Dockerfile)', () => {
  it('builds, runs as a non-root user, and its worker and kernels start on a read-only root', () => {
    const build = spawnSync(found!, ['build', '-f', 'deploy/Dockerfile', '-t', TAG, '.'], { cwd: ROOT, encoding: 'utf8', timeout: 1_500_000 });
    expect(build.status, build.stderr.slice(-4000)).toBe(0);
    const user = inImage(['id', '-u']);
    expect(user.stdout.trim()).toBe('1000');
    const help = inImage(['node', '--import', 'tsx', 'packages/worker/src/cli.ts', '--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('--ready-file');
    const kernels = inImage(['node', '--import', 'tsx', '-e', "import('./packages/core/src/index.ts').then((core) => console.log(core.selectKernels('auto').name))"]);
    expect(kernels.status, kernels.stderr).toBe(0);
    // Not the TypeScript reference: the built kernels (wasm, or native where its build succeeded) load.
    expect(kernels.stdout.trim()).toMatch(/^(wasm|native)$/);
  }, 1_800_000);
});
