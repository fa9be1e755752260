/**
 * An in-memory image classification dataset kept as raw bytes, and the few operations
 * training needs: gather a batch (scaled to [0,1]), hold out a validation split, take a
 * subset (datasetHash, which needs Node's crypto, is in dataset-hash.ts).
 *
 * NOTE: pixels stay uint8 (47 MB for MNIST's training set); as float32 they would be 188 MB,
 * too much to hold in every worker. Images are scaled only when gathered into a batch.
 */
import type { FloatArray } from '../kernels/kernels.js';
import { DataError } from './data-error.js';

export interface Dataset {
  /** Where it came from, e.g. "mnist-train" or "mnist-train[0:55000]". */
  readonly name: string;
  readonly count: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** count*channels*height*width raw bytes 0..255, NCHW. */
  readonly pixels: Uint8Array;
  /** count labels, each in 0..classes-1. */
  readonly labels: Uint8Array;
  readonly classes: number;
}

export type DatasetFields = Omit<Dataset, 'count'>;

/** Builds a Dataset after checking that the arrays fit the shape and every label is a class. */
export function createDataset(fields: DatasetFields): Dataset {
  const { name, channels, height, width, pixels, labels, classes } = fields;
  for (const [what, value] of [['channels', channels], ['height', height], ['width', width], ['classes', classes]] as const) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new DataError(`${name}: ${what} must be a positive integer, got ${value}`);
  }
  if (classes > 256) throw new DataError(`${name}: at most 256 classes fit in uint8 labels, got ${classes}`);
  const count = labels.length;
  const imageSize = channels * height * width;
  if (pixels.length !== count * imageSize) {
    throw new DataError(
      `${name}: ${count} labels but ${pixels.length} pixel bytes (${pixels.length / imageSize} images of ${channels}x${height}x${width})`,
    );
  }
  for (let i = 0; i < count; i++) {
    if (labels[i]! >= classes) throw new DataError(`${name}: label ${labels[i]} of image ${i} is not a class (0..${classes - 1})`);
  }
  return { name, count, channels, height, width, pixels, labels, classes };
}

/** PIXEL_VALUE[b] = b / 255, exact in float64 (so a float32 output gets the correctly rounded value). */
const PIXEL_VALUE = Float64Array.from({ length: 256 }, (_, byte) => byte / 255);

function checkIndices(dataset: Dataset, indices: ArrayLike<number>, outLength: number, outOffset: number, perImage: number): void {
  if (!Number.isSafeInteger(outOffset) || outOffset < 0 || outOffset + indices.length * perImage > outLength) {
    throw new DataError(
      `${dataset.name}: output of ${outLength} values cannot take ${indices.length} images of ${perImage} at offset ${outOffset}`,
    );
  }
}

function checkIndex(dataset: Dataset, index: number): void {
  if (!(Number.isInteger(index) && index >= 0 && index < dataset.count)) {
    throw new DataError(`${dataset.name}: image index ${index} is outside 0..${dataset.count - 1}`);
  }
}

/**
 * Writes images `indices` (in that order) into `out` from `outOffset` on, NCHW, each
 * pixel byte / 255. out must hold outOffset + indices.length * C*H*W values.
 */
export function gatherImages(dataset: Dataset, indices: ArrayLike<number>, out: FloatArray, outOffset = 0): void {
  const imageSize = dataset.channels * dataset.height * dataset.width;
  checkIndices(dataset, indices, out.length, outOffset, imageSize);
  const pixels = dataset.pixels;
  for (let n = 0; n < indices.length; n++) {
    const index = indices[n]!;
    checkIndex(dataset, index);
    const source = index * imageSize;
    const target = outOffset + n * imageSize;
    for (let p = 0; p < imageSize; p++) out[target + p] = PIXEL_VALUE[pixels[source + p]!]!;
  }
}

/** Writes the labels of `indices` (in that order) into `out` from `outOffset` on. */
export function gatherLabels(dataset: Dataset, indices: ArrayLike<number>, out: Uint8Array, outOffset = 0): void {
  checkIndices(dataset, indices, out.length, outOffset, 1);
  for (let n = 0; n < indices.length; n++) {
    const index = indices[n]!;
    checkIndex(dataset, index);
    out[outOffset + n] = dataset.labels[index]!;
  }
}

/** Images [start, end) as a dataset of views into the same bytes (no copy). */
export function sliceDataset(dataset: Dataset, start: number, end: number): Dataset {
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start <= end && end <= dataset.count)) {
    throw new DataError(`${dataset.name}: cannot take images [${start}, ${end}) of ${dataset.count}`);
  }
  const imageSize = dataset.channels * dataset.height * dataset.width;
  return {
    ...dataset,
    name: `${dataset.name}[${start}:${end}]`,
    count: end - start,
    pixels: dataset.pixels.subarray(start * imageSize, end * imageSize),
    labels: dataset.labels.subarray(start, end),
  };
}

/** The first `count` images (a view). */
export function subset(dataset: Dataset, count: number): Dataset {
  if (!(Number.isSafeInteger(count) && count > 0 && count <= dataset.count)) {
    throw new DataError(`${dataset.name}: subset size must be an integer in 1..${dataset.count}, got ${count}`);
  }
  return sliceDataset(dataset, 0, count);
}

/** Holds out the LAST `validationCount` images (Keras's validation_split does the same). Views, no copies. */
export function splitValidation(train: Dataset, validationCount = 5000): { train: Dataset; validation: Dataset } {
  if (!(Number.isSafeInteger(validationCount) && validationCount >= 0 && validationCount < train.count)) {
    throw new DataError(
      `${train.name}: validation size must be an integer in 0..${train.count - 1} (some images must stay for training), got ${validationCount}`,
    );
  }
  const cut = train.count - validationCount;
  return { train: sliceDataset(train, 0, cut), validation: sliceDataset(train, cut, train.count) };
}
