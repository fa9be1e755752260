// The exported ONNX file runs in a real ONNX runtime (onnxruntime-node) and gives Convoy's
// own probabilities: checkpoint written by the checkpoint module -> `convoy export` (a real
// process) -> onnxruntime, against the model that `convoy eval/predict` load from the same file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MNIST_CNN, argmaxRow, type ModelSpec } from '../../packages/core/src/index.js';
import { loadModel } from '../../packages/coordinator/src/commands/load-model.js';
import { batchOf, mnistData, runConvoy, trainQuickly, writeTrainedCheckpoint, type QuickTraining } from './fixtures.js';

const TOLERANCE = 1e-4;
const TEST_IMAGES = 1000;

let folder: string;
beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'convoy-onnx-'));
});
afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

interface Comparison {
  readonly maxDifference: number;
  readonly disagreements: number;
  readonly accuracy: number;
  readonly distinctPredictions: number;
}

/** Trains, checkpoints, exports through the CLI, and runs both sides on the first 1,000 test images. */
async function exportAndCompare(name: string, training: QuickTraining): Promise<Comparison> {
  const checkpointPath = join(folder, `${name}.ckpt`);
  const onnxPath = join(folder, `${name}.onnx`);
  writeTrainedCheckpoint(checkpointPath, trainQuickly(training));

  const cli = await runConvoy(['export', checkpointPath, '--onnx', onnxPath]);
  expect(cli.stderr).toBe('');
  expect(cli.status).toBe(0);
  expect(cli.stdout).toMatch(/^wrote .*\.onnx \(\d+\.\d\d MB, ONNX opset 13\)/);

  const { model } = loadModel(checkpointPath, training.kernels);
  const { test } = mnistData();
  const { images, labels } = batchOf(test, 0, TEST_IMAGES);
  const convoy = model.predict(images);

  const session = await ort.InferenceSession.create(onnxPath);
  expect(session.inputNames).toEqual(['input']);
  expect(session.outputNames).toEqual(['probabilities']);
  const [channels, height, width] = model.inputShape;
  const output = await session.run({ input: new ort.Tensor('float32', images, [TEST_IMAGES, channels, height, width]) });
  const probabilities = output.probabilities!;
  expect(probabilities.dims).toEqual([TEST_IMAGES, model.classes]);
  const onnx = probabilities.data as Float32Array;

  let maxDifference = 0;
  let disagreements = 0;
  let correct = 0;
  const predicted = new Set<number>();
  for (let n = 0; n < TEST_IMAGES; n++) {
    for (let k = 0; k < model.classes; k++) {
      maxDifference = Math.max(maxDifference, Math.abs(onnx[n * model.classes + k]! - convoy[n * model.classes + k]!));
    }
    const convoyClass = argmaxRow(convoy, n, model.classes);
    if (argmaxRow(onnx, n, model.classes) !== convoyClass) disagreements++;
    if (convoyClass === labels[n]) correct++;
    predicted.add(convoyClass);
  }
  // The batch dimension is symbolic: a batch of 3 runs too and gives the same rows.
  const three = await session.run({ input: new ort.Tensor('float32', images.slice(0, 3 * channels * height * width), [3, channels, height, width]) });
  const small = three.probabilities!.data as Float32Array;
  for (let i = 0; i < 3 * model.classes; i++) expect(Math.abs(small[i]! - onnx[i]!)).toBeLessThan(1e-6);
  await session.release();

  console.log(`${name}: max |p_onnx - p_convoy| = ${maxDifference.toExponential(3)} (${Math.round(maxDifference * 2 ** 24)} x 2^-24) over ${TEST_IMAGES} images, accuracy ${correct / TEST_IMAGES}`);
  return { maxDifference, disagreements, accuracy: correct / TEST_IMAGES, distinctPredictions: predicted.size };
}

describe('ONNX export runs in onnxruntime-node with Convoy\'s probabilities', () => {
  it('default MNIST CNN (seed 7, 25 Adam steps of 32 on 1,000 images, fastest kernels): 1,000 test images within 1e-4, same class on every image', async () => {
    const result = await exportAndCompare('mnist-cnn', {
      spec: MNIST_CNN,
      seed: 7,
      kernels: 'auto',
      trainImages: 1000,
      steps: 25,
      batchSize: 32,
      optimizer: { name: 'adam', learningRate: 0.001 },
    });
    // Trained enough that the comparison means something: varied, mostly right predictions.
    expect(result.distinctPredictions).toBe(10);
    expect(result.accuracy).toBeGreaterThan(0.6);
    expect(result.maxDifference).toBeLessThan(TOLERANCE);
    expect(result.disagreements).toBe(0);
  });

  it("non-default spec (5x5 s2 'same' conv, 3x3 s2 pool, 2x3 s[1,2] 'same' conv, 2x2 s1 pool, dropout; reference kernels): same checks", async () => {
    // Shapes: [1,28,28] -conv 5x5 s2 same (pads 1 before, 2 after)-> [8,14,14] -pool 3 s2-> [8,6,6]
    //   -conv [2,3] s[1,2] same (rows 0/1, cols 0/1)-> [16,6,3] -pool 2 s1-> [16,5,2] -> 160 -> 32 -> 10
    const spec: ModelSpec = {
      input: [1, 28, 28],
      layers: [
        { type: 'conv2d', filters: 8, kernelSize: 5, stride: 2, padding: 'same', activation: 'relu' },
        { type: 'maxpool2d', poolSize: 3, stride: 2 },
        { type: 'conv2d', filters: 16, kernelSize: [2, 3], stride: [1, 2], padding: 'same' },
        { type: 'relu' },
        { type: 'maxpool2d', poolSize: 2, stride: 1 },
        { type: 'flatten' },
        { type: 'dense', units: 32, activation: 'relu' },
        { type: 'dropout', rate: 0.25 },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
    };
    const result = await exportAndCompare('custom', {
      spec,
      seed: 11,
      kernels: 'ts',
      trainImages: 2000,
      steps: 150,
      batchSize: 32,
      optimizer: { name: 'adam', learningRate: 0.005 },
    });
    expect(result.distinctPredictions).toBe(10);
    expect(result.accuracy).toBeGreaterThan(0.6);
    expect(result.maxDifference).toBeLessThan(TOLERANCE);
    expect(result.disagreements).toBe(0);
  });

  it("avgpool2d as AveragePool: 3x3 s2 'same' and 2x2 'same' on odd sizes (edge windows exclude the padding, count_include_pad 0), 2x3 s1 'valid'; fastest kernels: same checks", async () => {
    // Shapes: [1,28,28] -conv 3x3-> [8,26,26] -avgpool 3 s2 same (pad 0 before, 1 after)-> [8,13,13]
    //   -conv 3x3-> [16,11,11] -avgpool 2 same (pad 0/1)-> [16,6,6] -avgpool [2,3] s1-> [16,5,4] -> 320 -> 10
    // Counting the padding would scale every last-row/column window by 2/3 or 1/2: far beyond the tolerance.
    const spec: ModelSpec = {
      input: [1, 28, 28],
      layers: [
        { type: 'conv2d', filters: 8, kernelSize: 3, activation: 'relu' },
        { type: 'avgpool2d', poolSize: 3, stride: 2, padding: 'same' },
        { type: 'conv2d', filters: 16, kernelSize: 3, activation: 'relu' },
        { type: 'avgpool2d', poolSize: 2, padding: 'same' },
        { type: 'avgpool2d', poolSize: [2, 3], stride: 1 },
        { type: 'flatten' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
    };
    const result = await exportAndCompare('avgpool', {
      spec,
      seed: 13,
      kernels: 'auto',
      trainImages: 2000,
      steps: 150,
      batchSize: 32,
      optimizer: { name: 'adam', learningRate: 0.005 },
    });
    expect(result.distinctPredictions).toBe(10);
    expect(result.accuracy).toBeGreaterThan(0.6);
    expect(result.maxDifference).toBeLessThan(TOLERANCE);
    expect(result.disagreements).toBe(0);
  });
});
