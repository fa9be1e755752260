/**
 * One conformance suite for every kernel of every backend: the float32 TypeScript
 * reference, the WebAssembly SIMD build, (when the engine accepts it) the relaxed-SIMD
 * build and the native addon (built at install; required in CI), each against the
 * reference kernels run in float64 on the same inputs.
 *
 * Tolerances (max-norm relative: max|got - want| / max|want|):
 * - GEMM-based kernels (conv2d x3, dense): 1e-4. float32 sums of up to ~1000 terms in a
 *   different order (blocked, fused multiply-add in the relaxed build) than the reference;
 * - elementwise kernels, pooling, softmax, optimizer updates: 1e-5;
 * - pooling routes gradients exactly (ties go to the first max), checked with 1e-6.
 * Parameter-gradient kernels accumulate (dW += ...), so they start from non-zero dW.
 */
import { describe, expect, it } from 'vitest';
import { createModel, createNetwork } from '../model.js';
import type { ModelSpec } from '../spec.js';
import { Rng } from '../rng.js';
import { MNIST_CNN } from '../spec.js';
import { windowExtent } from '../shapes.js';
import type { AvgPool2DGeometry, Conv2DGeometry, Kernels, Pool2DGeometry } from './kernels.js';
import { createReferenceKernels } from './reference.js';
import { defaultKernels, selectKernels } from './select.js';
import { WasmKernelsError, bestWasmVariant, createWasmKernels } from './wasm/index.js';
import { createNativeKernels, nativeKernelsStatus, selectNodeKernels } from './native/index.js';
import { requirement } from '../../../../tests/support/requirements.js';

const GEMM_TOLERANCE = 1e-4;
const ELEMENTWISE_TOLERANCE = 1e-5;

const gold = createReferenceKernels({ precision: 64 });
const backends: Array<[string, Kernels]> = [
  ['ts', createReferenceKernels()],
  ['wasm-simd', createWasmKernels({ variant: 'simd', memoryBytes: 256 << 20 })],
];
// Node 20 runs relaxed SIMD behind a flag that the loader sets; an engine without it only has plain SIMD.
if (bestWasmVariant() === 'relaxed') backends.push(['wasm-relaxed', createWasmKernels({ variant: 'relaxed', memoryBytes: 256 << 20 })]);
const nativeStatus = nativeKernelsStatus();
const native = requirement('the native kernels', nativeStatus.available ? null : nativeStatus.reason);
if (nativeStatus.available) backends.push(['native', createNativeKernels()]);

function randomValues(seed: number, length: number, low = -1, high = 1): Float64Array {
  const rng = new Rng(seed);
  const values = new Float64Array(length);
  // Rounded to float32 so every backend and the float64 gold see the same inputs.
  for (let i = 0; i < length; i++) values[i] = Math.fround(rng.uniform(low, high));
  return values;
}

/** A backend array holding `values` (or zeros of `length`). */
function put(kernels: Kernels, values: ArrayLike<number>): Float32Array {
  const array = kernels.allocate(values.length);
  array.set(values);
  return array;
}

function put64(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values);
}

function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let scale = 0;
  let error = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]!));
    error = Math.max(error, Math.abs(got[i]! - want[i]!));
  }
  if (Number.isNaN(error)) return Infinity;
  return scale === 0 ? error : error / scale;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tolerance: number): void {
  expect(relativeError(got, want)).toBeLessThanOrEqual(tolerance);
}

function convGeometry(x: [number, number, number, number], outChannels: number, kernel: [number, number], stride: [number, number], padding: 'valid' | 'same'): Conv2DGeometry {
  const [batch, inChannels, inHeight, inWidth] = x;
  const y = windowExtent(inHeight, kernel[0], stride[0], padding);
  const xs = windowExtent(inWidth, kernel[1], stride[1], padding);
  return {
    batch, inChannels, inHeight, inWidth, outChannels, outHeight: y.out, outWidth: xs.out,
    kernelHeight: kernel[0], kernelWidth: kernel[1], strideY: stride[0], strideX: stride[1], padTop: y.padBefore, padLeft: xs.padBefore,
  };
}

type ConvCase = [x: [number, number, number, number], outChannels: number, kernel: [number, number], stride: [number, number], padding: 'valid' | 'same'];
const convCases: ConvCase[] = [
  [[2, 3, 7, 5], 5, [3, 2], [2, 2], 'same'],
  [[1, 1, 28, 28], 32, [3, 3], [1, 1], 'valid'], // the default model's conv1, batch 1
  [[2, 32, 26, 26], 64, [3, 3], [1, 1], 'valid'], // conv2 (depth 288 > one 256 block)
  [[3, 5, 9, 8], 6, [1, 4], [1, 3], 'same'],
  [[1, 2, 4, 4], 3, [5, 5], [1, 1], 'same'], // kernel larger than the image
  [[2, 6, 10, 11], 9, [3, 3], [2, 2], 'valid'],
  [[1, 7, 12, 12], 10, [2, 3], [2, 1], 'same'],
  [[2, 4, 9, 13], 6, [3, 5], [1, 1], 'same'], // stride-1 col2im: vector interior and scalar borders
  [[2, 3, 10, 9], 5, [2, 3], [1, 1], 'valid'], // native forward packs the image's columns itself: 63 positions, a ragged last panel
  [[1, 4, 21, 17], 6, [2, 4], [1, 1], 'valid'], // native filter gradient packs transposed columns from the image: depth 32, a depth block ending mid-row
  [[1, 2, 6, 25], 3, [2, 5], [1, 1], 'valid'], // native input gradient gathers: 17 interior columns (a vector and an overlapping one), 4 border columns each side
  [[1, 16, 4, 12], 5, [1, 3], [1, 1], 'valid'], // native 48-wide tiles: 40 positions (a ragged panel), depth 48 (one whole panel of transposed columns)
  [[3, 1, 30, 30], 3, [3, 3], [1, 1], 'valid'], // native direct 3x3 filter gradient: rows of two vectors (28 outputs), a lone last output channel, 3 images
  [[2, 2, 9, 12], 4, [3, 3], [1, 1], 'valid'], // the same kernel with two input channels (depth 18) and rows of one vector
  [[1, 3, 6, 40], 4, [2, 3], [1, 1], 'valid'], // native input gradient with masked vectors (AVX-512): image rows of three vectors, the last ragged
  [[2, 3, 8, 10], 5, [3, 3], [1, 1], 'valid'], // native forward reading the image in place (AVX-512): rows of 8 outputs, 48 positions, 5 output channels (a ragged row panel)
  [[3, 2, 6, 10], 64, [2, 3], [1, 1], 'valid'], // native filter gradient as depths x 64 channels (AVX-512): depth 12, 40 positions, 3 images
];

describe.each(backends)('kernels on %s', (_, kernels) => {
  describe.each(convCases)('conv2d x=%j o=%i k=%j s=%j p=%s', (x, outChannels, kernel, stride, padding) => {
    const g = convGeometry(x, outChannels, kernel, stride, padding);
    const inputSize = g.batch * g.inChannels * g.inHeight * g.inWidth;
    const weightSize = g.outChannels * g.inChannels * g.kernelHeight * g.kernelWidth;
    const outputSize = g.batch * g.outChannels * g.outHeight * g.outWidth;
    const input = randomValues(1, inputSize);
    const weight = randomValues(2, weightSize);
    const bias = randomValues(3, g.outChannels);
    const dOutput = randomValues(4, outputSize);
    const dWeight0 = randomValues(5, weightSize);
    const dBias0 = randomValues(6, g.outChannels);

    it('forward', () => {
      const want = put64(new Float64Array(outputSize));
      gold.conv2dForward(g, put64(input), put64(weight), put64(bias), want, new Float64Array(gold.conv2dScratchLength(g)));
      const got = kernels.allocate(outputSize);
      kernels.conv2dForward(g, put(kernels, input), put(kernels, weight), put(kernels, bias), got, kernels.allocate(kernels.conv2dScratchLength(g)));
      expectClose(got, want, GEMM_TOLERANCE);
    });

    it('forward with relu is forward then reluForward, bit for bit (stale output overwritten)', () => {
      const scratch = kernels.allocate(kernels.conv2dScratchLength(g));
      const inputs = [put(kernels, input), put(kernels, weight), put(kernels, bias)] as const;
      const want = kernels.allocate(outputSize);
      kernels.conv2dForward(g, ...inputs, want, scratch);
      kernels.reluForward(outputSize, want, want);
      const got = put(kernels, randomValues(8, outputSize));
      kernels.conv2dForward(g, ...inputs, got, scratch, true);
      // Bit patterns, so that a -0 for +0 counts as a difference (the first one is reported); the case must have both signs.
      const gotBits = new Uint32Array(got.buffer, got.byteOffset, outputSize);
      const wantBits = new Uint32Array(want.buffer, want.byteOffset, outputSize);
      const first = gotBits.findIndex((bits, i) => bits !== wantBits[i]);
      expect(first === -1 ? 'identical' : `output[${first}] = ${got[first]}, want ${want[first]}`).toBe('identical');
      expect(want.some((value) => value === 0) && want.some((value) => value > 0)).toBe(true);
    });

    it('backward filter (accumulates into dW, dB)', () => {
      const wantW = put64(dWeight0);
      const wantB = put64(dBias0);
      gold.conv2dBackwardFilter(g, put64(input), put64(dOutput), wantW, wantB, new Float64Array(gold.conv2dScratchLength(g)));
      const gotW = put(kernels, dWeight0);
      const gotB = put(kernels, dBias0);
      kernels.conv2dBackwardFilter(g, put(kernels, input), put(kernels, dOutput), gotW, gotB, kernels.allocate(kernels.conv2dScratchLength(g)));
      expectClose(gotW, wantW, GEMM_TOLERANCE);
      expectClose(gotB, wantB, GEMM_TOLERANCE);
    });

    it('backward input (overwrites dX)', () => {
      const want = new Float64Array(inputSize);
      gold.conv2dBackwardInput(g, put64(weight), put64(dOutput), want, new Float64Array(gold.conv2dScratchLength(g)));
      const got = put(kernels, randomValues(7, inputSize)); // stale values must be overwritten
      kernels.conv2dBackwardInput(g, put(kernels, weight), put(kernels, dOutput), got, kernels.allocate(kernels.conv2dScratchLength(g)));
      expectClose(got, want, GEMM_TOLERANCE);
    });

    it('forward and both backward kernels are adjoint: <conv(x)-b, dY> = <x, dX> = <W, dW>', () => {
      const scratch = kernels.allocate(kernels.conv2dScratchLength(g));
      const output = kernels.allocate(outputSize);
      const zeroBias = kernels.allocate(g.outChannels);
      kernels.conv2dForward(g, put(kernels, input), put(kernels, weight), zeroBias, output, scratch);
      const dInput = kernels.allocate(inputSize);
      kernels.conv2dBackwardInput(g, put(kernels, weight), put(kernels, dOutput), dInput, scratch);
      const dWeight = kernels.allocate(weightSize);
      kernels.conv2dBackwardFilter(g, put(kernels, input), put(kernels, dOutput), dWeight, kernels.allocate(g.outChannels), scratch);
      const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
        let sum = 0;
        for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
        return sum;
      };
      const reference = dot(output, dOutput);
      const size = Math.sqrt(dot(output, output) * dot(dOutput, dOutput));
      expect(Math.abs(dot(input, dInput) - reference) / size).toBeLessThan(GEMM_TOLERANCE);
      expect(Math.abs(dot(weight, dWeight) - reference) / size).toBeLessThan(GEMM_TOLERANCE);
    });
  });

  type PoolCase = [x: [number, number, number, number], pool: [number, number], stride: [number, number]];
  const poolCases: PoolCase[] = [
    [[2, 3, 6, 6], [2, 2], [2, 2]],
    [[1, 2, 5, 5], [2, 2], [2, 2]], // odd size: the last row and column are never read
    [[1, 3, 11, 13], [2, 2], [2, 2]], // 2x2 fast path: 4 outputs per vector step plus a scalar tail
    [[1, 2, 7, 5], [3, 2], [2, 1]], // overlapping windows add their gradients
    [[2, 64, 24, 24], [2, 2], [2, 2]], // the default model's pooling
    [[1, 2, 34, 35], [2, 2], [2, 2]], // native: two whole vectors of windows per row (AVX-512, 8 per vector) and a tail
  ];
  describe.each(poolCases)('maxpool2d x=%j pool=%j s=%j', ([batch, channels, inHeight, inWidth], pool, stride) => {
    const g: Pool2DGeometry = {
      batch, channels, inHeight, inWidth,
      outHeight: Math.floor((inHeight - pool[0]) / stride[0]) + 1,
      outWidth: Math.floor((inWidth - pool[1]) / stride[1]) + 1,
      poolHeight: pool[0], poolWidth: pool[1], strideY: stride[0], strideX: stride[1],
    };
    const inputSize = batch * channels * inHeight * inWidth;
    const outputSize = batch * channels * g.outHeight * g.outWidth;
    // Quarter steps in [-1, 1]: many ties, which must go to the first position of the window.
    const input = randomValues(11, inputSize).map((v) => Math.round(v * 4) / 4);
    const dOutput = randomValues(12, outputSize);

    it('forward and backward (ties to the first max)', () => {
      const wantOut = new Float64Array(outputSize);
      gold.maxPool2dForward(g, put64(input), wantOut);
      const wantDx = new Float64Array(inputSize);
      gold.maxPool2dBackward(g, put64(input), wantOut, put64(dOutput), wantDx);
      const gotOut = kernels.allocate(outputSize);
      const x = put(kernels, input);
      kernels.maxPool2dForward(g, x, gotOut);
      expectClose(gotOut, wantOut, 0);
      const gotDx = put(kernels, randomValues(13, inputSize));
      kernels.maxPool2dBackward(g, x, gotOut, put(kernels, dOutput), gotDx);
      expectClose(gotDx, wantDx, 1e-6);
    });
  });

  type AvgPoolCase = [x: [number, number, number, number], pool: [number, number], stride: [number, number], padding: 'valid' | 'same'];
  const avgPoolCases: AvgPoolCase[] = [
    [[2, 3, 6, 6], [2, 2], [2, 2], 'valid'],
    [[1, 3, 11, 13], [2, 2], [2, 2], 'valid'], // 2x2 fast path: 4 outputs per vector step, a scalar tail, an unread last row and column
    [[1, 2, 7, 5], [3, 2], [2, 1], 'valid'], // overlapping windows add their gradients
    [[1, 2, 7, 9], [2, 2], [2, 2], 'same'], // odd sizes: the last row and column of windows cover half their cells
    [[2, 2, 6, 7], [3, 3], [1, 1], 'same'], // padding on every side, overlapping windows
    [[2, 64, 24, 24], [2, 2], [2, 2], 'valid'], // the default model's pooling size
  ];
  describe.each(avgPoolCases)('avgpool2d x=%j pool=%j s=%j padding=%s', ([batch, channels, inHeight, inWidth], pool, stride, padding) => {
    const rows = windowExtent(inHeight, pool[0], stride[0], padding);
    const columns = windowExtent(inWidth, pool[1], stride[1], padding);
    const g: AvgPool2DGeometry = {
      batch, channels, inHeight, inWidth, outHeight: rows.out, outWidth: columns.out,
      poolHeight: pool[0], poolWidth: pool[1], strideY: stride[0], strideX: stride[1], padTop: rows.padBefore, padLeft: columns.padBefore,
    };
    const inputSize = batch * channels * inHeight * inWidth;
    const outputSize = batch * channels * g.outHeight * g.outWidth;
    const input = randomValues(14, inputSize);
    const dOutput = randomValues(15, outputSize);

    it('forward and backward (padded cells not counted)', () => {
      const wantOut = new Float64Array(outputSize);
      gold.avgPool2dForward(g, put64(input), wantOut);
      const wantDx = new Float64Array(inputSize);
      gold.avgPool2dBackward(g, put64(dOutput), wantDx);
      const gotOut = kernels.allocate(outputSize);
      kernels.avgPool2dForward(g, put(kernels, input), gotOut);
      expectClose(gotOut, wantOut, ELEMENTWISE_TOLERANCE);
      // dInput starts non-zero: the kernel must overwrite it.
      const gotDx = put(kernels, randomValues(16, inputSize));
      kernels.avgPool2dBackward(g, put(kernels, dOutput), gotDx);
      expectClose(gotDx, wantDx, ELEMENTWISE_TOLERANCE);
    });
  });

  type DenseCase = [batch: number, inFeatures: number, outFeatures: number];
  const denseCases: DenseCase[] = [
    [1, 7, 10],
    [5, 33, 10],
    [64, 300, 128],
    [3, 9216, 10],
    [2, 128, 13],
    [33, 300, 17], // every GEMM tile ragged, two depth blocks
    [64, 1200, 128], // batch 64 against 128 outputs, five depth blocks
  ];
  describe.each(denseCases)('dense batch=%i in=%i out=%i', (batch, inFeatures, outFeatures) => {
    const input = randomValues(21, batch * inFeatures);
    const weight = randomValues(22, outFeatures * inFeatures);
    const bias = randomValues(23, outFeatures);
    const dOutput = randomValues(24, batch * outFeatures);
    const dWeight0 = randomValues(25, outFeatures * inFeatures);
    const dBias0 = randomValues(26, outFeatures);

    it('forward', () => {
      const want = new Float64Array(batch * outFeatures);
      gold.denseForward(batch, inFeatures, outFeatures, put64(input), put64(weight), put64(bias), want);
      const got = kernels.allocate(batch * outFeatures);
      kernels.denseForward(batch, inFeatures, outFeatures, put(kernels, input), put(kernels, weight), put(kernels, bias), got);
      expectClose(got, want, GEMM_TOLERANCE);
    });

    it.each([true, false])('backward (dInput wanted: %s)', (withInput) => {
      const wantW = put64(dWeight0);
      const wantB = put64(dBias0);
      const wantX = new Float64Array(batch * inFeatures);
      gold.denseBackward(batch, inFeatures, outFeatures, put64(input), put64(weight), put64(dOutput), wantW, wantB, withInput ? wantX : null);
      const gotW = put(kernels, dWeight0);
      const gotB = put(kernels, dBias0);
      const gotX = put(kernels, randomValues(27, batch * inFeatures));
      const before = Float32Array.from(gotX);
      kernels.denseBackward(batch, inFeatures, outFeatures, put(kernels, input), put(kernels, weight), put(kernels, dOutput), gotW, gotB, withInput ? gotX : null);
      expectClose(gotW, wantW, GEMM_TOLERANCE);
      expectClose(gotB, wantB, GEMM_TOLERANCE);
      if (withInput) expectClose(gotX, wantX, GEMM_TOLERANCE);
      else expect(gotX).toEqual(before);
    });
  });

  describe.each([1, 7, 33, 1000])('elementwise length=%i', (length) => {
    const x = randomValues(31, length);
    x[0] = 0; // relu treats zero as inactive in both directions
    const y = randomValues(32, length);

    it('relu forward and backward (in place)', () => {
      const wantOut = new Float64Array(length);
      gold.reluForward(length, put64(x), wantOut);
      const wantDx = new Float64Array(length);
      gold.reluBackward(length, wantOut, put64(y), wantDx);
      const io = put(kernels, x);
      kernels.reluForward(length, io, io);
      expectClose(io, wantOut, 0);
      const dio = put(kernels, y);
      kernels.reluBackward(length, io, dio, dio);
      expectClose(dio, wantDx, 0);
    });

    it('multiply (output aliases a) and scale', () => {
      const want = new Float64Array(length);
      gold.multiply(length, put64(x), put64(y), want);
      gold.scale(length, want, -0.375);
      const a = put(kernels, x);
      kernels.multiply(length, a, put(kernels, y), a);
      kernels.scale(length, a, -0.375);
      expectClose(a, want, ELEMENTWISE_TOLERANCE);
    });

    it('sgd (momentum, Nesterov), adadelta and adam: three steps each', () => {
      const grads = [randomValues(33, length), randomValues(34, length), randomValues(35, length)];
      type Step = (k: Kernels | typeof gold, p: Float32Array | Float64Array, g: Float32Array | Float64Array, s1: Float32Array | Float64Array, s2: Float32Array | Float64Array, step: number) => void;
      const updates: Array<[string, Step]> = [
        ['sgd', (k, p, g, s1, _s2) => (k as Kernels<Float32Array | Float64Array>).sgdUpdate(length, p, g, s1, 0.1, 0.9, false)],
        ['nesterov', (k, p, g, s1, _s2) => (k as Kernels<Float32Array | Float64Array>).sgdUpdate(length, p, g, s1, 0.05, 0.8, true)],
        ['adadelta', (k, p, g, s1, s2) => (k as Kernels<Float32Array | Float64Array>).adadeltaUpdate(length, p, g, s1, s2, 1, 0.95, 1e-7)],
        ['adam', (k, p, g, s1, s2, step) => (k as Kernels<Float32Array | Float64Array>).adamUpdate(length, p, g, s1, s2, 0.001, 0.9, 0.999, 1e-7, step)],
      ];
      for (const [name, update] of updates) {
        const want = [put64(x), new Float64Array(length), new Float64Array(length)] as const;
        const got = [put(kernels, x), kernels.allocate(length), kernels.allocate(length)] as const;
        for (let step = 1; step <= 3; step++) {
          update(gold, want[0], put64(grads[step - 1]!), want[1], want[2], step);
          update(kernels, got[0], put(kernels, grads[step - 1]!), got[1], got[2], step);
        }
        for (let i = 0; i < 3; i++) expect(relativeError(got[i]!, want[i]!), `${name} state ${i}`).toBeLessThanOrEqual(ELEMENTWISE_TOLERANCE);
      }
    });
  });

  it.each([
    [1, 10],
    [5, 10],
    [7, 3],
  ])('softmax cross-entropy batch=%i classes=%i (logits up to +-40, scale 1/batch)', (batch, classes) => {
    const logits = randomValues(41, batch * classes, -40, 40);
    const labels = Array.from({ length: batch }, (_, n) => (n * 7 + 3) % classes);
    // Make one row's argmax its label, so 'correct' is not trivially 0.
    logits[labels[0]!] = 45;
    const scaleFactor = 1 / batch;
    const want = { p: new Float64Array(batch * classes), d: new Float64Array(batch * classes), r: new Float64Array(2) };
    gold.softmaxCrossEntropy(batch, classes, put64(logits), put64(labels), want.p, want.d, scaleFactor, want.r);
    const got = { p: kernels.allocate(batch * classes), d: kernels.allocate(batch * classes), r: kernels.allocate(2) };
    kernels.softmaxCrossEntropy(batch, classes, put(kernels, logits), put(kernels, labels), got.p, got.d, scaleFactor, got.r);
    expectClose(got.p, want.p, ELEMENTWISE_TOLERANCE);
    expectClose(got.d, want.d, ELEMENTWISE_TOLERANCE);
    expect(got.r[0]).toBeCloseTo(want.r[0]!, 3);
    expect(got.r[1]).toBe(want.r[1]);
    expect(want.r[1]).toBeGreaterThanOrEqual(1);
  });
});

describe.each(backends.filter(([name]) => name.startsWith('wasm')))('GEMM on %s (C = A B row-major, against float64 sums)', (_, kernels) => {
  const wasm = kernels as ReturnType<typeof createWasmKernels>;
  it.each([
    [1, 1, 1],
    [5, 11, 7], // every tile ragged
    [4, 8, 385], // one full tile, K = 385: two equal depth blocks
    [10, 64, 128], // M = 10: runs as C^T = B^T A^T (fewer padded lanes)
    [33, 17, 300],
    [64, 576, 288], // conv2's per-image product
  ])('m=%i n=%i k=%i, overwrite and accumulate', (m, n, k) => {
    const a = randomValues(61, m * k);
    const b = randomValues(62, k * n);
    const c0 = randomValues(63, m * n);
    const want = new Float64Array(m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) sum += a[i * k + p]! * b[p * n + j]!;
        want[i * n + j] = sum;
      }
    const c = put(kernels, c0);
    wasm.matmul(m, n, k, put(kernels, a), put(kernels, b), c);
    expectClose(c, want, GEMM_TOLERANCE);
    wasm.matmul(m, n, k, put(kernels, a), put(kernels, b), c, true);
    expectClose(c, want.map((v) => 2 * v), GEMM_TOLERANCE);
  });
});

describe.skipIf(native.skip)('native backend boundaries', () => {
  const kernels = nativeStatus.available ? createNativeKernels() : null;

  it('rejects arrays shorter than the call needs, naming the argument, with a code', () => {
    native.check();
    expect(() => kernels!.reluForward(9, kernels!.allocate(9), kernels!.allocate(8))).toThrow(/'output' has 8 elements, needs 9/);
    const g = convGeometry([2, 3, 8, 8], 4, [3, 3], [1, 1], 'valid');
    const short = () => kernels!.conv2dForward(g, kernels!.allocate(2 * 3 * 64), kernels!.allocate(4 * 27), kernels!.allocate(4), kernels!.allocate(10), kernels!.allocate(1000));
    expect(short).toThrow(expect.objectContaining({ code: 'ARRAY_TOO_SHORT', message: "native kernels: 'output' has 10 elements, needs 288" }));
  });

  it('rejects other typed arrays and impossible geometry instead of touching memory', () => {
    native.check();
    expect(() => kernels!.scale(4, new Float64Array(4) as unknown as Float32Array, 2)).toThrow(/'x' must be a Float32Array/);
    const pool = { batch: 1, channels: 1, inHeight: 4, inWidth: 4, outHeight: 3, outWidth: 2, poolHeight: 2, poolWidth: 2, strideY: 2, strideX: 2 };
    expect(() => kernels!.maxPool2dForward(pool, kernels!.allocate(16), kernels!.allocate(6))).toThrow(/windows reach outside the input/);
    const labels = Float32Array.of(10);
    expect(() => kernels!.softmaxCrossEntropy(1, 10, kernels!.allocate(10), labels, kernels!.allocate(10), kernels!.allocate(10), 1, kernels!.allocate(2))).toThrow(/label 10/);
  });

  it('hands out zeroed arrays of the length asked for', () => {
    native.check();
    for (const length of [1, 3, 1000]) {
      const array = kernels!.allocate(length);
      expect(array.length).toBe(length);
      expect(Array.from(array).every((value) => value === 0)).toBe(true);
    }
  });
});

describe('wasm backend boundaries', () => {
  const kernels = createWasmKernels({ variant: 'simd', memoryBytes: 1 << 20 });

  it('rejects arrays that are not in its memory, naming the argument', () => {
    const outside = new Float32Array(8);
    expect(() => kernels.reluForward(8, outside, kernels.allocate(8))).toThrow(/'input' is not in this backend's memory/);
    try {
      kernels.scale(8, outside, 2);
    } catch (error) {
      expect(error).toBeInstanceOf(WasmKernelsError);
      expect((error as WasmKernelsError).code).toBe('FOREIGN_ARRAY');
    }
    expect.assertions(3);
  });

  it('rejects arrays shorter than the call needs', () => {
    expect(() => kernels.reluForward(9, kernels.allocate(9), kernels.allocate(8))).toThrow(/'output' has 8 elements, needs 9/);
  });

  it('fails allocation with a clear message when its fixed memory is used up (it never grows)', () => {
    const buffer = kernels.allocate(4).buffer;
    expect(() => kernels.allocate(1 << 20)).toThrow(/cannot allocate 4194304 bytes/);
    expect(kernels.allocate(4).buffer).toBe(buffer);
  });

  it('hands out 64-byte aligned, zeroed arrays that stay valid', () => {
    const first = kernels.allocate(3);
    first.set([1, 2, 3]);
    const second = kernels.allocate(5);
    expect(second.byteOffset % 64).toBe(0);
    expect(Array.from(second)).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(first)).toEqual([1, 2, 3]);
  });
});

// The float32 reference model is slow (~1 image/s): run it once and compare every fast backend with it.
const modelBatch = 3;
const modelImages = Float32Array.from(randomValues(51, modelBatch * 28 * 28, 0, 1));
const modelLabels = Uint8Array.from([3, 0, 7]);
let referenceModelResult: { loss: number; correct: number; gradient: Float32Array; params: Float32Array; predictions: Float32Array } | null = null;
function referenceModel(): NonNullable<typeof referenceModelResult> {
  if (referenceModelResult === null) {
    const model = createModel(MNIST_CNN, { seed: 7, kernels: createReferenceKernels(), chunkSize: 2 });
    const { loss, correct, gradient } = model.lossAndGradient(modelImages, modelLabels);
    referenceModelResult = { loss, correct, gradient: Float32Array.from(gradient), params: Float32Array.from(model.params), predictions: model.predict(modelImages) };
  }
  return referenceModelResult;
}

describe.each(backends.filter(([name]) => name !== 'ts'))('default model on %s against ts', (_, kernels) => {
  it(`seed 7, batch ${modelBatch} in chunks of 2 and 1: same loss, gradient and predictions (relative 1e-4)`, () => {
    const want = referenceModel();
    const model = createModel(MNIST_CNN, { seed: 7, kernels, chunkSize: 2 });
    expect(model.params).toEqual(want.params); // same initialisation
    const got = model.lossAndGradient(modelImages, modelLabels);
    expect(Math.abs(got.loss - want.loss) / want.loss).toBeLessThan(1e-4);
    expect(got.correct).toBe(want.correct);
    expectClose(got.gradient, want.gradient, GEMM_TOLERANCE);
    expectClose(model.predict(modelImages), want.predictions, GEMM_TOLERANCE);
  });
});

describe('kernel selection', () => {
  it("'auto' and the default pick the best wasm build this engine runs (the .wasm is built before tests)", () => {
    const best = bestWasmVariant();
    expect(best).not.toBeNull();
    for (const kernels of [defaultKernels(), selectKernels('auto'), selectKernels('wasm')]) {
      expect(kernels.name).toBe('wasm');
      expect((kernels as ReturnType<typeof createWasmKernels>).variant).toBe(best);
    }
  });

  it("'ts' is the float32 reference; an unknown name is a one-line error with a code", () => {
    expect(selectKernels('ts').description).toBe('ts (reference, float32)');
    expect(() => selectKernels('gpu' as 'ts')).toThrow("unknown kernels 'gpu': expected 'ts', 'wasm', 'native' or 'auto'");
    expect(() => selectNodeKernels('gpu' as 'ts')).toThrow("unknown kernels 'gpu': expected 'ts', 'wasm', 'native' or 'auto'");
    expect(() => selectKernels('native')).toThrow(/native kernels run only in Node/);
  });

  it.skipIf(native.skip)("in Node, 'native' is the addon and 'auto' prefers it (built at install; required in CI)", () => {
    native.check();
    for (const kernels of [selectNodeKernels('native'), selectNodeKernels('auto')]) {
      expect(kernels.name).toBe('native');
      expect(kernels.description).toMatch(/^native \((AVX-512|AVX2\+FMA|NEON|generic vectors)\)$/);
    }
    expect(selectNodeKernels('wasm').name).toBe('wasm');
    expect(selectNodeKernels('ts').name).toBe('ts');
  });
});

// The float64 reference network is the one model.gradient-check.test.ts verifies by central
// differences; a fast backend's gradient equal to it (float32 tolerance) passes that check
// by transitivity, on layers the default model lacks: 'same' padding, stride 2, pool stride 1.
const CHECKED_SPEC: ModelSpec = {
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
describe.each(backends.filter(([name]) => name !== 'ts'))('model gradient on %s against the gradient-checked float64 reference', (_, kernels) => {
  it('two conv blocks, 5 images: same loss, gradient and input gradient (relative 1e-4)', () => {
    const want = createNetwork(CHECKED_SPEC, { kernels: gold, seed: 11, inputGradient: true });
    const got = createNetwork(CHECKED_SPEC, { kernels, seed: 11, inputGradient: true });
    const params = randomValues(71, want.params.length, -0.5, 0.5);
    want.params.set(params);
    got.params.set(params);
    const images = randomValues(72, 5 * 2 * 9 * 8, 0, 1);
    const labels = Uint8Array.from([0, 3, 1, 2, 3]);
    const wanted = want.lossAndGradient(Float64Array.from(images), labels);
    const result = got.lossAndGradient(Float32Array.from(images), labels);
    expect(Math.abs(result.loss - wanted.loss) / wanted.loss).toBeLessThan(GEMM_TOLERANCE);
    expectClose(result.gradient, wanted.gradient, GEMM_TOLERANCE);
    expectClose(got.inputGradient!, want.inputGradient!, GEMM_TOLERANCE);
  });
});
