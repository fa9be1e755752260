/**
 * The reference kernels against independent answers: a direct (loop-over-everything)
 * convolution, hand-computed pooling, dense and softmax values, and optimizer steps
 * computed by hand from each paper's formula.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../rng.js';
import { windowExtent } from '../shapes.js';
import type { Conv2DGeometry, FloatArray, Kernels } from './kernels.js';
import { createReferenceKernels } from './reference.js';

const kernels = createReferenceKernels({ precision: 64 });

function randomArray(rng: Rng, length: number): Float64Array {
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = rng.uniform(-1, 1);
  return out;
}

function geometry(batch: number, c: number, h: number, w: number, o: number, kh: number, kw: number, s: [number, number], padding: 'valid' | 'same'): Conv2DGeometry {
  const y = windowExtent(h, kh, s[0], padding);
  const x = windowExtent(w, kw, s[1], padding);
  return { batch, inChannels: c, inHeight: h, inWidth: w, outChannels: o, outHeight: y.out, outWidth: x.out, kernelHeight: kh, kernelWidth: kw, strideY: s[0], strideX: s[1], padTop: y.padBefore, padLeft: x.padBefore };
}

/** The definition in kernels.ts, written as one loop nest with explicit bounds checks. */
function directConv(g: Conv2DGeometry, input: Float64Array, weight: Float64Array, bias: Float64Array): Float64Array {
  const out = new Float64Array(g.batch * g.outChannels * g.outHeight * g.outWidth);
  for (let n = 0; n < g.batch; n++)
    for (let o = 0; o < g.outChannels; o++)
      for (let y = 0; y < g.outHeight; y++)
        for (let x = 0; x < g.outWidth; x++) {
          let sum = bias[o]!;
          for (let c = 0; c < g.inChannels; c++)
            for (let i = 0; i < g.kernelHeight; i++)
              for (let j = 0; j < g.kernelWidth; j++) {
                const iy = y * g.strideY + i - g.padTop;
                const ix = x * g.strideX + j - g.padLeft;
                if (iy < 0 || iy >= g.inHeight || ix < 0 || ix >= g.inWidth) continue;
                sum += weight[((o * g.inChannels + c) * g.kernelHeight + i) * g.kernelWidth + j]! * input[((n * g.inChannels + c) * g.inHeight + iy) * g.inWidth + ix]!;
              }
          out[((n * g.outChannels + o) * g.outHeight + y) * g.outWidth + x] = sum;
        }
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

describe('reference conv2d', () => {
  const cases: Array<[string, Conv2DGeometry]> = [
    ['x=[2,2,5,6] f=[3,2,3,3] s=1 valid', geometry(2, 2, 5, 6, 3, 3, 3, [1, 1], 'valid')],
    ['x=[1,3,7,7] f=[2,3,3,3] s=2 same', geometry(1, 3, 7, 7, 2, 3, 3, [2, 2], 'same')],
    ['x=[2,1,6,5] f=[2,1,2,3] s=[1,2] same', geometry(2, 1, 6, 5, 2, 2, 3, [1, 2], 'same')],
    ['x=[1,2,4,4] f=[1,2,4,4] s=1 same (pad 1 before, 2 after)', geometry(1, 2, 4, 4, 1, 4, 4, [1, 1], 'same')],
    ['x=[2,5,6,5] f=[6,5,3,2] s=1 same (4-row blocks and remainders)', geometry(2, 5, 6, 5, 6, 3, 2, [1, 1], 'same')],
  ];
  for (const [name, g] of cases) {
    it(`forward equals the direct sum, ${name}`, () => {
      const rng = new Rng(1);
      const input = randomArray(rng, g.batch * g.inChannels * g.inHeight * g.inWidth);
      const weight = randomArray(rng, g.outChannels * g.inChannels * g.kernelHeight * g.kernelWidth);
      const bias = randomArray(rng, g.outChannels);
      const output = kernels.allocate(g.batch * g.outChannels * g.outHeight * g.outWidth);
      const scratch = kernels.allocate(kernels.conv2dScratchLength(g));
      kernels.conv2dForward(g, input, weight, bias, output, scratch);
      const expected = directConv(g, input, weight, bias);
      for (let i = 0; i < expected.length; i++) expect(output[i]).toBeCloseTo(expected[i]!, 12);
    });

    it(`backward is the adjoint of forward (<dY, conv(X)> = <dW, W> and <dX, X>), ${name}`, () => {
      // conv without bias is bilinear: <dY, conv(X, W)> = <dW(X, dY), W> = <dX(W, dY), X>,
      // and dBias[o] = sum of dY over channel o.
      const rng = new Rng(2);
      const input = randomArray(rng, g.batch * g.inChannels * g.inHeight * g.inWidth);
      const weight = randomArray(rng, g.outChannels * g.inChannels * g.kernelHeight * g.kernelWidth);
      const dOutput = randomArray(rng, g.batch * g.outChannels * g.outHeight * g.outWidth);
      const zeroBias = new Float64Array(g.outChannels);
      const scratch = kernels.allocate(kernels.conv2dScratchLength(g));
      const output = directConv(g, input, weight, zeroBias);
      const dWeight = new Float64Array(weight.length).fill(0.5); // accumulates onto 0.5
      const dBias = new Float64Array(g.outChannels).fill(0.25);
      const dInput = new Float64Array(input.length).fill(7); // overwritten
      kernels.conv2dBackwardFilter(g, input, dOutput, dWeight, dBias, scratch);
      kernels.conv2dBackwardInput(g, weight, dOutput, dInput, scratch);
      for (let i = 0; i < dWeight.length; i++) dWeight[i] = dWeight[i]! - 0.5;
      const expected = dot(dOutput, output);
      expect(dot(dWeight, weight)).toBeCloseTo(expected, 10);
      expect(dot(dInput, input)).toBeCloseTo(expected, 10);
      const positions = g.outHeight * g.outWidth;
      for (let o = 0; o < g.outChannels; o++) {
        let sum = 0.25;
        for (let n = 0; n < g.batch; n++) for (let p = 0; p < positions; p++) sum += dOutput[(n * g.outChannels + o) * positions + p]!;
        expect(dBias[o]).toBeCloseTo(sum, 12);
      }
    });
  }
});

describe('reference avgpool2d', () => {
  it("forward and backward, x=[1,1,3,3] pool=[2,2] s=2 'same' (pads bottom/right 1): padded cells not counted", () => {
    const g = { batch: 1, channels: 1, inHeight: 3, inWidth: 3, outHeight: 2, outWidth: 2, poolHeight: 2, poolWidth: 2, strideY: 2, strideX: 2, padTop: 0, padLeft: 0 };
    // prettier-ignore
    const input = Float64Array.from([1, 2, 3,
                                     4, 5, 6,
                                     7, 8, 9]);
    const output = new Float64Array(4);
    kernels.avgPool2dForward(g, input, output);
    // windows: {1,2,4,5} / 4, {3,6} / 2, {7,8} / 2, {9} / 1
    expect(Array.from(output)).toEqual([3, 4.5, 7.5, 9]);
    const dInput = new Float64Array(9).fill(7);
    kernels.avgPool2dBackward(g, Float64Array.from([4, 2, 6, 5]), dInput);
    // prettier-ignore
    expect(Array.from(dInput)).toEqual([1, 1, 1,
                                        1, 1, 1,
                                        3, 3, 5]);
  });

  it('overlapping windows add up, x=[1,1,3,3] pool=[2,2] s=1 valid', () => {
    const g = { batch: 1, channels: 1, inHeight: 3, inWidth: 3, outHeight: 2, outWidth: 2, poolHeight: 2, poolWidth: 2, strideY: 1, strideX: 1, padTop: 0, padLeft: 0 };
    const input = Float64Array.from([0, 4, 8, 4, 0, 4, 8, 4, 0]);
    const output = new Float64Array(4);
    kernels.avgPool2dForward(g, input, output);
    expect(Array.from(output)).toEqual([2, 4, 4, 2]);
    const dInput = new Float64Array(9);
    kernels.avgPool2dBackward(g, Float64Array.from([4, 8, 12, 16]), dInput);
    // the centre is in all four windows: (4 + 8 + 12 + 16) / 4
    expect(Array.from(dInput)).toEqual([1, 3, 2, 4, 10, 6, 3, 7, 4]);
  });
});

describe('reference maxpool2d', () => {
  it('forward and backward, x=[1,1,4,4] pool=[2,2] s=2, ties to the first position', () => {
    const g = { batch: 1, channels: 1, inHeight: 4, inWidth: 4, outHeight: 2, outWidth: 2, poolHeight: 2, poolWidth: 2, strideY: 2, strideX: 2 };
    // prettier-ignore
    const input = Float64Array.from([1, 5, 2, 2,
                                     3, 4, 2, 2,
                                     0, -1, 9, 8,
                                     -2, 0, 7, 9]);
    const output = new Float64Array(4);
    kernels.maxPool2dForward(g, input, output);
    expect(Array.from(output)).toEqual([5, 2, 0, 9]);
    const dInput = new Float64Array(16).fill(3);
    kernels.maxPool2dBackward(g, input, output, Float64Array.from([10, 20, 30, 40]), dInput);
    // prettier-ignore
    expect(Array.from(dInput)).toEqual([0, 10, 20, 0,
                                        0, 0, 0, 0,
                                        30, 0, 40, 0,
                                        0, 0, 0, 0]);
  });

  it('overlapping windows add up, x=[1,1,3,3] pool=[2,2] s=1', () => {
    const g = { batch: 1, channels: 1, inHeight: 3, inWidth: 3, outHeight: 2, outWidth: 2, poolHeight: 2, poolWidth: 2, strideY: 1, strideX: 1 };
    const input = Float64Array.from([0, 1, 0, 2, 9, 3, 0, 4, 0]);
    const output = new Float64Array(4);
    kernels.maxPool2dForward(g, input, output);
    expect(Array.from(output)).toEqual([9, 9, 9, 9]);
    const dInput = new Float64Array(9);
    kernels.maxPool2dBackward(g, input, output, Float64Array.from([1, 2, 3, 4]), dInput);
    expect(Array.from(dInput)).toEqual([0, 0, 0, 0, 10, 0, 0, 0, 0]);
  });
});

describe('reference dense, relu, multiply, scale', () => {
  it('dense forward and backward, batch=2 in=3 out=2 (hand-computed)', () => {
    const input = Float64Array.from([1, 2, 3, -1, 0, 2]);
    const weight = Float64Array.from([1, 0, -1, 2, 1, 0]);
    const bias = Float64Array.from([0.5, -1]);
    const output = new Float64Array(4);
    kernels.denseForward(2, 3, 2, input, weight, bias, output);
    expect(Array.from(output)).toEqual([1 - 3 + 0.5, 2 + 2 - 1, -1 - 2 + 0.5, -2 - 1]);
    const dOutput = Float64Array.from([1, 2, 3, 4]);
    const dWeight = new Float64Array(6).fill(1);
    const dBias = new Float64Array(2);
    const dInput = new Float64Array(6).fill(9);
    kernels.denseBackward(2, 3, 2, input, weight, dOutput, dWeight, dBias, dInput);
    // dW[o,i] = 1 + sum_n dY[n,o] x[n,i]
    expect(Array.from(dWeight)).toEqual([1 + 1 - 3, 1 + 2 + 0, 1 + 3 + 6, 1 + 2 - 4, 1 + 4 + 0, 1 + 6 + 8]);
    expect(Array.from(dBias)).toEqual([4, 6]);
    // dX[n,:] = sum_o dY[n,o] W[o,:]
    expect(Array.from(dInput)).toEqual([1 + 4, 2, -1, 3 + 8, 4, -3]);
  });

  it('relu, multiply and scale elementwise', () => {
    const x = Float64Array.from([-2, 0, 3]);
    const y = new Float64Array(3);
    kernels.reluForward(3, x, y);
    expect(Array.from(y)).toEqual([0, 0, 3]);
    const d = Float64Array.from([5, 6, 7]);
    kernels.reluBackward(3, y, d, d);
    expect(Array.from(d)).toEqual([0, 0, 7]);
    kernels.multiply(3, x, Float64Array.from([2, 2, 0.5]), x);
    expect(Array.from(x)).toEqual([-4, 0, 1.5]);
    kernels.scale(3, x, -2);
    expect(Array.from(x)).toEqual([8, -0, -3]);
  });
});

describe('reference softmax cross-entropy', () => {
  it('hand values for logits [0, ln 2, ln 3], label 2', () => {
    const probabilities = new Float64Array(3);
    const dLogits = new Float64Array(3);
    const result = new Float64Array(2);
    kernels.softmaxCrossEntropy(1, 3, Float64Array.from([0, Math.log(2), Math.log(3)]), Float64Array.from([2]), probabilities, dLogits, 0.5, result);
    expect(Array.from(probabilities).map((p) => p * 6)).toEqual([1, 2, 3].map((v) => expect.closeTo(v, 12)));
    expect(result[0]).toBeCloseTo(Math.log(2), 12); // -log(3/6)
    expect(result[1]).toBe(1);
    expect(dLogits[0]).toBeCloseTo(0.5 / 6, 12);
    expect(dLogits[2]).toBeCloseTo(0.5 * (0.5 - 1), 12);
  });

  function extremeLogits<A extends FloatArray>(k: Kernels<A>): void {
    const logits = k.allocate(6);
    logits.set([1e4, -1e4, 0, -1e4, 1e4, 1e4]);
    const labels = k.allocate(2);
    labels.set([1, 2]);
    const probabilities = k.allocate(6);
    const dLogits = k.allocate(6);
    const result = k.allocate(2);
    k.softmaxCrossEntropy(2, 3, logits, labels, probabilities, dLogits, 1, result);
    // row 0: label 1 has logit -1e4, 2e4 below the max: loss = 2e4 (+ log(1 + e^-1e4 + e^-2e4) ~ 0)
    // row 1: labels 1 and 2 tie at 1e4: loss = log 2, and argmax (first max, 1) != label 2
    expect(result[0]).toBeCloseTo(2e4 + Math.log(2), 3);
    expect(result[1]).toBe(0);
    expect(Array.from(probabilities)).toEqual([1, 0, 0, 0, 0.5, 0.5]);
    expect(Array.from(dLogits)).toEqual([1, -1, 0, 0, 0.5, -0.5]);
  }
  it('logits of +-1e4 give a finite loss and gradient (float32)', () => extremeLogits(createReferenceKernels({ precision: 32 })));
  it('logits of +-1e4 give a finite loss and gradient (float64)', () => extremeLogits(createReferenceKernels({ precision: 64 })));
});

describe('reference optimizer updates (hand-computed from the papers)', () => {
  it('SGD with momentum, plain and Nesterov (Keras form)', () => {
    for (const nesterov of [false, true]) {
      const params = Float64Array.from([1]);
      const velocity = Float64Array.from([0.5]);
      kernels.sgdUpdate(1, params, Float64Array.from([2]), velocity, 0.1, 0.9, nesterov);
      const v = 0.9 * 0.5 - 0.1 * 2; // 0.25
      expect(velocity[0]).toBeCloseTo(v, 15);
      expect(params[0]).toBeCloseTo(nesterov ? 1 + 0.9 * v - 0.1 * 2 : 1 + v, 15);
    }
  });

  it('Adadelta (Zeiler 2012, Keras learning_rate)', () => {
    const params = Float64Array.from([1]);
    const accG = Float64Array.from([0.1]);
    const accD = Float64Array.from([0.2]);
    kernels.adadeltaUpdate(1, params, Float64Array.from([3]), accG, accD, 1, 0.95, 1e-7);
    const newAccG = 0.95 * 0.1 + 0.05 * 9;
    const delta = (Math.sqrt(0.2 + 1e-7) / Math.sqrt(newAccG + 1e-7)) * 3;
    expect(accG[0]).toBeCloseTo(newAccG, 15);
    expect(accD[0]).toBeCloseTo(0.95 * 0.2 + 0.05 * delta * delta, 15);
    expect(params[0]).toBeCloseTo(1 - delta, 14);
  });

  it('Adam (Kingma & Ba 2015, Algorithm 1) at step 3', () => {
    const params = Float64Array.from([1]);
    const m = Float64Array.from([0.1]);
    const v = Float64Array.from([0.01]);
    kernels.adamUpdate(1, params, Float64Array.from([-2]), m, v, 0.001, 0.9, 0.999, 1e-8, 3);
    const newM = 0.9 * 0.1 + 0.1 * -2; // -0.11
    const newV = 0.999 * 0.01 + 0.001 * 4;
    const mHat = newM / (1 - 0.9 ** 3);
    const vHat = newV / (1 - 0.999 ** 3);
    expect(m[0]).toBeCloseTo(newM, 15);
    expect(v[0]).toBeCloseTo(newV, 15);
    expect(params[0]).toBeCloseTo(1 - (0.001 * mHat) / (Math.sqrt(vHat) + 1e-8), 15);
  });
});

describe('createReferenceKernels', () => {
  it('allocates zeroed arrays of the requested precision', () => {
    expect(createReferenceKernels().allocate(3)).toBeInstanceOf(Float32Array);
    const a = createReferenceKernels({ precision: 64 }).allocate(3);
    expect(a).toBeInstanceOf(Float64Array);
    expect(Array.from(a)).toEqual([0, 0, 0]);
  });
});
