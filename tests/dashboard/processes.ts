/**
 * Real processes for the dashboard's browser test: the `convoy-coordinator` command line
 * (which mounts packages/dashboard on its HTTP port, as `pnpm start` does) and worker
 * processes, each node with the tsx loader; and Debian's Chromium through playwright-core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';

const require = createRequire(import.meta.url);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LOADER = pathToFileURL(require.resolve('tsx')).href;
const COORDINATOR_CLI = join(ROOT, 'packages/coordinator/src/cli/coordinator.ts');
const WORKER_CLI = join(ROOT, 'packages/worker/src/cli.ts');
export const CHROMIUM = '/usr/bin/chromium';

/** A small CNN (8 filters, 43,706 parameters): a step of 32 images takes milliseconds. */
export const SMALL_SPEC = {
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', filters: 8, kernelSize: 3, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 32, activation: 'relu' },
    { type: 'dense', units: 10, activation: 'softmax' },
  ],
};

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `convoy-${prefix}-`));
}

export function writeSpec(dir: string): string {
  const path = join(dir, 'spec.json');
  writeFileSync(path, JSON.stringify(SMALL_SPEC));
  return path;
}

export interface Proc {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<void>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGKILL unless it has exited; resolves when it has. */
  kill(): Promise<void>;
}

function run(cli: string, args: readonly string[]): Proc {
  const child = spawn(process.execPath, ['--import', LOADER, cli, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let text = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text.match(pattern);
          if (match === null) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(match);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${text}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export async function startCoordinator(args: readonly string[]): Promise<Proc & { port: number }> {
  const proc = run(COORDINATOR_CLI, args);
  const match = await proc.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/);
  return Object.assign(proc, { port: Number(match[1]) });
}

export function startWorker(port: number, name: string): Proc {
  return run(WORKER_CLI, ['--connect', `ws://127.0.0.1:${port}`, '--kernels', 'auto', '--name', name]);
}

/** True when the browser is there; in CI (`CI` set) its absence is a failure, not a skip. */
export function chromiumAvailable(): boolean {
  const present = existsSync(CHROMIUM);
  if (!present && process.env['CI']) {
    throw new Error(`${CHROMIUM} is missing: .ci/run must install Debian's chromium (apt-get install -y chromium) for the dashboard's browser test`);
  }
  return present;
}

export async function launchChromium(): Promise<BrowserContext> {
  return chromium.launchPersistentContext(tempDir('chromium'), {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 1000 },
  });
}
