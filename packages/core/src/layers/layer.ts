/**
 * What every layer answers (ConvNetJS's four questions, minus JSON, which the spec is):
 * its output shape from its input shape (validated when it is built), its parameter
 * count, forward and backward. Layers call the Kernels; they never loop over pixels.
 *
 * Buffers hold `batch` images back to back (NCHW, or [batch, features] once flat) and are
 * allocated by the model for its chunk size; a layer only owns its scratch (im2col
 * columns, dropout mask) and views of its own parameters and gradients.
 */
import type { FloatArray, Kernels } from '../kernels/kernels.js';
import type { Rng } from '../rng.js';
import { formatShape } from '../shapes.js';
import type { LayerSpec } from '../spec.js';

export type Shape = readonly number[];

/** A model spec that cannot be built; the message names the layer and the shapes. */
export class SpecError extends Error {
  readonly code = 'BAD_SPEC';
  override readonly name = 'SpecError';
}

export interface ForwardContext {
  /** Dropout is active only while training. */
  readonly training: boolean;
  /**
   * One seeded stream per image of the chunk (index 0 = first image of the chunk). Dropout
   * layers draw their masks from them in layer order, so an image's masks depend on its
   * seed alone. Only filled while training a model that has dropout.
   */
  readonly imageRngs: readonly Rng[];
}

export interface Layer<A extends FloatArray = Float32Array> {
  readonly type: LayerSpec['type'];
  /** Shape of one input image, e.g. [1, 28, 28] or [9216]. */
  readonly inputShape: Shape;
  /** Shape of one output image. */
  readonly outputShape: Shape;
  /** Weights then biases; 0 for layers without parameters. */
  readonly paramCount: number;
  /** True when the output is the input itself (Flatten): the model passes one buffer for both. */
  readonly aliasesInput: boolean;

  /**
   * Binds this layer's slices of the model's parameters and gradient (paramCount each) and
   * allocates its scratch for up to `maxBatch` images. Called once, before any forward.
   */
  attach(kernels: Kernels<A>, params: A, gradient: A, maxBatch: number): void;
  /** Writes the initial parameters (Glorot uniform weights, zero biases), drawing from `rng` in order. */
  initialize(rng: Rng): void;
  /** output = f(input) for `batch` images; output is overwritten. */
  forward(batch: number, input: A, output: A, context: ForwardContext): void;
  /**
   * Given dLoss/dOutput, adds dLoss/dParams into the gradient (accumulates across chunks)
   * and overwrites dInput with dLoss/dInput (skipped when dInput is null: the first layer).
   * `input` and `output` are the values of the last forward.
   */
  backward(batch: number, input: A, output: A, dOutput: A, dInput: A | null): void;
}

/** "layer 3 (maxpool2d)": how every message names a layer (1-based, as written in the spec). */
export function layerLabel(index: number, type: string): string {
  return `layer ${index + 1} (${type})`;
}

export function checkPositiveInteger(where: string, option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new SpecError(`${where}: ${option} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A size or a [height, width] pair of positive integers. */
export function checkPair(where: string, option: string, value: unknown): [number, number] {
  if (typeof value === 'number') {
    checkPositiveInteger(where, option, value);
    return [value, value];
  }
  if (Array.isArray(value) && value.length === 2) {
    return [checkPositiveInteger(where, `${option}[0]`, value[0]), checkPositiveInteger(where, `${option}[1]`, value[1])];
  }
  throw new SpecError(`${where}: ${option} must be a positive integer or a [height, width] pair, got ${JSON.stringify(value)}`);
}

export function checkOneOf<T extends string>(where: string, option: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new SpecError(`${where}: ${option} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/** Conv and pooling layers take one image [channels, height, width]. */
export function checkImageInput(where: string, inputShape: Shape): [number, number, number] {
  if (inputShape.length !== 3) {
    throw new SpecError(`${where}: expects an image input [channels,height,width], got ${formatShape(inputShape)} (a flatten layer cannot be undone)`);
  }
  return [inputShape[0]!, inputShape[1]!, inputShape[2]!];
}

/** Glorot & Bengio 2010 uniform: U(-limit, limit) with limit = sqrt(6 / (fanIn + fanOut)), Keras's default. */
export function glorotUniform(rng: Rng, weight: FloatArray, fanIn: number, fanOut: number): void {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  for (let i = 0; i < weight.length; i++) weight[i] = rng.uniform(-limit, limit);
}
