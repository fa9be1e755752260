/**
 * The model's contracts: parameter count and layout, initialisation, batches as sums and
 * means of per-image gradients, chunking, dropout streams, spec validation, input errors.
 */
import { describe, expect, it } from 'vitest';
import { createReferenceKernels } from './kernels/reference.js';
import { countParameters } from './layers/build.js';
import { DropoutLayer } from './layers/dropout.js';
import { ModelInputError, createModel, createNetwork, describeModel } from './model.js';
import { Rng } from './rng.js';
import { MNIST_CNN, MNIST_CNN_DROPOUT, type ModelSpec } from './spec.js';

const kernels32 = createReferenceKernels();
const kernels64 = createReferenceKernels({ precision: 64 });

const SMALL: ModelSpec = {
  input: [1, 10, 10],
  layers: [
    { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 8, activation: 'relu' },
    { type: 'dense', units: 5, activation: 'softmax' },
  ],
};
const SMALL_DROPOUT: ModelSpec = {
  input: SMALL.input,
  layers: [...SMALL.layers.slice(0, 2), { type: 'dropout', rate: 0.5 }, ...SMALL.layers.slice(2, 4), { type: 'dropout', rate: 0.25 }, SMALL.layers[4]!],
};

function randomBatch(count: number, spec: ModelSpec, seed: number): { images: Float64Array; labels: Uint8Array } {
  const rng = new Rng(seed);
  const [c, h, w] = spec.input;
  const images = Float64Array.from({ length: count * c * h * w }, () => rng.nextFloat());
  const classes = (spec.layers[spec.layers.length - 1] as { units: number }).units;
  return { images, labels: Uint8Array.from({ length: count }, () => rng.nextInt(classes)) };
}

function maxAbs(a: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]!));
  return max;
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('parameters', () => {
  it('MNIST_CNN has exactly 1,199,882 parameters, laid out layer by layer', () => {
    expect(countParameters(MNIST_CNN)).toBe(1_199_882);
    expect(countParameters(MNIST_CNN_DROPOUT)).toBe(1_199_882);
    const model = createModel(MNIST_CNN, { kernels: kernels32 });
    expect(model.paramCount).toBe(1_199_882);
    expect(model.params.length).toBe(1_199_882);
    expect(model.classes).toBe(10);
    // conv [out,in,kh,kw] + bias, dense [out,in] + bias: 32*1*9+32, 64*32*9+64, 128*9216+128, 10*128+10
    const withParams = model.layers.filter((layer) => layer.paramCount > 0);
    expect(withParams.map((layer) => [layer.name, layer.paramOffset, layer.paramCount])).toEqual([
      ['conv2d_1', 0, 320],
      ['conv2d_3', 320, 18_496],
      ['dense_7', 18_816, 1_179_776],
      ['dense_9', 1_198_592, 1_290],
    ]);
    expect(model.layers.map((layer) => layer.outputShape)).toEqual([[32, 26, 26], [32, 26, 26], [64, 24, 24], [64, 24, 24], [64, 12, 12], [9216], [128], [128], [10]]);
    const summary = describeModel(model);
    expect(summary).toMatch(/conv2d_3\s+\[64,24,24\]\s+18,496/);
    expect(summary).toMatch(/dense_7\s+\[128\]\s+1,179,776/);
    expect(summary).toContain('Total params: 1,199,882');
  });

  it('same seed gives bit-identical params, another seed different ones', () => {
    const a = createModel(MNIST_CNN, { kernels: kernels32, seed: 7 }).params;
    const b = createModel(MNIST_CNN, { kernels: createReferenceKernels(), seed: 7 }).params;
    const c = createModel(MNIST_CNN, { kernels: kernels32, seed: 8 }).params;
    expect(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))).toBe(true);
    let differing = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== c[i]) differing++;
    expect(differing).toBeGreaterThan(0.99 * 1_199_882 - 10_000); // all weights differ; biases are 0 in both
  });

  it('params given live in the array given, initialised as the model\'s own; a wrong length or the wasm kernels are refused', () => {
    const storage = new Float32Array(countParameters(MNIST_CNN));
    const model = createModel(MNIST_CNN, { kernels: kernels32, seed: 7, params: storage });
    expect(model.params).toBe(storage);
    expect(Array.from(storage.subarray(0, 1000))).toEqual(Array.from(createModel(MNIST_CNN, { kernels: kernels32, seed: 7 }).params.subarray(0, 1000)));
    expect(() => createModel(MNIST_CNN, { kernels: kernels32, params: new Float32Array(10) })).toThrow(/model params: an array of 10 floats for 1199882 parameters/);
    expect(() => createModel(MNIST_CNN, { kernels: { ...kernels32, name: 'wasm' }, params: storage })).toThrow(/the wasm kernels read only arrays they allocated/);
  });

  it('Glorot uniform weights from new Rng(seed) in parameter order, zero biases', () => {
    const model = createModel(MNIST_CNN, { kernels: kernels32, seed: 3 });
    const rng = new Rng(3);
    // Keras's fans: conv fanIn = in*kh*kw, fanOut = out*kh*kw; dense fanIn = in, fanOut = out
    const fans: Record<string, [number, number]> = { conv2d_1: [9, 288], conv2d_3: [288, 576], dense_7: [9216, 128], dense_9: [128, 10] };
    for (const layer of model.layers.filter((l) => l.paramCount > 0)) {
      const [fanIn, fanOut] = fans[layer.name]!;
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      const units = layer.outputShape[0]!;
      const weights = model.params.subarray(layer.paramOffset, layer.paramOffset + layer.paramCount - units);
      const biases = model.params.subarray(layer.paramOffset + layer.paramCount - units, layer.paramOffset + layer.paramCount);
      // the draws, replayed independently, in the same order
      for (let i = 0; i < weights.length; i++) {
        const expected = Math.fround(rng.uniform(-limit, limit));
        if (weights[i] !== expected) throw new Error(`${layer.name} weight ${i}: ${weights[i]} != ${expected}`);
      }
      let maxAbs = 0;
      let sum = 0;
      for (const w of weights) [maxAbs, sum] = [Math.max(maxAbs, Math.abs(w)), sum + w];
      expect(maxAbs).toBeLessThanOrEqual(limit);
      expect(maxAbs).toBeGreaterThan(weights.length > 500 ? 0.99 * limit : 0.8 * limit);
      expect(Math.abs(sum / weights.length)).toBeLessThan((4 * limit) / Math.sqrt(3 * weights.length)); // 4 sigma
      expect(biases.every((b) => b === 0)).toBe(true);
    }
  });
});

describe('batches', () => {
  it('the mean gradient of a batch equals the sum of per-image gradients divided by N (float64)', () => {
    const network = createNetwork(SMALL, { kernels: kernels64, seed: 1 });
    const { images, labels } = randomBatch(6, SMALL, 2);
    const expected = new Float64Array(network.paramCount);
    let lossSum = 0;
    let correct = 0;
    const imageSize = 100;
    for (let i = 0; i < 6; i++) {
      const one = network.gradientSum(images.subarray(i * imageSize, (i + 1) * imageSize), labels.subarray(i, i + 1));
      expect(one.count).toBe(1);
      for (let p = 0; p < expected.length; p++) expected[p] = expected[p]! + one.gradient[p]!;
      lossSum += one.lossSum;
      correct += one.correct;
    }
    const sum = network.gradientSum(images, labels);
    expect(sum.count).toBe(6);
    expect(sum.lossSum).toBeCloseTo(lossSum, 12);
    expect(sum.correct).toBe(correct);
    expect(maxDifference(sum.gradient, expected)).toBeLessThan(1e-13);
    const mean = network.lossAndGradient(images, labels);
    expect(mean.loss).toBeCloseTo(lossSum / 6, 12);
    expect(maxDifference(mean.gradient, expected.map((g) => g / 6))).toBeLessThan(1e-13);
    expect(maxAbs(expected)).toBeGreaterThan(1e-3); // not trivially zero
  });

  it('chunked equals unchunked: chunkSize 3 vs 64 on a batch of 10 (MNIST_CNN, float32)', () => {
    const chunked = createModel(MNIST_CNN, { kernels: kernels32, seed: 5, chunkSize: 3 });
    const whole = createModel(MNIST_CNN, { kernels: createReferenceKernels(), seed: 5 });
    const { images, labels } = randomBatch(10, MNIST_CNN, 6);
    const images32 = Float32Array.from(images);
    const a = chunked.lossAndGradient(images32, labels);
    const b = whole.lossAndGradient(images32, labels);
    expect(a.loss).toBeCloseTo(b.loss, 5);
    expect(a.correct).toBe(b.correct);
    const scale = maxAbs(b.gradient);
    expect(scale).toBeGreaterThan(1e-3);
    expect(maxDifference(a.gradient, b.gradient) / scale).toBeLessThan(1e-5); // float32 summation order only
    const sumChunked = chunked.gradientSum(images32, labels);
    expect(sumChunked.lossSum).toBeCloseTo(b.loss * 10, 4);
  });

  it('predict gives fresh probabilities, evaluate the same loss and accuracy as the gradient pass', () => {
    const model = createModel(SMALL, { kernels: kernels32, seed: 9, chunkSize: 4 });
    const { images, labels } = randomBatch(9, SMALL, 10);
    const images32 = Float32Array.from(images);
    const probabilities = model.predict(images32);
    expect(probabilities).toBeInstanceOf(Float32Array);
    expect(probabilities.length).toBe(9 * 5);
    expect(model.predict(images32)).not.toBe(probabilities);
    let correct = 0;
    let lossSum = 0;
    for (let n = 0; n < 9; n++) {
      const row = Array.from(probabilities.subarray(n * 5, n * 5 + 5));
      expect(row.reduce((a, b) => a + b)).toBeCloseTo(1, 6);
      if (row.indexOf(Math.max(...row)) === labels[n]) correct++;
      lossSum -= Math.log(row[labels[n]!]!);
    }
    const evaluation = model.evaluate(images32, labels);
    expect(evaluation).toEqual({ count: 9, lossSum: expect.closeTo(lossSum, 4), correct });
    expect(model.gradientSum(images32, labels).lossSum).toBeCloseTo(evaluation.lossSum, 5);
  });

  it('params is live: writing it changes the predictions', () => {
    const model = createModel(SMALL, { kernels: kernels32 });
    const image = Float32Array.from(randomBatch(1, SMALL, 1).images);
    const before = model.predict(image);
    model.params[model.paramCount - 1] = 5; // the bias of the last class
    const after = model.predict(image);
    expect(after[4]).toBeGreaterThan(before[4]!);
  });

  it('rejects images and labels that do not fit, with a one-line BAD_INPUT error', () => {
    const model = createModel(SMALL, { kernels: kernels32 });
    expect(() => model.gradientSum(new Float32Array(150), new Uint8Array(2))).toThrow(new ModelInputError('images hold 150 floats, expected 2 x [1,10,10] = 200'));
    expect(() => model.evaluate(new Float32Array(100), Uint8Array.from([5]))).toThrow(/label 5 of image 0 is not a class of this model \(0\.\.4\)/);
    expect(() => model.predict(new Float32Array(150))).toThrow(ModelInputError);
    expect(() => createModel(SMALL, { kernels: kernels32, chunkSize: 0 })).toThrow(/chunkSize must be a positive integer, got 0/);
    try {
      model.gradientSum(new Float32Array(100), new Uint8Array(1), { dropoutSeeds: new Uint32Array(2) });
      expect.unreachable();
    } catch (error) {
      expect((error as ModelInputError).code).toBe('BAD_INPUT');
    }
  });
});

describe('dropout', () => {
  const { images, labels } = randomBatch(5, SMALL, 3);

  it('is inactive unless training: the same as the model without dropout layers', () => {
    const withDropout = createNetwork(SMALL_DROPOUT, { kernels: kernels64, seed: 4 });
    const without = createNetwork(SMALL, { kernels: kernels64, seed: 4 });
    expect(Array.from(withDropout.params)).toEqual(Array.from(without.params));
    const a = withDropout.gradientSum(images, labels);
    const b = without.gradientSum(images, labels);
    expect(a.lossSum).toBe(b.lossSum);
    expect(maxDifference(a.gradient, b.gradient)).toBe(0);
    expect(withDropout.evaluate(images, labels)).toEqual(without.evaluate(images, labels));
    expect(withDropout.gradientSum(images, labels, { training: true }).lossSum).not.toBe(b.lossSum);
  });

  it("image i's mask depends on dropoutSeeds[i] alone (not on the batch, chunk or call)", () => {
    const network = createNetwork(SMALL_DROPOUT, { kernels: kernels64, seed: 4 });
    const chunked = createNetwork(SMALL_DROPOUT, { kernels: kernels64, seed: 4, chunkSize: 2 });
    const seeds = Uint32Array.from([101, 102, 103, 104, 105]);
    const whole = network.gradientSum(images, labels, { training: true, dropoutSeeds: seeds });
    const gradient = whole.gradient.slice();
    const again = network.gradientSum(images, labels, { training: true, dropoutSeeds: seeds });
    expect(again.lossSum).toBe(whole.lossSum);
    expect(maxDifference(again.gradient, gradient)).toBe(0);
    const inChunks = chunked.gradientSum(images, labels, { training: true, dropoutSeeds: seeds });
    expect(inChunks.lossSum).toBeCloseTo(whole.lossSum, 12);
    expect(maxDifference(inChunks.gradient, gradient)).toBeLessThan(1e-13);
    // image by image with its own seed: the same sum
    const summed = new Float64Array(gradient.length);
    let lossSum = 0;
    for (let i = 0; i < 5; i++) {
      const one = network.gradientSum(images.subarray(i * 100, (i + 1) * 100), labels.subarray(i, i + 1), { training: true, dropoutSeeds: seeds.subarray(i, i + 1) });
      lossSum += one.lossSum;
      for (let p = 0; p < summed.length; p++) summed[p] = summed[p]! + one.gradient[p]!;
    }
    expect(lossSum).toBeCloseTo(whole.lossSum, 12);
    expect(maxDifference(summed, gradient)).toBeLessThan(1e-13);
    const other = network.gradientSum(images, labels, { training: true, dropoutSeeds: Uint32Array.from([1, 2, 3, 4, 5]) });
    expect(other.lossSum).not.toBe(whole.lossSum);
  });

  it('without dropoutSeeds, masks come from the model seed: reproducible across models, different across calls', () => {
    const a = createNetwork(SMALL_DROPOUT, { kernels: kernels64, seed: 4 });
    const b = createNetwork(SMALL_DROPOUT, { kernels: kernels64, seed: 4 });
    const first = a.gradientSum(images, labels, { training: true }).lossSum;
    expect(b.gradientSum(images, labels, { training: true }).lossSum).toBe(first);
    expect(a.gradientSum(images, labels, { training: true }).lossSum).not.toBe(first);
  });

  it('keeps each activation with probability 1 - rate and scales it by 1/(1 - rate)', () => {
    const size = 20_000;
    const layer = new DropoutLayer<Float64Array>({ type: 'dropout', rate: 0.3 }, [size], 'layer 1 (dropout)');
    layer.attach(kernels64, kernels64.allocate(0), kernels64.allocate(0), 2);
    const input = kernels64.allocate(2 * size).fill(2);
    const output = kernels64.allocate(2 * size);
    layer.forward(2, input, output, { training: true, imageRngs: [new Rng(1), new Rng(2)] });
    let dropped = 0;
    let sum = 0;
    for (const value of output) {
      if (value === 0) dropped++;
      else expect(value).toBeCloseTo(2 / 0.7, 12);
      sum += value;
    }
    const sigma = Math.sqrt(2 * size * 0.3 * 0.7);
    expect(Math.abs(dropped - 0.3 * 2 * size)).toBeLessThan(4 * sigma);
    expect(Math.abs(sum / (2 * size) - 2)).toBeLessThan(0.05); // expectation preserved
    // image 1's mask is the one new Rng(2) gives alone
    const alone = kernels64.allocate(2 * size);
    layer.forward(1, input.subarray(size), alone, { training: true, imageRngs: [new Rng(2)] });
    expect(maxDifference(alone.subarray(0, size), output.subarray(size))).toBe(0);
    layer.forward(2, input, output, { training: false, imageRngs: [] });
    expect(output.every((value) => value === 2)).toBe(true);
  });
});
