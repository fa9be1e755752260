/**
 * Central-difference gradient check of every layer alone, in float64 (reference kernels
 * with precision 64). Each layer computes f = sum(output * R) for a random R, so
 * dOutput = R; every parameter and every input entry is checked.
 * Tolerance: max relative error < 1e-6 with h = 1e-5 (denominator floored at 1e-3, see the helpers).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createReferenceKernels } from '../kernels/reference.js';
import { Rng } from '../rng.js';
import { shapeSize } from '../shapes.js';
import type { LayerSpec } from '../spec.js';
import { AvgPool2DLayer } from './avgpool2d.js';
import { Conv2DLayer } from './conv2d.js';
import { DenseLayer } from './dense.js';
import { DropoutLayer } from './dropout.js';
import { FlattenLayer } from './flatten.js';
import { type CheckResult, checkGradient, dot, printResults, randomFill, record } from './gradient-check.helpers.js';
import type { Layer, Shape } from './layer.js';
import { MaxPool2DLayer } from './maxpool2d.js';
import { ReluLayer } from './relu.js';
import { SoftmaxCrossEntropy } from './softmax-cross-entropy.js';

const TOLERANCE = 1e-6;
const kernels = createReferenceKernels({ precision: 64 });
const results = new Map<string, CheckResult>();
afterAll(() => printResults('layer gradient checks', results));

type InputKind = 'uniform' | 'distinct' | 'away-from-zero';

function fillInput(rng: Rng, input: Float64Array, kind: InputKind): void {
  if (kind === 'uniform') randomFill(rng, input);
  // maxpool: distinct values at least 2/length apart, so no +-h perturbation changes a window's argmax
  if (kind === 'distinct') rng.permutation(input.length).forEach((rank, i) => (input[i] = ((rank + rng.uniform(0.25, 0.75)) / input.length) * 2 - 1));
  // relu: |x| >= 0.05, so no perturbation crosses the kink
  if (kind === 'away-from-zero') for (let i = 0; i < input.length; i++) input[i] = (rng.nextFloat() < 0.5 ? -1 : 1) * rng.uniform(0.05, 1);
}

function checkLayer(name: string, layer: Layer<Float64Array>, batch: number, kind: InputKind, training = false, seeds: readonly number[] = []): void {
  const rng = new Rng(42);
  const params = kernels.allocate(layer.paramCount);
  const gradient = kernels.allocate(layer.paramCount);
  layer.attach(kernels, params, gradient, batch);
  layer.initialize(rng);
  randomFill(rng, params, -0.5, 0.5); // biases too: a zero bias would hide a bias bug
  const inSize = batch * shapeSize(layer.inputShape);
  const outSize = batch * shapeSize(layer.outputShape);
  const input = kernels.allocate(inSize);
  fillInput(rng, input, kind);
  const output = layer.aliasesInput ? input : kernels.allocate(outSize);
  const upstream = randomFill(rng, kernels.allocate(outSize));
  const dInput = layer.aliasesInput ? upstream : kernels.allocate(inSize);
  // the same seeds on every call: a fixed dropout mask
  const context = () => ({ training, imageRngs: seeds.map((seed) => new Rng(seed)) });
  const f = (): number => {
    layer.forward(batch, input, output, context());
    return dot(output, upstream, outSize);
  };

  f();
  gradient.fill(0.125); // backward accumulates: subtract what was there before
  layer.backward(batch, input, output, upstream, dInput);
  const dParams = gradient.map((g) => g - 0.125);
  const dX = dInput.slice(0, inSize);

  if (layer.paramCount > 0) {
    const check = checkGradient(`${name} dParams`, f, params, dParams);
    record(results, `${name} params`, check);
    expect(check.maxRelativeError, check.worst).toBeLessThan(TOLERANCE);
  }
  const check = checkGradient(`${name} dInput`, f, input, dX);
  record(results, `${name} input`, check);
  expect(check.maxRelativeError, check.worst).toBeLessThan(TOLERANCE);
}

function build<L>(Layer: new (spec: never, shape: Shape, where: string) => L, spec: LayerSpec, shape: Shape): L {
  return new Layer(spec as never, shape, `layer 1 (${spec.type})`);
}

describe('conv2d gradient (every weight, bias and input)', () => {
  const cases: Array<[string, LayerSpec, Shape]> = [
    ['x=[2,5,5] f=3x3x3 s=1 valid', { type: 'conv2d', filters: 3, kernelSize: 3 }, [2, 5, 5]],
    ['x=[2,5,6] f=3x3x3 s=1 same', { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same' }, [2, 5, 6]],
    ['x=[2,7,7] f=2x3x3 s=2 valid', { type: 'conv2d', filters: 2, kernelSize: 3, stride: 2 }, [2, 7, 7]],
    ['x=[1,6,7] f=2x4x4 s=2 same (odd padding after)', { type: 'conv2d', filters: 2, kernelSize: 4, stride: 2, padding: 'same' }, [1, 6, 7]],
    ['x=[2,5,6] f=3x2x3 s=[1,2] same (non-square)', { type: 'conv2d', filters: 3, kernelSize: [2, 3], stride: [1, 2], padding: 'same' }, [2, 5, 6]],
    ['x=[3,4,4] f=2x1x1 s=1 valid', { type: 'conv2d', filters: 2, kernelSize: 1 }, [3, 4, 4]],
    // 6 filters and 5 channels: both the 4-row blocks and the remainder of the reference's matrix products
    ['x=[5,6,5] f=6x3x2 s=1 same', { type: 'conv2d', filters: 6, kernelSize: [3, 2], padding: 'same' }, [5, 6, 5]],
  ];
  for (const [name, spec, shape] of cases) {
    it(name, () => checkLayer(`conv2d ${name}`, build(Conv2DLayer<Float64Array>, spec, shape), 2, 'uniform'));
  }
});

describe('avgpool2d gradient (every input)', () => {
  const cases: Array<[string, LayerSpec, Shape]> = [
    ['x=[2,4,6] pool=2x2 s=2 valid', { type: 'avgpool2d', poolSize: 2 }, [2, 4, 6]],
    ['x=[2,5,5] pool=2x2 s=2 same (edge windows cover 2 and 1 cells)', { type: 'avgpool2d', poolSize: 2, padding: 'same' }, [2, 5, 5]],
    ['x=[2,7,7] pool=3x3 s=2 valid (overlapping windows)', { type: 'avgpool2d', poolSize: 3, stride: 2 }, [2, 7, 7]],
    ['x=[1,6,7] pool=3x3 s=1 same (padding on every side)', { type: 'avgpool2d', poolSize: 3, stride: 1, padding: 'same' }, [1, 6, 7]],
    ['x=[1,6,7] pool=2x3 s=[3,1] valid (stride != pool, gaps and overlaps)', { type: 'avgpool2d', poolSize: [2, 3], stride: [3, 1] }, [1, 6, 7]],
  ];
  for (const [name, spec, shape] of cases) {
    it(name, () => checkLayer(`avgpool2d ${name}`, build(AvgPool2DLayer<Float64Array>, spec, shape), 2, 'uniform'));
  }
});

describe('maxpool2d gradient (every input)', () => {
  const cases: Array<[string, LayerSpec, Shape]> = [
    ['x=[2,4,6] pool=2x2 s=2', { type: 'maxpool2d', poolSize: 2 }, [2, 4, 6]],
    ['x=[2,5,5] pool=2x2 s=2 (last row and column unused)', { type: 'maxpool2d', poolSize: 2 }, [2, 5, 5]],
    ['x=[2,7,7] pool=3x3 s=2 (overlapping windows)', { type: 'maxpool2d', poolSize: 3, stride: 2 }, [2, 7, 7]],
    ['x=[1,6,7] pool=2x3 s=[3,1] (stride != pool, gaps and overlaps)', { type: 'maxpool2d', poolSize: [2, 3], stride: [3, 1] }, [1, 6, 7]],
  ];
  for (const [name, spec, shape] of cases) {
    it(name, () => checkLayer(`maxpool2d ${name}`, build(MaxPool2DLayer<Float64Array>, spec, shape), 2, 'distinct'));
  }
});

describe('dense, relu, dropout, flatten gradient', () => {
  it('dense x=[7] units=4 batch=3', () => checkLayer('dense in=7 out=4', build(DenseLayer<Float64Array>, { type: 'dense', units: 4 }, [7]), 3, 'uniform'));
  it('dense x=[9] units=6 batch=5', () => checkLayer('dense in=9 out=6 batch=5', build(DenseLayer<Float64Array>, { type: 'dense', units: 6 }, [9]), 5, 'uniform'));
  it('relu x=[2,3,4] batch=2', () => checkLayer('relu x=[2,3,4]', build(ReluLayer<Float64Array>, { type: 'relu' }, [2, 3, 4]), 2, 'away-from-zero'));
  it('dropout rate=0.4 x=[3,5] batch=2, fixed mask (training)', () => {
    const layer = build(DropoutLayer<Float64Array>, { type: 'dropout', rate: 0.4 }, [3, 5]);
    checkLayer('dropout rate=0.4 training', layer, 2, 'uniform', true, [7, 8]);
    const mask = Array.from(layer.lastMask(2));
    expect(mask.filter((m) => m === 0).length).toBeGreaterThan(3); // the mask really drops
    expect(mask.filter((m) => m !== 0).every((m) => Math.abs(m - 1 / 0.6) < 1e-15)).toBe(true);
  });
  it('dropout rate=0.4 x=[3,5] batch=2, inactive (not training)', () => {
    checkLayer('dropout rate=0.4 inference', build(DropoutLayer<Float64Array>, { type: 'dropout', rate: 0.4 }, [3, 5]), 2, 'uniform');
  });
  it('flatten x=[2,3,4] keeps C,H,W order: output is the input buffer, shape [24]', () => {
    const layer = build(FlattenLayer<Float64Array>, { type: 'flatten' }, [2, 3, 4]);
    expect(layer.outputShape).toEqual([24]);
    expect(layer.aliasesInput).toBe(true);
    checkLayer('flatten x=[2,3,4]', layer, 2, 'uniform');
  });
});

describe('softmax cross-entropy gradient', () => {
  it('batch=3 classes=5, gradient scale 1 and 1/3', () => {
    const rng = new Rng(5);
    const loss = new SoftmaxCrossEntropy(kernels, 5, 3);
    loss.labels.set([4, 0, 2]);
    const logits = randomFill(rng, kernels.allocate(15), -3, 3);
    const dLogits = kernels.allocate(15);
    const f = (): number => loss.forwardBackward(3, logits, kernels.allocate(15), 1).lossSum;
    for (const scale of [1, 1 / 3]) {
      loss.forwardBackward(3, logits, dLogits, scale);
      const analytic = dLogits.map((d) => d / scale);
      const check = checkGradient('softmax-xent dLogits', f, logits, analytic);
      record(results, `softmax-xent batch=3 classes=5 scale=${scale.toFixed(3)}`, check);
      expect(check.maxRelativeError, check.worst).toBeLessThan(TOLERANCE);
    }
  });
});
