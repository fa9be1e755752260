/**
 * DESIGN.md's promise: with the same seed, global batch and steps, 1, 2 and 3 workers give
 * the same parameters up to float summation order, and the same loss curve. Real
 * coordinator and worker processes on 127.0.0.1.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkEveryImageOnce,
  finalParams,
  relativeDifference,
  smallRunArgs,
  stepRecords,
  writeSpec,
} from './helpers.js';
import { startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';
import { requirement } from '../support/requirements.js';
import { nativeKernelsStatus } from '../../packages/core/src/node.js';

const dir = tempDir('equivalence');
const spec = writeSpec(dir);
const started: Proc[] = [];
afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

/** A run with one worker per entry of `workerKernels` (ts kernels everywhere unless `coordinatorKernels`). */
async function train(workers: number, workerKernels: readonly string[] = Array(workers).fill('ts'), coordinatorKernels = 'ts'): Promise<string> {
  const out = `${dir}/run-${workers}-${workerKernels.join('-')}`;
  const coordinator = await startCoordinator([...smallRunArgs(spec, out, ['--kernels', coordinatorKernels]), '--min-workers', String(workers)]);
  started.push(coordinator);
  const procs = workerKernels.map((kernels) => startWorker(coordinator.url, ['--kernels', kernels]));
  started.push(...procs);
  expect(await coordinator.exited, coordinator.output()).toBe(0);
  for (const proc of procs) expect(await proc.exited, proc.output()).toBe(0);
  return out;
}

describe('1, 2 and 3 workers', () => {
  it('give the same parameters (1e-5 relative) and the same loss curve, every image counted once', async () => {
    const outs = [await train(1), await train(2), await train(3)];
    const params = outs.map(finalParams);
    const curves = outs.map((out) => stepRecords(out));
    // 1200 images, batch 96, 2 epochs: 13 steps per epoch (the last with 48 images).
    for (const curve of curves) expect(checkEveryImageOnce(curve, 1200, 96, 26)).toBeNull();
    expect(curves[1]!.some((record) => record.workers === 2)).toBe(true);
    expect(curves[2]!.some((record) => record.workers === 3)).toBe(true);
    // The runs did train: parameters moved from their start and loss fell.
    expect(curves[0]!.at(-1)!.loss!).toBeLessThan(curves[0]![0]!.loss! * 0.8);
    for (const other of [1, 2]) {
      expect(relativeDifference(params[0]!, params[other]!)).toBeLessThan(1e-5);
      for (const [i, record] of curves[other]!.entries()) {
        expect(Math.abs(record.loss! - curves[0]![i]!.loss!) / curves[0]![i]!.loss!).toBeLessThan(1e-5);
      }
    }
  }, 90_000);
});

const nativeStatus = nativeKernelsStatus();
const native = requirement('the mixed native+wasm run', nativeStatus.available ? null : nativeStatus.reason);

describe('a native worker and a wasm worker (coordinator on native)', () => {
  it.skipIf(native.skip)('give the parameters and loss curve of one ts worker (1e-5 relative)', async () => {
    native.check();
    // NOTE: an explicit --kernels runs that backend or exits 1 (no fallback), so both workers finishing means both backends ran.
    const [reference, mixed] = [await train(1), await train(2, ['native', 'wasm'], 'native')];
    const curves = [stepRecords(reference), stepRecords(mixed)];
    expect(checkEveryImageOnce(curves[1]!, 1200, 96, 26)).toBeNull();
    expect(curves[1]!.some((record) => record.workers === 2)).toBe(true);
    expect(relativeDifference(finalParams(reference), finalParams(mixed))).toBeLessThan(1e-5);
    for (const [i, record] of curves[1]!.entries()) {
      expect(Math.abs(record.loss! - curves[0]![i]!.loss!) / curves[0]![i]!.loss!).toBeLessThan(1e-5);
    }
  }, 90_000);
});
