/**
 * Central-difference gradient check of whole models in float64 (reference kernels with
 * precision 64): small specs on every parameter and every input pixel, the default
 * MNIST_CNN on a random sample of parameters and pixels plus random directions over all
 * of its 1,199,882 parameters. f = sum of the per-image cross-entropy losses.
 * Tolerance everywhere: max relative error < 1e-6 (denominator floored at 1e-3, see
 * layers/gradient-check.helpers.ts), h = 1e-5 for the small specs (see BIG_STEP for
 * MNIST_CNN); biases are set to small random values first so that
 * a bias bug cannot hide behind the zero initialisation.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createReferenceKernels } from './kernels/reference.js';
import { type CheckResult, FLOOR, checkGradient, dot, printResults, randomFill, record, sampleIndices } from './layers/gradient-check.helpers.js';
import { type Network, createNetwork } from './model.js';
import { Rng } from './rng.js';
import { MNIST_CNN, type ModelSpec } from './spec.js';

const TOLERANCE = 1e-6;
// NOTE: MNIST_CNN has 21,632 + 36,864 ReLU inputs and 9,216 max windows per image; moving one
// conv1 bias by 1e-5 shifts 676 pre-activations, and with h = 1e-5 one of the 200 sampled
// parameters crossed a kink (measured: analytic -5.4018e-4, numeric -4.41e-4 at h = 1e-5,
// -5.4018e-4 at h = 1e-6 and 1e-7). So the big model uses h = 1e-6 per parameter and
// 1e-8 per parameter along random directions (whose derivative is large, ~10).
const BIG_STEP = 1e-6;
const DIRECTION_STEP = 1e-8;
const kernels = createReferenceKernels({ precision: 64 });
const results = new Map<string, CheckResult>();
afterAll(() => printResults('model gradient checks', results));

/** conv-relu-pool twice, then dense-relu-dense: 2 blocks, non-square kernels, 'same' padding, stride 2. */
const TWO_BLOCKS: ModelSpec = {
  input: [2, 9, 8],
  layers: [
    { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'conv2d', filters: 5, kernelSize: [2, 3], stride: [1, 2], padding: 'same', activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2, stride: 1 },
    { type: 'flatten' },
    { type: 'dense', units: 6, activation: 'relu' },
    { type: 'dense', units: 4, activation: 'softmax' },
  ],
};

const TWO_BLOCKS_DROPOUT: ModelSpec = {
  input: [1, 8, 8],
  layers: [
    { type: 'conv2d', filters: 3, kernelSize: 3, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'dropout', rate: 0.3 },
    { type: 'flatten' },
    { type: 'dense', units: 7, activation: 'relu' },
    { type: 'dropout', rate: 0.5 },
    { type: 'dense', units: 3, activation: 'softmax' },
  ],
};

function setup(spec: ModelSpec, count: number, seed: number): { network: Network<Float64Array>; images: Float64Array; labels: Uint8Array } {
  const network = createNetwork(spec, { kernels, seed, inputGradient: true });
  const rng = new Rng(seed + 1000);
  for (const layer of network.layers) {
    const { outputShape, paramOffset, paramCount } = layer;
    if (paramCount === 0) continue;
    const units = outputShape[0]!; // biases are the last `units` parameters of the layer
    randomFill(rng, network.params.subarray(paramOffset + paramCount - units, paramOffset + paramCount), -0.05, 0.05);
  }
  const images = randomFill(rng, new Float64Array(count * network.inputShape.reduce((a, b) => a * b)), 0, 1);
  const labels = Uint8Array.from({ length: count }, () => rng.nextInt(network.classes));
  return { network, images, labels };
}

function expectWithin(name: string, check: CheckResult): void {
  record(results, name, check);
  expect(check.maxRelativeError, check.worst).toBeLessThan(TOLERANCE);
}

describe('model gradient, small specs (every parameter and input pixel)', () => {
  it('two conv blocks, 3 images', () => {
    const { network, images, labels } = setup(TWO_BLOCKS, 3, 1);
    const sum = network.gradientSum(images, labels);
    const dParams = sum.gradient.slice();
    const dImages = network.inputGradient!.slice(0, images.length);
    const f = (): number => network.evaluate(images, labels).lossSum;
    expect(f()).toBeCloseTo(sum.lossSum, 12);
    expectWithin(`two blocks (${network.paramCount} params) params`, checkGradient('two blocks dParams', f, network.params, dParams));
    expectWithin(`two blocks input (${images.length} pixels)`, checkGradient('two blocks dImages', f, images, dImages));
  });

  it('two conv blocks with dropout, training with fixed dropout seeds, 3 images', () => {
    const { network, images, labels } = setup(TWO_BLOCKS_DROPOUT, 3, 2);
    const options = { training: true, dropoutSeeds: Uint32Array.from([11, 12, 13]) };
    const sum = network.gradientSum(images, labels, options);
    const dParams = sum.gradient.slice();
    const dImages = network.inputGradient!.slice(0, images.length);
    const f = (): number => network.gradientSum(images, labels, options).lossSum;
    // dropout really is active: the loss differs from inference's
    expect(Math.abs(network.evaluate(images, labels).lossSum - sum.lossSum)).toBeGreaterThan(1e-6);
    expectWithin(`two blocks + dropout (${network.paramCount} params) params`, checkGradient('dropout dParams', f, network.params, dParams));
    expectWithin('two blocks + dropout input', checkGradient('dropout dImages', f, images, dImages));
  });
});

describe('model gradient, MNIST_CNN (1,199,882 parameters)', () => {
  it('a random sample: 40 weights and 10 biases of each layer, 40 input pixels (1 image)', () => {
    const { network, images, labels } = setup(MNIST_CNN, 1, 3);
    const rng = new Rng(99);
    const dParams = network.gradientSum(images, labels).gradient.slice();
    const dImages = network.inputGradient!.slice(0, images.length);
    const f = (): number => network.evaluate(images, labels).lossSum;
    for (const layer of network.layers) {
      if (layer.paramCount === 0) continue;
      const units = layer.outputShape[0]!;
      const weights = sampleIndices(rng, layer.paramCount - units, 40);
      const biases = sampleIndices(rng, units, 10).map((i) => i + layer.paramCount - units);
      const indices = Uint32Array.from([...weights, ...biases], (i) => i + layer.paramOffset);
      expectWithin(`MNIST_CNN ${layer.name} sampled params`, checkGradient(`${layer.name}`, f, network.params, dParams, indices, BIG_STEP));
    }
    expectWithin('MNIST_CNN input, 40 sampled pixels', checkGradient('dImages', f, images, dImages, sampleIndices(rng, images.length, 40), BIG_STEP));
  });

  it('3 random directions over all parameters (3 images): (f(p + h d) - f(p - h d)) / 2h = gradient . d', () => {
    const { network, images, labels } = setup(MNIST_CNN, 3, 4);
    const gradient = network.gradientSum(images, labels).gradient.slice();
    const params = network.params.slice();
    const rng = new Rng(7);
    let maxRelativeError = 0;
    let worst = '';
    for (let trial = 0; trial < 3; trial++) {
      const direction = randomFill(rng, new Float64Array(params.length));
      const lossAt = (sign: number): number => {
        for (let i = 0; i < params.length; i++) network.params[i] = params[i]! + sign * DIRECTION_STEP * direction[i]!;
        return network.evaluate(images, labels).lossSum;
      };
      const numeric = (lossAt(1) - lossAt(-1)) / (2 * DIRECTION_STEP);
      const analytic = dot(gradient, direction);
      const error = Math.abs(analytic - numeric) / Math.max(Math.abs(analytic), Math.abs(numeric), FLOOR);
      if (error >= maxRelativeError) [maxRelativeError, worst] = [error, `direction ${trial}: analytic ${analytic}, numeric ${numeric}`];
    }
    network.params.set(params);
    expectWithin('MNIST_CNN all params, 3 random directions', { maxRelativeError, worst, checked: 3 });
  });
});
