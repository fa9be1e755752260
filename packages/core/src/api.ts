/**
 * The public contracts of the core: what a model, an optimizer and a dataset offer.
 * Coordinator, worker and tests program against these; implementations live beside.
 */
import type { Kernels } from './kernels/kernels.js';
import type { ModelSpec } from './spec.js';

export interface ForwardOptions {
  /** Dropout is active only when true. Default false. */
  readonly training?: boolean;
  /**
   * One dropout seed per image (length N). The mask of image i depends on dropoutSeeds[i]
   * alone, so the same image at the same position of the same global step gets the same
   * mask whichever worker computes it. Default: drawn from the model's own seeded RNG.
   */
  readonly dropoutSeeds?: Uint32Array;
}

export interface LossAndGradient {
  /** Mean cross-entropy over the batch. */
  readonly loss: number;
  /** Images whose argmax equals the label. */
  readonly correct: number;
  /** Mean of the per-image gradients, same layout as params. NOTE: a live view, overwritten by the next call. */
  readonly gradient: Float32Array;
}

export interface GradientSum {
  readonly count: number;
  /** Sum of the per-image losses. */
  readonly lossSum: number;
  readonly correct: number;
  /** Sum of the per-image gradients. NOTE: a live view, overwritten by the next call. */
  readonly gradient: Float32Array;
}

export interface Evaluation {
  readonly count: number;
  readonly lossSum: number;
  readonly correct: number;
}

export interface LayerInfo {
  /** e.g. "conv2d_1", "relu_2", "dense_4". */
  readonly name: string;
  readonly type: string;
  /** Output shape of one image, e.g. [32, 26, 26]. */
  readonly outputShape: readonly number[];
  /** Offset of this layer's parameters in params (weight first, then bias). */
  readonly paramOffset: number;
  readonly paramCount: number;
}

export interface Model {
  readonly spec: ModelSpec;
  readonly kernels: Kernels;
  readonly inputShape: readonly [number, number, number];
  readonly classes: number;
  readonly paramCount: number;
  readonly layers: readonly LayerInfo[];
  /** The live parameters (DESIGN.md layout): writing into it changes the model. */
  readonly params: Float32Array;
  /** Forward and backward over a batch; images N*C*H*W in [0,1]. */
  lossAndGradient(images: Float32Array, labels: Uint8Array, options?: ForwardOptions): LossAndGradient;
  /** Like lossAndGradient but sums instead of averaging (what a worker sends for its slice). */
  gradientSum(images: Float32Array, labels: Uint8Array, options?: ForwardOptions): GradientSum;
  /** N*classes probabilities (a fresh array). */
  predict(images: Float32Array): Float32Array;
  /** Forward only, dropout off. */
  evaluate(images: Float32Array, labels: Uint8Array): Evaluation;
}

export interface CreateModelOptions {
  /** Seed of the Glorot-uniform initialisation (and the default dropout stream). Default 0. */
  readonly seed?: number;
  /** Kernel backend. Default: the fastest available (see kernels/select.ts). */
  readonly kernels?: Kernels;
  /** Images per forward/backward chunk; larger batches are processed in chunks. Default 32. */
  readonly chunkSize?: number;
  /**
   * The array the parameters live in (paramCount floats, initialised by the model). Default:
   * the kernels allocate it. NOTE: the wasm kernels read only arrays they allocated.
   */
  readonly params?: Float32Array;
}
