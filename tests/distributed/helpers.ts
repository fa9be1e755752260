/**
 * Helpers for the distributed tests: real coordinator and worker processes (node with the
 * tsx loader, as `pnpm start` runs them), on 127.0.0.1 with port 0, and readers for what
 * a run leaves in its folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readCheckpoint } from '../../packages/core/src/node.js';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('../..', import.meta.url));
const LOADER = pathToFileURL(require.resolve('tsx')).href;
/** `ws` as the coordinator package resolves it (the repository root does not depend on it). */
export const { WebSocket } = createRequire(join(root, 'packages/coordinator/package.json'))('ws') as typeof import('ws');
export type WebSocket = import('ws').WebSocket;

export const COORDINATOR_CLI = join(root, 'packages/coordinator/src/cli/coordinator.ts');
export const START_CLI = join(root, 'packages/coordinator/src/cli/start.ts');
export const WORKER_CLI = join(root, 'packages/worker/src/cli.ts');

/** A small CNN with Dropout (so dropout seeds are exercised) that trains in milliseconds per step. */
export const SMALL_SPEC = {
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', filters: 4, kernelSize: 3, stride: 2, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'dropout', rate: 0.25 },
    { type: 'flatten' },
    { type: 'dense', units: 10, activation: 'softmax' },
  ],
};

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `convoy-${prefix}-`));
}

export function writeSpec(dir: string, spec: unknown = SMALL_SPEC): string {
  const path = join(dir, 'spec.json');
  writeFileSync(path, JSON.stringify(spec));
  return path;
}

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  /** Resolves with the exit code (or 128 + signal number). */
  readonly exited: Promise<number>;
  /** Resolves when a line matching `pattern` appears in stdout or stderr (rejects after timeoutMs). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

const SIGNALS: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2 };

export function run(cli: string, args: readonly string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, ['--import', LOADER, cli, ...args], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  let text = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? (SIGNALS[signal] ?? 1) : 0))),
  );
  return {
    child,
    pid: child.pid!,
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text.match(pattern);
          if (match) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${text}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
}

/** Starts a bare coordinator and waits for its port. */
export async function startCoordinator(args: readonly string[]): Promise<Proc & { port: number; url: string }> {
  const proc = run(COORDINATOR_CLI, ['--port', '0', ...args]);
  const match = await proc.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/);
  const port = Number(match[1]);
  return Object.assign(proc, { port, url: `ws://127.0.0.1:${port}` });
}

export function startWorker(url: string, args: readonly string[] = []): Proc {
  return run(WORKER_CLI, ['--connect', url, '--kernels', 'ts', ...args]);
}

/** The options every small test run shares (a tiny subset, the small model, ts kernels). */
export function smallRunArgs(specPath: string, out: string, extra: readonly string[] = []): string[] {
  return [
    '--model', specPath, '--kernels', 'ts', '--out', out,
    '--train-size', '1200', '--validation-size', '300', '--test-size', '300',
    '--batch', '96', '--epochs', '2', '--seed', '7', '--optimizer', 'adam', '--lr', '0.01',
    ...extra,
  ];
}

export interface HistoryLine {
  kind: string;
  step?: number;
  images?: number;
  loss?: number;
  event?: string;
  workers?: number;
  workerId?: number | null;
  validationAccuracy?: number;
  accuracy?: number;
  [key: string]: unknown;
}

export function readHistory(out: string): HistoryLine[] {
  return readFileSync(join(out, 'history.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as HistoryLine);
}

export function stepRecords(out: string): HistoryLine[] {
  return readHistory(out).filter((line) => line.kind === 'step');
}

export function finalParams(out: string): Float32Array {
  return readCheckpoint(join(out, 'model.ckpt')).parameters;
}

/** max |a - b| / max |a|: agreement up to float summation order is ~1e-7..1e-6. */
export function relativeDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    difference = Math.max(difference, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  return difference / scale;
}

/** Polls until `predicate` holds (checks every 50 ms). */
export async function until(predicate: () => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Steps completed so far according to history.jsonl (0 while it does not exist). */
export function stepsDone(out: string): number {
  if (!existsSync(join(out, 'history.jsonl'))) return 0;
  return stepRecords(out).length;
}

/**
 * Every global batch counted exactly once: steps 1..n in order, each with the full batch
 * (the last of an epoch may be shorter), and the images of each epoch summing to its size.
 */
export function checkEveryImageOnce(steps: readonly HistoryLine[], trainSize: number, batch: number, totalSteps: number): string | null {
  if (steps.length !== totalSteps) return `${steps.length} step records, expected ${totalSteps}`;
  const stepsPerEpoch = Math.ceil(trainSize / batch);
  for (const [i, record] of steps.entries()) {
    if (record.step !== i + 1) return `record ${i} is step ${record.step}`;
    const inEpoch = i % stepsPerEpoch;
    const expected = inEpoch === stepsPerEpoch - 1 ? trainSize - inEpoch * batch : batch;
    if (record.images !== expected) return `step ${record.step} counted ${record.images} images, expected ${expected}`;
  }
  return null;
}
