/**
 * Helpers for the distributed tests: the small model and run options they share, and
 * readers for what a run leaves in its folder. Processes start through
 * tests/support/processes.ts.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { readCheckpoint } from '../../packages/core/src/node.js';
import { ROOT } from '../support/processes.js';

/** `ws` as the coordinator package resolves it (the repository root does not depend on it). */
export const { WebSocket } = createRequire(join(ROOT, 'packages/coordinator/package.json'))('ws') as typeof import('ws');
export type WebSocket = import('ws').WebSocket;

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

/** One conv layer of 8 filters, no Dropout, 13,610 parameters: learns MNIST's easy part in a few hundred steps. */
export const CONV8_SPEC = {
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', filters: 8, kernelSize: 3, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 10, activation: 'softmax' },
  ],
};

export function writeSpec(dir: string, spec: unknown = SMALL_SPEC): string {
  const path = join(dir, 'spec.json');
  writeFileSync(path, JSON.stringify(spec));
  return path;
}

/** The options every small test run shares (a tiny subset, the small model, ts kernels). */
export function smallRunArgs(specPath: string, out: string, extra: readonly string[] = []): string[] {
  return [
    '--model', specPath, '--kernels', 'ts', '--out', out,
    '--train-size', '1200', '--validation-size', '300', '--test-size', '300',
    '--batch', '96', '--epochs', '2', '--seed', '7', '--optimizer', 'adam', '--lr', '0.01', '--lr-schedule', 'step',
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

/**
 * The records of a run's history.jsonl. NOTE: a test may read it while the coordinator is
 * appending: the text after the last newline is a record still being written, not read.
 */
export function readHistory(out: string): HistoryLine[] {
  const lines = readFileSync(join(out, 'history.jsonl'), 'utf8').split('\n');
  lines.pop();
  return lines.filter((line) => line.length > 0).map((line) => JSON.parse(line) as HistoryLine);
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
