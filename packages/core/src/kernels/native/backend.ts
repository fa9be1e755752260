/**
 * The native backend of the Kernels interface: a thin binding that hands the addon's C++
 * kernels (packages/core/native/src/, compiled with -O3 -march=native: AVX-512 here,
 * AVX2+FMA or NEON elsewhere from the same source) the typed arrays themselves. The addon
 * works on their memory in place and checks every array's type and length first.
 *
 * Arrays are plain Float32Arrays (any Float32Array works; `allocate` aligns its arrays to a
 * cache line), so nothing is copied per call and there is no fixed-size heap to outgrow.
 */
import type { AvgPool2DGeometry, Conv2DGeometry, Kernels, Pool2DGeometry } from '../kernels.js';
import { nativeKernelsStatus, type NativeAddon } from './addon.js';

/** Floats of slack per allocation: enough to start the array on a 64-byte boundary. */
const ALIGNMENT_FLOATS = 16;

export class NativeKernelsError extends Error {
  constructor(
    readonly code: 'NATIVE_UNAVAILABLE',
    message: string,
  ) {
    super(message);
    this.name = 'NativeKernelsError';
  }
}

/** A native backend; throws NATIVE_UNAVAILABLE (with the reason) when the addon is not built or cannot load. */
export function createNativeKernels(): NativeKernels {
  const status = nativeKernelsStatus();
  if (!status.available) throw new NativeKernelsError('NATIVE_UNAVAILABLE', `the native kernels are unavailable: ${status.reason}`);
  return new NativeKernels(status.addon);
}

function convArguments(g: Conv2DGeometry): number[] {
  return [
    g.batch, g.inChannels, g.inHeight, g.inWidth, g.outChannels, g.outHeight, g.outWidth,
    g.kernelHeight, g.kernelWidth, g.strideY, g.strideX, g.padTop, g.padLeft,
  ];
}

function poolArguments(g: Pool2DGeometry): number[] {
  return [g.batch, g.channels, g.inHeight, g.inWidth, g.outHeight, g.outWidth, g.poolHeight, g.poolWidth, g.strideY, g.strideX];
}

export class NativeKernels implements Kernels<Float32Array> {
  readonly name = 'native' as const;
  readonly description: string;

  constructor(private readonly addon: NativeAddon) {
    this.description = `native (${addon.target()})`;
  }

  allocate(length: number): Float32Array {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`allocate: length must be a non-negative integer, got ${length}`);
    const block = new Float32Array(length + ALIGNMENT_FLOATS);
    const skip = this.addon.misalignment(block);
    return block.subarray(skip, skip + length);
  }

  conv2dScratchLength(g: Conv2DGeometry): number {
    return g.inChannels * g.kernelHeight * g.kernelWidth * g.outHeight * g.outWidth;
  }

  conv2dForward(g: Conv2DGeometry, input: Float32Array, weight: Float32Array, bias: Float32Array, output: Float32Array, scratch: Float32Array): void {
    this.addon.conv2dForward(...convArguments(g), input, weight, bias, output, scratch);
  }

  conv2dBackwardFilter(g: Conv2DGeometry, input: Float32Array, dOutput: Float32Array, dWeight: Float32Array, dBias: Float32Array, scratch: Float32Array): void {
    this.addon.conv2dBackwardFilter(...convArguments(g), input, dOutput, dWeight, dBias, scratch);
  }

  conv2dBackwardInput(g: Conv2DGeometry, weight: Float32Array, dOutput: Float32Array, dInput: Float32Array, scratch: Float32Array): void {
    this.addon.conv2dBackwardInput(...convArguments(g), weight, dOutput, dInput, scratch);
  }

  maxPool2dForward(g: Pool2DGeometry, input: Float32Array, output: Float32Array): void {
    this.addon.maxPool2dForward(...poolArguments(g), input, output);
  }

  maxPool2dBackward(g: Pool2DGeometry, input: Float32Array, output: Float32Array, dOutput: Float32Array, dInput: Float32Array): void {
    this.addon.maxPool2dBackward(...poolArguments(g), input, output, dOutput, dInput);
  }

  avgPool2dForward(g: AvgPool2DGeometry, input: Float32Array, output: Float32Array): void {
    this.addon.avgPool2dForward(...poolArguments(g), g.padTop, g.padLeft, input, output);
  }

  avgPool2dBackward(g: AvgPool2DGeometry, dOutput: Float32Array, dInput: Float32Array): void {
    this.addon.avgPool2dBackward(...poolArguments(g), g.padTop, g.padLeft, dOutput, dInput);
  }

  denseForward(batch: number, inFeatures: number, outFeatures: number, input: Float32Array, weight: Float32Array, bias: Float32Array, output: Float32Array): void {
    this.addon.denseForward(batch, inFeatures, outFeatures, input, weight, bias, output);
  }

  denseBackward(
    batch: number,
    inFeatures: number,
    outFeatures: number,
    input: Float32Array,
    weight: Float32Array,
    dOutput: Float32Array,
    dWeight: Float32Array,
    dBias: Float32Array,
    dInput: Float32Array | null,
  ): void {
    this.addon.denseBackward(batch, inFeatures, outFeatures, input, weight, dOutput, dWeight, dBias, dInput);
  }

  reluForward(length: number, input: Float32Array, output: Float32Array): void {
    this.addon.reluForward(length, input, output);
  }

  reluBackward(length: number, output: Float32Array, dOutput: Float32Array, dInput: Float32Array): void {
    this.addon.reluBackward(length, output, dOutput, dInput);
  }

  multiply(length: number, a: Float32Array, b: Float32Array, output: Float32Array): void {
    this.addon.multiply(length, a, b, output);
  }

  softmaxCrossEntropy(
    batch: number,
    classes: number,
    logits: Float32Array,
    labels: Float32Array,
    probabilities: Float32Array,
    dLogits: Float32Array,
    gradientScale: number,
    result: Float32Array,
  ): void {
    this.addon.softmaxCrossEntropy(batch, classes, logits, labels, probabilities, dLogits, gradientScale, result);
  }

  scale(length: number, x: Float32Array, factor: number): void {
    this.addon.scale(length, x, factor);
  }

  sgdUpdate(length: number, params: Float32Array, grads: Float32Array, velocity: Float32Array, learningRate: number, momentum: number, nesterov: boolean): void {
    this.addon.sgdUpdate(length, params, grads, velocity, learningRate, momentum, nesterov ? 1 : 0);
  }

  adadeltaUpdate(
    length: number,
    params: Float32Array,
    grads: Float32Array,
    accumulatedGrad: Float32Array,
    accumulatedDelta: Float32Array,
    learningRate: number,
    rho: number,
    epsilon: number,
  ): void {
    this.addon.adadeltaUpdate(length, params, grads, accumulatedGrad, accumulatedDelta, learningRate, rho, epsilon);
  }

  adamUpdate(
    length: number,
    params: Float32Array,
    grads: Float32Array,
    m: Float32Array,
    v: Float32Array,
    learningRate: number,
    beta1: number,
    beta2: number,
    epsilon: number,
    step: number,
  ): void {
    this.addon.adamUpdate(length, params, grads, m, v, learningRate, beta1, beta2, epsilon, step);
  }
}
