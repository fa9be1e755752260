/**
 * `convoy eval RUN_OR_CHECKPOINT [--data DIR] [--kernels ts|wasm|auto] [--limit N]`:
 * the model's test-set loss, accuracy, per-class precision/recall and confusion matrix.
 */
import { gatherImages, type Dataset } from '@convoy/core';
import { loadMnist } from '@convoy/core/node';
import { loadModel, type KernelsOption } from './load-model.js';
import { ClassificationAccumulator, formatReport, type ClassificationReport } from './metrics.js';
import { CliError } from './errors.js';

export interface EvalOptions {
  /** Folder with the four MNIST IDX files. Default: the bundled MNIST. */
  readonly data?: string;
  readonly kernels?: KernelsOption;
  /** Only the first `limit` test images. Default: all. */
  readonly limit?: number;
  /** Images per forward pass. */
  readonly batchSize?: number;
}

const DEFAULT_EVAL_OPTIONS = { kernels: 'auto', batchSize: 500 } as const;

export interface EvalResult {
  readonly modelPath: string;
  /** The kernel backend that ran it, e.g. "wasm (relaxed SIMD, fused multiply-add)". */
  readonly kernels: string;
  readonly report: ClassificationReport;
}

export function evaluateTestSet(target: string, options: EvalOptions = {}): EvalResult {
  const { data, kernels, limit, batchSize } = { ...DEFAULT_EVAL_OPTIONS, ...options };
  const { model, path } = loadModel(target, kernels);
  const test = loadMnist(data).test;
  const [channels, height, width] = model.inputShape;
  if (test.channels !== channels || test.height !== height || test.width !== width) {
    throw new CliError(
      'WRONG_IMAGE_SIZE',
      `${test.name}: images are ${test.channels}x${test.height}x${test.width}, the model takes ${channels}x${height}x${width}`,
    );
  }
  const count = limit === undefined ? test.count : Math.min(limit, test.count);
  const accumulator = new ClassificationAccumulator(model.classes);
  forEachBatch(test, count, batchSize, (images, labels) => accumulator.add(model.predict(images), labels));
  return { modelPath: path, kernels: model.kernels.description, report: accumulator.report() };
}

/** Calls `visit` with consecutive batches of the first `count` images (scaled to [0,1]) and their labels. */
function forEachBatch(dataset: Dataset, count: number, batchSize: number, visit: (images: Float32Array, labels: Uint8Array) => void): void {
  const imageSize = dataset.channels * dataset.height * dataset.width;
  for (let start = 0; start < count; start += batchSize) {
    const size = Math.min(batchSize, count - start);
    const indices = Array.from({ length: size }, (_, i) => start + i);
    const images = new Float32Array(size * imageSize);
    gatherImages(dataset, indices, images);
    visit(images, dataset.labels.slice(start, start + size));
  }
}

export function runEval(target: string, options: EvalOptions, print: (text: string) => void): void {
  const { modelPath, kernels, report } = evaluateTestSet(target, options);
  print(`model     ${modelPath}`);
  print(`kernels   ${kernels}`);
  print(formatReport(report));
}
