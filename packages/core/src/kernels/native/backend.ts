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

/**
 * A Kernels method's parameters, for the methods whose arguments the addon takes as they are
 * (the interface, kernels.ts, spells them out once; the addon's signatures must match them).
 */
type Arguments<Method extends keyof Kernels<Float32Array>> = Kernels<Float32Array>[Method] extends (...args: infer P) => void ? P : never;

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

  conv2dForward(g: Conv2DGeometry, input: Float32Array, weight: Float32Array, bias: Float32Array, output: Float32Array, scratch: Float32Array, relu = false): void {
    this.addon.conv2dForward(...convArguments(g), input, weight, bias, output, scratch, relu);
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

  denseForward(...args: Arguments<'denseForward'>): void {
    this.addon.denseForward(...args);
  }

  denseBackward(...args: Arguments<'denseBackward'>): void {
    this.addon.denseBackward(...args);
  }

  reluForward(...args: Arguments<'reluForward'>): void {
    this.addon.reluForward(...args);
  }

  reluBackward(...args: Arguments<'reluBackward'>): void {
    this.addon.reluBackward(...args);
  }

  multiply(...args: Arguments<'multiply'>): void {
    this.addon.multiply(...args);
  }

  softmaxCrossEntropy(...args: Arguments<'softmaxCrossEntropy'>): void {
    this.addon.softmaxCrossEntropy(...args);
  }

  scale(...args: Arguments<'scale'>): void {
    this.addon.scale(...args);
  }

  sgdUpdate(length: number, params: Float32Array, grads: Float32Array, velocity: Float32Array, learningRate: number, momentum: number, nesterov: boolean): void {
    this.addon.sgdUpdate(length, params, grads, velocity, learningRate, momentum, nesterov ? 1 : 0);
  }

  adadeltaUpdate(...args: Arguments<'adadeltaUpdate'>): void {
    this.addon.adadeltaUpdate(...args);
  }

  adamUpdate(...args: Arguments<'adamUpdate'>): void {
    this.addon.adamUpdate(...args);
  }
}
