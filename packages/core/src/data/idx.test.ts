import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError, parseIdx, readIdx } from './idx.js';
import { loadIdxDataset, loadMnist, MNIST_FILES } from './mnist.js';

/** IDX bytes written field by field as the format says: 0, 0, type 0x08, d, d big-endian sizes, data. */
function idxBytes(shape: number[], data: number[] | Uint8Array, type = 0x08): Uint8Array {
  const header = [0, 0, type, shape.length];
  for (const size of shape) header.push((size >>> 24) & 255, (size >>> 16) & 255, (size >>> 8) & 255, size & 255);
  return Uint8Array.from([...header, ...data]);
}

const temp = mkdtempSync(join(tmpdir(), 'convoy-idx-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));
let fileNumber = 0;
function writeTemp(bytes: Uint8Array, name = `file-${fileNumber++}`): string {
  const path = join(temp, name);
  writeFileSync(path, bytes);
  return path;
}

/** The error thrown by `run`, checked to be a one-line BAD_DATA error. */
function dataError(run: () => unknown): DataError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DataError);
    expect((error as DataError).code).toBe('BAD_DATA');
    expect((error as Error).message).not.toContain('\n');
    return error as DataError;
  }
  throw new Error('expected a DataError, nothing was thrown');
}

// Two 2x3 images (pixel values 0..11) and their labels.
const IMAGES = idxBytes([2, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
const LABELS = idxBytes([2], [7, 3]);

describe('IDX reader', () => {
  it('reads shape [2,2,3] and the row-major data of a good images file', () => {
    const idx = readIdx(writeTemp(IMAGES), 3);
    expect(idx.shape).toEqual([2, 2, 3]);
    expect(Array.from(idx.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
  });

  it('reads big-endian sizes above 255 (60000 = 0x0000ea60)', () => {
    const idx = parseIdx(idxBytes([60000], new Uint8Array(60000)), 'labels', 1);
    expect(idx.shape).toEqual([60000]);
  });

  it('reads a gzipped file', () => {
    const idx = readIdx(writeTemp(gzipSync(LABELS), 'labels.gz'), 1);
    expect(Array.from(idx.data)).toEqual([7, 3]);
  });

  it('missing file: names the file', () => {
    const path = join(temp, 'no-such-file');
    expect(dataError(() => readIdx(path)).message).toBe(`${path}: file not found`);
  });

  it('truncated data: names the file, the header and the size', () => {
    const path = writeTemp(IMAGES.subarray(0, IMAGES.length - 1));
    expect(dataError(() => readIdx(path, 3)).message).toBe(`${path}: truncated: header says 2x2x3 = 12 bytes of data, the file holds 11`);
  });

  it('truncated header', () => {
    const path = writeTemp(IMAGES.subarray(0, 9));
    expect(dataError(() => readIdx(path, 3)).message).toBe(`${path}: truncated: 9 bytes, shorter than its 16-byte header`);
    expect(dataError(() => parseIdx(new Uint8Array([0, 0]), 'x')).message).toMatch(/x: truncated: 2 bytes/);
  });

  it('bytes after the data are an error, not silently ignored', () => {
    expect(dataError(() => parseIdx(Uint8Array.from([...LABELS, 0]), 'labels', 1)).message).toBe(
      'labels: 1 unexpected bytes after the 2 data its header describes',
    );
  });

  it('wrong magic: a PNG, a labels file where images are expected, a float32 IDX file', () => {
    const png = writeTemp(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0]));
    expect(dataError(() => readIdx(png, 3)).message).toBe(`${png}: wrong magic number 0x89504e47, expected 0x00000803`);
    expect(dataError(() => parseIdx(LABELS, 'images', 3)).message).toBe('images: wrong magic number 0x00000801, expected 0x00000803');
    expect(dataError(() => parseIdx(idxBytes([1], [0, 0, 0, 0], 0x0d), 'floats')).message).toMatch(/floats: wrong magic number 0x00000d01/);
  });
});

describe('IDX datasets', () => {
  it('images + labels make a single-channel Dataset', () => {
    const dataset = loadIdxDataset(writeTemp(IMAGES), writeTemp(LABELS), 'tiny');
    expect(dataset).toMatchObject({ name: 'tiny', count: 2, channels: 1, height: 2, width: 3, classes: 10 });
    expect(Array.from(dataset.labels)).toEqual([7, 3]);
    expect(dataset.pixels[11]).toBe(255);
  });

  it('image/label count mismatch', () => {
    const images = writeTemp(IMAGES);
    const labels = writeTemp(idxBytes([3], [1, 2, 3]));
    expect(dataError(() => loadIdxDataset(images, labels, 'tiny')).message).toBe(`${labels}: 3 labels, but ${images} holds 2 images`);
  });

  it('a label that is not a class', () => {
    const labels = writeTemp(idxBytes([2], [7, 10]));
    expect(dataError(() => loadIdxDataset(writeTemp(IMAGES), labels, 'tiny')).message).toBe(`${labels}: label 10 of image 1 is not a class (0..9)`);
  });

  it('images with two dimensions are rejected by their magic', () => {
    const images = writeTemp(idxBytes([2, 6], new Uint8Array(12)));
    expect(dataError(() => loadIdxDataset(images, writeTemp(LABELS), 'tiny')).message).toMatch(/wrong magic number 0x00000802, expected 0x00000803/);
  });

  it('loadMnist reads a folder of the four files (plain or .gz) and checks train and test sizes agree', () => {
    const folder = mkdtempSync(join(temp, 'mnist-'));
    writeFileSync(join(folder, MNIST_FILES.trainImages), IMAGES);
    writeFileSync(join(folder, `${MNIST_FILES.trainLabels}.gz`), gzipSync(LABELS));
    writeFileSync(join(folder, MNIST_FILES.testImages), idxBytes([1, 2, 3], [9, 9, 9, 9, 9, 9]));
    writeFileSync(join(folder, MNIST_FILES.testLabels), idxBytes([1], [4]));
    const { train, test } = loadMnist(folder);
    expect([train.count, test.count]).toEqual([2, 1]);
    expect(Array.from(train.labels)).toEqual([7, 3]);

    writeFileSync(join(folder, MNIST_FILES.testImages), idxBytes([1, 3, 2], [9, 9, 9, 9, 9, 9]));
    expect(dataError(() => loadMnist(folder)).message).toMatch(/t10k-images-idx3-ubyte: unexpected dimensions 3x2, the training images are 2x3/);
  });

  it('loadMnist with a missing file or folder', () => {
    const folder = mkdtempSync(join(temp, 'partial-'));
    writeFileSync(join(folder, MNIST_FILES.trainImages), IMAGES);
    expect(dataError(() => loadMnist(folder)).message).toBe(
      `${join(folder, MNIST_FILES.trainLabels)}: file not found (nor train-labels-idx1-ubyte.gz)`,
    );
    expect(dataError(() => loadMnist(join(temp, 'absent'))).message).toBe(`${join(temp, 'absent')}: data folder not found`);
  });
});
